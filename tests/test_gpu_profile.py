"""The gpu profile: the authors' recipe on offline data (its differences: results/gpu/protocol.md),
and its code path run on the CPU at toy size (the MNIST U-Net with its attention, bf16 autocast,
the palette / channel label)."""

import pytest
import dataclasses
import json

import pandas as pd

from baselines.diffusion_classifier import Schedule
from benchmarks import run
from benchmarks.profiles import CLASSIFICATION, SEGSYNTH, Budget, SegSynthSettings
from benchmarks.tables.classification import Table11
from benchmarks.tables.segsynth import Table2, Table5
from symmflow.data.scenes import SceneConfig
from symmflow.method import AUTHORS
from symmflow.models.guided_unet import AUTHORS_MNIST

GPU_SCENES, (GPU_DIGITS,) = SEGSYNTH["gpu"], CLASSIFICATION["gpu"]


def test_the_gpu_profile_keeps_the_authors_settings():
    assert GPU_DIGITS.symmflow == AUTHORS and GPU_DIGITS.unet == AUTHORS_MNIST  # the authors' U-Net itself
    assert (GPU_DIGITS.budget.batch_size, GPU_DIGITS.budget.lr) == (512, 5e-4)  # notes section 5
    assert GPU_DIGITS.budget.warmup_steps * 10 == GPU_DIGITS.budget.steps  # warm-up a tenth, as 100 of 1,000 epochs
    assert GPU_SCENES.symmflow == SegSynthSettings().symmflow  # the authors' palette code, t ~ U(0, 1), w 0.9
    assert GPU_SCENES.symmflow.label_code == "image" and GPU_SCENES.symmflow.near_one == 0
    assert GPU_DIGITS.mnist_fit == "resize"  # their Resize(32), reference notes section 11
    assert GPU_DIGITS.budget.mixed_precision == "no"  # their MNIST / CIFAR-10 commands carry no bf16 flag
    assert GPU_SCENES.budget.mixed_precision == "bf16"
    for budget in (GPU_DIGITS.budget, GPU_SCENES.budget):  # OneCycleLR with cosine warm-up, EMA copied at step 0
        assert budget.ema_decay == 0.999 and budget.schedule == "onecycle-cosine" and budget.ema_warmup is False


@pytest.mark.slow
def test_the_gpu_profile_runs_its_tables_on_the_cpu_at_toy_size(tmp_path):
    scenes = dataclasses.replace(GPU_SCENES, scenes=SceneConfig(train_scenes=64, test_scenes=8),
                                 budget=dataclasses.replace(GPU_SCENES.budget, steps=2, batch_size=4, warmup_steps=1),
                                 eval_samples=8, eval_batch=8, feature_steps=3)
    digits = dataclasses.replace(GPU_DIGITS, budget=Budget(2, 4, 5e-4, 1, mixed_precision="bf16"), test_limit=8,
                                 dc_images=1, dc_cheap=(Schedule((2,), (1,)),), dc_cheap_images=2, speed_images=1,
                                 generate_per_class=1, generate_steps=2, eval_batch=8, footprint_classes=(10,))
    available = {"2": Table2({"gpu": scenes}), "5": Table5({"gpu": scenes}), "11": Table11({"gpu": (digits,)})}
    out = tmp_path / "results"
    assert run.main(["--table", "2,5,11", "--profile", "gpu", "--steps", "1,2", "--device", "cpu", "--out", str(out),
                     "--no-progress"], available) == 0
    cells = [json.loads(p.read_text()) for p in out.glob("cells/*/*.json")]
    ok, skipped = [c for c in cells if c["status"] == "ok"], [c for c in cells if c["status"] != "ok"]
    assert all(c["profile"] == "gpu" for c in cells)
    assert all("lpips" in c["reason"] for c in skipped)  # only what needs weights absent here is skipped
    assert len(ok) == len(cells) - 4 and len(skipped) == 4  # Table 2's two LPIPS cells of each synthesiser
    
    metrics = set(pd.read_csv(out / "table2.csv")["metric"]) | set(pd.read_csv(out / "table11.csv")["metric"])
    assert {"mIoU", "accuracy"} <= metrics
    for table in ("table2.md", "table5.md", "table11.md"):
        text = (out / table).read_text()
        assert "gpu profile: the authors' recipe" in text and "cpu profile deviations" not in text
