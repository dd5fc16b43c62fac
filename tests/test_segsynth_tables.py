"""Tables 2, 4 and 5 through the harness, on tiny settings: cells, skips, NFE, grids, reruns."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch


from benchmarks import run
from benchmarks.methods import METHODS, Method
from benchmarks.profiles import SEGSYNTH, Budget
from benchmarks.tables.segsynth import Table2, Table4, Table5
from symmflow.data.scenes import SceneConfig

CPU = SEGSYNTH["cpu"]
TINY = dataclasses.replace(SEGSYNTH["smoke"], scenes=SceneConfig(train_scenes=64, test_scenes=8),
                           budget=Budget(4, 8, 2e-3, 1, ema_decay=0.995), eval_samples=8, eval_batch=8,
                           feature_steps=4)


def tables_with(profile: str, settings) -> dict:
    """The registry of Tables 2, 4 and 5 built on ``settings`` for ``profile``."""
    table = {**SEGSYNTH, profile: settings}
    return {"2": Table2(table), "4": Table4(table), "5": Table5(table)}


def test_smoke_profile_trains_symmflow_as_the_cpu_profile_does(tmp_path):
    from benchmarks.cells import RunOptions
    from benchmarks.experiments.segsynth import SegSynthExperiment
    from symmflow.data.scenes import NUM_CLASSES

    exp = SegSynthExperiment("scenes", TINY, RunOptions(profile="smoke", out=tmp_path))
    model = exp.method("symmflow").build()
    assert model.unet.config.in_channels == 3 + NUM_CLASSES == model.unet.config.out_channels
    assert model.label_form == "residual" and exp.method("symmflow").label_shape == (NUM_CLASSES, 32, 32)
    assert SEGSYNTH["smoke"].symmflow == CPU.symmflow and SEGSYNTH["smoke"].budget.lr == CPU.budget.lr


def test_a_network_depends_only_on_its_own_settings(tmp_path):
    """Changing SymmFlow's settings or the evaluation batch retrains nothing else."""
    from benchmarks.cells import RunOptions
    from benchmarks.experiments.segsynth import SegSynthExperiment

    options = RunOptions(profile="smoke", out=tmp_path, progress=False)
    first = SegSynthExperiment("scenes", TINY, options)
    first.trained("ss")
    other = dataclasses.replace(TINY, symmflow=dataclasses.replace(TINY.symmflow, near_one=0.3), eval_batch=4)
    again = SegSynthExperiment("scenes", other, options)
    assert again.trained("ss").train_s == first.trained("ss").train_s  # loaded, not retrained
    assert len(list((tmp_path / "checkpoints").glob("ss-*/model.safetensors"))) == 1


def _cells(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("cells/table*/*.json"))]


def test_scene_tables_end_to_end(tmp_path, capsys):
    tables = tables_with("smoke", TINY)
    argv = ["--table", "2,4,5", "--profile", "smoke", "--steps", "1,2", "--out", str(tmp_path),
            "--device", "cpu", "--no-progress"]
    assert run.main(argv, tables) == 0
    cells = _cells(tmp_path)
    # table 2: SS, SymmFlow @ 1, 2 methods x (mIoU + 5 synthesis measures), real images x 3 (FD, FJD, judge);
    # table 4: 2 methods x 2 step counts x 5 synthesis measures; table 5: 2 step counts
    assert len(cells) == 17 + 20 + 2
    ok = [c for c in cells if c["status"] == "ok"]
    skipped = [c for c in cells if c["status"] == "skipped"]
    assert all("lpips" in c["reason"] for c in skipped) and len(skipped) == 4 + 8
    generated = [c for c in ok if "wall_s" in c and c.get("nfe_per_sample") is not None]
    assert all(c["nfe_per_sample"] > 0 and c["samples_per_s"] > 0 for c in generated)
    table2 = pd.read_csv(tmp_path / "table2.csv")
    judged = table2[table2["metric"] == "mIoU of samples (SS U-Net)"].set_index("method")["value"]
    assert set(judged.index) == {"SymmFlow", "SemFlow", "Real images"} and judged.between(0, 100).all()
    # the real images under the judge are the SS U-Net's own segmentation of the held-out scenes
    ss = table2[(table2["method"] == "SS") & (table2["metric"] == "mIoU")]["value"].item()
    assert judged["Real images"] == pytest.approx(ss)
    fd = table2[table2["metric"].str.startswith("FD-")].set_index("method")["value"]
    assert 0 <= fd["Real images"] < fd["SymmFlow"]  # the real images are the floor
    fjd = table2[table2["metric"] == "FJD (SS U-Net features)"].set_index("method")["value"]
    assert set(fjd.index) == {"SymmFlow", "SemFlow", "Real images"} and (fjd >= 0).all()
    for name in ("table2", "table4", "table5"):
        assert (tmp_path / f"{name}.csv").is_file() and (tmp_path / "samples" / f"{name}-scenes.png").is_file()
    table5 = (tmp_path / "table5.csv").read_text()
    assert "FD-" not in table5 and "mIoU" in table5
    nfe = {c["nfe_per_sample"] for c in generated}
    assert nfe <= {1.0, 2.0, 25.0}
    capsys.readouterr()
    assert run.main(argv, tables) == 0  # a rerun computes nothing
    assert "0 to compute" in capsys.readouterr().err
    record = (tmp_path / "runs" / "tables-2-4-5-seeds-0.md").read_text()  # both runs, the first kept
    assert record.count("- command:") == 2 and record.count("# Run of") == 1


