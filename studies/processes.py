"""Two CPU processes (gloo), launched by torchrun as a cluster job would be, against one process.

* training: a small regression network trained data-parallel on 2 processes (8 rows each per
  step, AdamW, one-cycle, EMA) must end with bitwise identical parameters on both ranks, and
  equal (to float rounding: the all-reduce sums in another order) to one process on the same
  16-row global batches -- and to one process accumulating two halves of 8;
* evaluation: mIoU (torchmetrics' sync) and a Frechet distance (gathered features) over 7
  batches, sharded 4 / 3 across the processes, must equal the single-process values.

``study(work)`` runs both and returns what they found (the reliability report and the tests
use it); ``python -m studies.processes <case> <folder>`` is the workers' entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from benchmarks.evaluation import segmentation_score, synthesis_score
from symmflow.data.streams import epoch_batches
from symmflow.distributed import Shard, close, launched
from symmflow.train import TrainConfig, fit

ROOT = Path(__file__).resolve().parent.parent


def launch(case: str, folder: Path, processes: int = 2) -> None:
    """Run worker ``case`` -- a function of this module, or ``module:function`` -- as
    ``case(folder)`` on ``processes`` CPU processes (``torchrun --standalone``)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                           str(processes), "-m", "studies.processes", case, str(folder)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{case} on {processes} processes failed: {done.stderr[-3000:]}")


# ---------------------------------------------------------------- training


def _data():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(96, 4, generator=generator)
    return inputs, inputs @ torch.randn(4, 2, generator=generator) + 0.1 * torch.randn(96, 2, generator=generator)


def _regression(model, batch):
    inputs, targets = batch
    return ((model(inputs) - targets) ** 2).mean()


def network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def train(batch_size: int, shard: Shard, accumulate: int = 1) -> dict:
    """The trained parameters (EMA) of :func:`network` on ``batch_size`` rows per process and batch."""
    config = TrainConfig(steps=6, lr=0.05, batch_size=batch_size, optimizer="adamw", schedule="onecycle",
                         warmup_steps=2, ema_decay=0.9, gradient_accumulation_steps=accumulate, log_every=3)
    batches = epoch_batches(*_data(), batch_size=batch_size, seed=1, shard=shard)
    model = fit(network(), _regression, batches, config, device="cpu", progress=False).model
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_worker(folder: Path) -> None:
    shard = launched()
    torch.save(train(8, shard), folder / f"rank{shard.index}.pt")


# ---------------------------------------------------------------- evaluation


def _eval_batches(shard: Shard):
    generator = torch.Generator().manual_seed(5)
    masks = torch.randint(0, 6, (7, 8, 8), generator=generator)  # 7 batches: the shards are uneven
    for position, mask in shard.take(masks):
        yield position, (torch.zeros(2, 3, 8, 8) + position, mask.repeat(2, 1, 1))


def _segment(images, position):
    noisy = torch.Generator().manual_seed(position)
    return torch.randint(0, 6, images.shape[:1] + images.shape[2:], generator=noisy)


def _synthesise(masks, key):
    return torch.randn(len(masks), 3, generator=torch.Generator().manual_seed(100 * key[0] + key[1])) + masks[:, :1, 0]


def scores(shard: Shard) -> dict:
    """mIoU, FD and sample counts of the stand-in evaluation on this process's shard, reduced."""
    miou = segmentation_score(_segment, _eval_batches(shard), 6, 0, shard)
    reference = torch.zeros(3).numpy(), torch.eye(3).numpy()
    frechet = {"fd": (lambda x: x.float(), reference)}
    fd = synthesis_score(_synthesise, lambda: _eval_batches(shard), frechet, shard=shard)
    cut = synthesis_score(_synthesise, lambda: _eval_batches(shard), frechet, wanted=20, shard=shard)
    return {"miou": miou["value"], "samples": miou["samples"], "fd": fd["frechet"]["fd"], "fd_samples": fd["samples"],
            "cut_samples": cut["samples"]}


def evaluate_worker(folder: Path) -> None:
    shard = launched()
    (folder / f"rank{shard.index}.json").write_text(json.dumps(scores(shard)))


# ---------------------------------------------------------------- the study


def study(work: Path) -> dict:
    """Both checks on 2 processes against 1; what each found."""
    (work / "train").mkdir(parents=True, exist_ok=True)
    (work / "evaluate").mkdir(parents=True, exist_ok=True)
    launch("train_worker", work / "train")
    ranks = [torch.load(work / "train" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    one, accumulated, fresh = train(16, Shard()), train(8, Shard(), accumulate=2), network().state_dict()
    launch("evaluate_worker", work / "evaluate")
    sharded = [json.loads((work / "evaluate" / f"rank{r}.json").read_text()) for r in (0, 1)]

    def largest(a: dict, b: dict) -> float:
        return max(float((a[k] - b[k]).abs().max()) for k in a)

    return {"training": {"ranks_bitwise_equal": all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0]),
                         "max_diff_to_one_process": largest(ranks[0], one),
                         "max_diff_accumulated_to_one_process": largest(accumulated, one),
                         "moved_by_training": largest(one, fresh)},
            "evaluation": {"single": scores(Shard()), "sharded": sharded}}


if __name__ == "__main__":  # a worker of :func:`launch`
    import importlib

    module, _, function = sys.argv[1].rpartition(":")
    worker = getattr(importlib.import_module(module), function) if module else globals()[function]
    worker(Path(sys.argv[2]))
    close(launched())
