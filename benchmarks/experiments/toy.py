"""The experiment behind Table 1: the reference notebook's toy, trained once, scored per step count.

Notes section 4: 100,000 spiral points, the 11-wide residual MLP, Adam at 1e-2 for 6,000
steps of 10,000 fresh points, loss 0.9 MSE_x + 0.1 MSE_y, no sigma_min; evaluation on
10,000 fresh points from y ~ N(0, 1), integrated from t = 1 to t = 0, decided by the sign of y.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from benchmarks.cost import Ledger
from benchmarks.toy_settings import ToySettings
from benchmarks.trained import Trained, trained_model
from symmflow.batching import BatchPlan
from symmflow.codecs import ToyScalarCodec
from symmflow.data.streams import micro_batches
from symmflow.data.spiral import TwoSpirals
from symmflow.distributed import Shard
from symmflow.method import SymmFlow
from symmflow.models.mlp import ToyMLP
from symmflow.solver import NFECounter
from symmflow.tasks import predict


def train_toy(settings: ToySettings, seed: int, out: Path, device: str = "cpu", progress: bool = True,
              shard: Shard = Shard(), report_to: str | None = None, ledger: Ledger | None = None,
              checkpoint_every: int | None = None, plan: BatchPlan | None = None) -> Trained:
    """The trained toy MLP of ``settings`` and ``seed``, from the model cache (each process of a
    run trains on its ``shard`` of every global batch of fresh points, split as ``plan`` says,
    :mod:`symmflow.batching`; a dry run's ``ledger``: a timed stand-in, :mod:`benchmarks.cost`).
    The MLP's BatchNorm normalises over each process's micro-batch, so only one process of no
    accumulation normalises over the notebook's whole batch."""
    plan = BatchPlan(settings.batch_size, shard.count) if plan is None else plan
    data, codec, method = TwoSpirals(settings.points_per_spiral, settings.noise), ToyScalarCodec(), \
        SymmFlow(settings.symmflow)

    def batches():
        generator = torch.Generator().manual_seed(seed)
        while True:
            points, labels = data.sample(plan.global_batch, generator)
            codes = codec.encode(labels, generator)
            for mine in micro_batches(plan.per_device, shard, plan.accumulation):
                yield points[mine].to(device), codes[mine].to(device)

    def loss(model, batch):
        return method.loss(model, *batch)

    identity = {"data": {"points_per_spiral": settings.points_per_spiral, "noise": settings.noise},
                "settings": settings.symmflow}
    return trained_model("toy-mlp", identity, ToyMLP, loss, batches, settings.config(), out, seed=seed,
                         device=device, progress=progress, desc="toy: train", shard=shard, report_to=report_to,
                         ledger=ledger, checkpoint_every=checkpoint_every, plan=plan)


@torch.no_grad()
def toy_accuracy(model, settings: ToySettings, steps: int, seed: int, solver: str = "euler",
                 device: str = "cpu") -> dict:
    """Accuracy on ``eval_points`` fresh points (the same points for every step count)."""
    generator = torch.Generator().manual_seed(seed + 1_000_003)
    points, labels = TwoSpirals(settings.points_per_spiral, settings.noise).sample(settings.eval_points, generator)
    counter = NFECounter(model)
    start = time.perf_counter()
    predicted = predict(counter, points.to(device), ToyScalarCodec(), (1,), steps=steps,
                        solver=solver, generator=generator)
    wall = time.perf_counter() - start
    return {"value": 100.0 * (predicted.cpu() == labels).float().mean().item(),
            "nfe_per_sample": counter.evaluations / len(points), "wall_s": wall,
            "samples": len(points)}