def test_paper_dry_run_lists_what_is_missing(tmp_path, capsys):
    """Nothing present: each missing input on one line with its remedy, no estimate, exit 2."""
    assert run.main(["--table", "2,4,5", "--profile", "paper", "--dry-run", "--data-root", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    out, err = captured.out, captured.err.strip().splitlines()
    assert ("CelebAMask-HQ SymmFlow FID (clean-fid) @ 25 steps" in out
            and "COCO-Stuff SymmFlow (1 step) mIoU @ 1 steps" in out)
    assert "CelebAMask-HQ SymmFlow FID (pytorch-fid) @ 25 steps" in out  # the authors' FID, named apart
    assert "None" not in out + captured.err and "network evaluations" not in out and "about" not in out
    assert "not estimated: a required input is missing" in out
    missing = [line for line in err if line.startswith("missing (table ")]
    assert any("--pretrained" in line and "pass --pretrained DIR" in line for line in missing)
    assert any(line.startswith("missing (table 2, 4, 5): CelebAMask-HQ:") for line in missing)
    if not torch.cuda.is_available():
        assert any("no CUDA device" in line for line in missing)
    assert err[-1].startswith("error:") and len(missing) == len(err) - 1


def test_dry_run_names_a_data_set_found_or_missing_never_both(tmp_path, capsys):
    """CelebAMask-HQ without its standard split files is missing, with the reason."""
    from tests.test_datasets import celeba_fixture

    celeba_fixture(tmp_path / "data", split_files=False)
    assert run.main(["--table", "5", "--profile", "paper", "--dry-run", "--data-root", str(tmp_path / "data"),
                     "--device", "cpu"]) == 2
    text = capsys.readouterr()
    lines = [line for line in (text.out + text.err).splitlines() if "CelebAMask-HQ" in line and "needs" in line
             or line.startswith("missing") and "CelebAMask-HQ" in line]
    assert lines and all("found" not in line for line in lines)
    assert any("no standard split" in line for line in lines)


def test_paper_compute_without_weights_is_one_line(tmp_path, capsys):
    assert run.main(["--table", "5", "--profile", "paper", "--out", str(tmp_path), "--device", "cpu",
                     "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "--pretrained" in err[-1]


@pytest.mark.parametrize("train_steps", [None, 2])
def test_tiny_latent_paper_run(tmp_path, train_steps, capsys):
    """The paper profile's latent path on a tiny SD folder and a tiny CelebAMask-HQ layout: its
    epochs decide the training steps (one training image, batch 1: one step) unless ``--train-steps`` does."""
    from tests.test_datasets import celeba_fixture
    from tests.test_latent import tiny_sd_folder

    celeba_fixture(tmp_path / "data", ids=(0, 1, 2001), size=16)
    sd = tiny_sd_folder(tmp_path / "sd")
    paper = SEGSYNTH["paper"]
    paper = dataclasses.replace(paper, datasets=("CelebAMask-HQ",), resolution=16, eval_batch=2,
                                budget=dataclasses.replace(paper.budget, batch_size=1),
                                latent={**paper.latent, "epochs": 1, "warmup_epochs": 0,
                                        "gpus": {"CelebAMask-HQ": 1}, "fid_samples": 0})
    args = ["--table", "5", "--profile", "paper", "--steps", "1", "--out", str(tmp_path / "out"), "--device", "cpu",
            "--no-progress", "--data-root", str(tmp_path / "data"), "--pretrained", str(sd)] + \
        (["--train-steps", str(train_steps)] if train_steps else [])
    if train_steps is None:  # what it will cost first: GPU-hours at the authors' GPU count, nothing written
        assert run.main(args + ["--dry-run"], tables_with("paper", paper)) == 0
        dry = capsys.readouterr().out
        assert re.search(r"trains symmflow-\w+: 1 steps of about", dry), dry
        assert re.search(r"CelebAMask-HQ on 1 GPUs: about [\d.]+ [sh] wall, [\d.]+ GPU-hours", dry), dry
        assert not (tmp_path / "out").exists()
    assert run.main(args, tables_with("paper", paper)) == 0
    (cell,) = _cells(tmp_path / "out")
    assert cell["status"] == "ok" and cell["nfe_per_sample"] == 1.0 and 0 <= cell["value"] <= 100
    (model,) = (tmp_path / "out" / "checkpoints").glob("symmflow-*/settings.json")
    assert json.loads(model.read_text())["stats"][-1]["step"] == (train_steps or 1)
    notes = (tmp_path / "out" / "table5.md").read_text()
    assert ("--train-steps" in notes) == (train_steps is not None)


@pytest.mark.slow
def test_train_steps_trains_every_network_that_long_and_stores_apart(tmp_path):
    """``--train-steps`` on the smoke profile: every network of Table 5 trains 3 steps, its cells
    are not the profile's own (a run without it computes its own), and the notes say so."""
    registry = tables_with("smoke", TINY)
    common = ["--table", "5", "--profile", "smoke", "--steps", "1", "--out", str(tmp_path), "--device", "cpu",
              "--no-progress"]
    assert run.main(common + ["--train-steps", "3"], registry) == 0
    models = sorted((tmp_path / "checkpoints").glob("*/settings.json"))
    assert models and all(json.loads(m.read_text())["stats"][-1]["step"] == 3 for m in models)
    assert "every network trained for 3 steps (--train-steps)" in (tmp_path / "table5.md").read_text()
    shortened = len(_cells(tmp_path))
    assert run.main(common, registry) == 0
    assert len(_cells(tmp_path)) == 2 * shortened
    assert "--train-steps" not in (tmp_path / "table5.md").read_text()


def test_train_steps_must_be_positive(tmp_path, capsys):
    assert run.main(["--table", "5", "--profile", "smoke", "--train-steps", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--train-steps 0" in err[0] and not any(tmp_path.iterdir())


def test_segmentation_design_rejects_an_unknown_design(tmp_path, capsys):
    from studies import segmentation_design

    assert segmentation_design.main(["--out", str(tmp_path), "--only", "no such design"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown design" in err[0] and not any(tmp_path.iterdir())


def test_segmentation_design_rows_compare_with_peers_of_their_own_budget():
    from studies.segmentation_design import segmentation_design_markdown

    base = {"miou_25": 20.0, "fd_25": 0.1, "train_s": 1.0, "provenance": {"git_commit": "abc", "device": "cpu"}}
    peers = {"ss_miou": 70.0, "semflow_fd_25": 0.07, "source": "a record"}
    text = segmentation_design_markdown([
        {**base, "design": "same budget", "changes": {"near_one": 0.5}, "miou_1": 35.0},
        {**base, "design": "own budget", "changes": {"lr": 2e-3}, "miou_1": 60.0, "ss_miou": 80.0,
         "semflow_fd_25": 0.05},
        {**base, "design": "own budget, SemFlow not run", "changes": {"train_steps": 10}, "miou_1": 60.0,
         "ss_miou": 75.0},
    ], peers)
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in text.splitlines() if line.startswith("| ")}
    # columns: design, mIoU 1, SS, / SS, mIoU 25, FD, SemFlow's FD, ...
    assert rows["same budget"][3] == "0.50" and rows["same budget"][6] == "0.070" and "(70.0 mIoU" in text
    assert rows["own budget"][2] == "80.0" and rows["own budget"][3] == "0.75" and rows["own budget"][6] == "0.050"
    assert rows["own budget, SemFlow not run"][3] == "0.80"
    assert rows["own budget, SemFlow not run"][6] == "not measured"


def test_segmentation_design_files_keep_a_gpu_rerun_beside_the_cpu_row():
    from studies.segmentation_design import record_name

    assert record_name("a design", "cpu") != record_name("a design", "cuda:1")
    assert record_name("a design", "cuda:1") == record_name("a design", "cuda")


class PixelVote(Method):
    """A stand-in segmentation baseline, a 1 x 1 convolution trained with cross-entropy: adding it
    to Table 2 takes this one class and one registry entry, nothing else."""

    key, label, spaces = "pixel-vote", "Pixel vote (1x1 conv)", ("pixel",)

    def build(self):
        return torch.nn.Conv2d(self.problem.channels, self.problem.num_classes, 1)

    def loss(self, model, batch):
        images, masks = batch
        return torch.nn.functional.cross_entropy(model(images), masks)

    def segment(self, model, images, steps, solver, generator):
        return model(images).argmax(1)


@pytest.mark.slow
def test_a_new_segmentation_baseline_is_one_class_and_one_registry_entry(tmp_path):
    table = Table2({"smoke": TINY}, methods={**METHODS, PixelVote.key: PixelVote})
    argv = ["--table", "2", "--profile", "smoke", "--out", str(tmp_path), "--device", "cpu", "--no-progress"]
    assert run.main(argv, {"2": table}) == 0
    frame = pd.read_csv(tmp_path / "table2.csv")
    vote = frame[frame["method"] == "Pixel vote (1x1 conv)"]
    assert len(vote) == 1 and vote["status"].iloc[0] == "ok" and vote["nfe_per_sample"].iloc[0] == 1.0
    assert list((tmp_path / "checkpoints").glob("pixel-vote-*/model.safetensors"))


def test_every_seed_measures_synthesis_in_one_feature_network(tmp_path):
    """The scene-set feature network is the metric: the seeds of a run train their own SymmFlow
    but share one feature network, so their Frechet distances are in one space."""
    assert run.main(["--table", "2", "--profile", "smoke", "--seeds", "0,1", "--out", str(tmp_path), "--device", "cpu",
                     "--no-progress"], tables_with("smoke", TINY)) == 0
    folders = [p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir() and not p.name.endswith(".run")]
    assert len([f for f in folders if f.startswith("scene-features-")]) == 1
    assert len([f for f in folders if f.startswith("symmflow-")]) == 2
    assert len(list((tmp_path / "fd_stats").glob("*.npz"))) == 1


def test_a_coco_mask_id_past_the_raw_ids_is_one_line_naming_its_file(tmp_path, capsys):
    """A COCO-Stuff mask holding an id outside 0-181 (other than 255): one ``error:`` line naming the
    file and the id, exit 2, however deep in a data loader's worker it was read."""
    from studies.standins import _png, write_cocostuff
    from tests.test_latent import tiny_sd_folder

    base = write_cocostuff(tmp_path / "data", count=10, size=16)
    bad = sorted((base / "stuffthingmaps_trainval2017" / "train2017").glob("*.png"))[0]
    _png(bad, np.full((16, 16), 190, np.uint8))
    paper = dataclasses.replace(SEGSYNTH["paper"], datasets=("COCO-Stuff",), resolution=16, eval_batch=2,
                                budget=dataclasses.replace(SEGSYNTH["paper"].budget, batch_size=3),
                                latent={**SEGSYNTH["paper"].latent, "epochs": 1, "warmup_epochs": 0,
                                        "gpus": {"COCO-Stuff": 1}, "fid_samples": 0})
    args = ["--table", "5", "--profile", "paper", "--steps", "1", "--out", str(tmp_path / "out"), "--device", "cpu",
            "--no-progress", "--data-root", str(tmp_path / "data"),
            "--pretrained", str(tiny_sd_folder(tmp_path / "sd"))]
    assert run.main(args, tables_with("paper", paper)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and f"{bad.name}: mask id 190 is outside" in err[-1], err[-1]
    assert len([line for line in err if line.startswith("error:")]) == 1 and "Traceback" not in "\n".join(err)


def test_two_vaes_of_one_config_and_size_but_other_weights_are_two_networks_and_two_cells(tmp_path):
    """A supplied folder enters the identities by its content: the fine-tuned MSE and EMA VAEs have
    the same config and file sizes, and must not share a model-cache entry or a stored cell."""
    import shutil

    from safetensors.torch import load_file, save_file

    from tests.test_datasets import celeba_fixture
    from tests.test_latent import tiny_sd_folder
    from symmflow.digests import folder_digest

    celeba_fixture(tmp_path / "data", ids=(0, 1, 2001), size=16)
    sd = tiny_sd_folder(tmp_path / "sd")
    vaes = [tmp_path / "vae-a", tmp_path / "vae-b"]
    for k, vae in enumerate(vaes):
        shutil.copytree(sd / "vae", vae)
        weights = vae / "diffusion_pytorch_model.safetensors"
        state = load_file(str(weights))
        save_file({name: t + 0.01 * k for name, t in state.items()}, str(weights))
    sizes = [(v / "diffusion_pytorch_model.safetensors").stat().st_size for v in vaes]
    assert sizes[0] == sizes[1] and folder_digest(vaes[0]) != folder_digest(vaes[1])
    paper = SEGSYNTH["paper"]
    paper = dataclasses.replace(paper, datasets=("CelebAMask-HQ",), resolution=16, eval_batch=2,
                                budget=dataclasses.replace(paper.budget, batch_size=1),
                                latent={**paper.latent, "epochs": 1, "warmup_epochs": 0,
                                        "gpus": {"CelebAMask-HQ": 1}, "fid_samples": 0})
    out = tmp_path / "out"
    for vae in vaes:
        assert run.main(["--table", "5", "--profile", "paper", "--steps", "1", "--out", str(out), "--device", "cpu",
                         "--no-progress", "--data-root", str(tmp_path / "data"), "--pretrained", str(sd),
                         "--vae", str(vae)], tables_with("paper", paper)) == 0
    assert len(list((out / "checkpoints").glob("symmflow-*/settings.json"))) == 2
    assert len(_cells(out)) == 2  # one stored cell per key: the second VAE's was computed, not reused
