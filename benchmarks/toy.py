"""Table 1: toy-spiral classification accuracy against the number of Euler steps.

The cpu and paper profiles are the reference notebook's own setting (notes section 4):
100,000 spiral points, the 11-wide residual MLP, Adam at 1e-2 for 6,000 steps of 10,000
fresh points, loss 0.9 MSE_x + 0.1 MSE_y, no sigma_min; evaluation on 10,000 fresh points
from y ~ N(0, 1), integrated from t = 1 to t = 0, decided by the sign of y.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from benchmarks.cells import Cell, CellSink, PlotSpec, RunOptions, digest
from symmflow.checkpoint import load_weights, save_weights, saved_settings
from symmflow.codecs import ToyScalarCodec
from symmflow.data.spiral import TwoSpirals
from symmflow.models.mlp import ToyMLP
from symmflow.path import SymmetricPath
from symmflow.solver import NFECounter
from symmflow.tasks import predict
from symmflow.train import TrainConfig, fit

STEPS = (1, 2, 5, 10, 20, 50)


@dataclass(frozen=True)
class ToySettings:
    points_per_spiral: int = 50_000
    noise: float = 0.1
    train_steps: int = 6_000
    batch_size: int = 10_000
    lr: float = 1e-2
    image_weight: float = 0.9
    sigma_min: float = 0.0
    eval_points: int = 10_000


PROFILES = {
    "smoke": ToySettings(train_steps=1_200, batch_size=2_000, lr=1e-2, eval_points=4_000),
    "cpu": ToySettings(),
    "paper": ToySettings(),
}


def train_toy(settings: ToySettings, seed: int, device: str = "cpu", progress: bool = True):
    """Train the toy MLP; returns the model (in eval mode) and the training wall seconds."""
    torch.manual_seed(seed)
    data, codec = TwoSpirals(settings.points_per_spiral, settings.noise), ToyScalarCodec()
    path = SymmetricPath(sigma_min=settings.sigma_min, image_weight=settings.image_weight)
    generator = torch.Generator().manual_seed(seed)

    def batches():
        while True:
            points, labels = data.sample(settings.batch_size, generator)
            yield points.to(device), codec.encode(labels, generator).to(device)

    def loss(model, batch):
        return path.loss(model, *batch).total

    config = TrainConfig(steps=settings.train_steps, lr=settings.lr, batch_size=settings.batch_size,
                         optimizer="adam", log_every=200)
    start = time.perf_counter()
    result = fit(ToyMLP(), loss, batches(), config, device=device, desc="toy: train", progress=progress)
    return result.model, time.perf_counter() - start


@torch.no_grad()
def toy_accuracy(model, settings: ToySettings, steps: int, seed: int, solver: str = "euler",
                 device: str = "cpu") -> dict:
    """Accuracy on ``eval_points`` fresh points (the same points for every step count)."""
    generator = torch.Generator().manual_seed(seed + 1_000_003)
    points, labels = TwoSpirals(settings.points_per_spiral, settings.noise).sample(settings.eval_points, generator)
    counter = NFECounter(model)
    start = time.perf_counter()
    predicted = predict(counter, points.to(device), ToyScalarCodec(), (1,), steps=steps,
                        method=solver, generator=generator)
    wall = time.perf_counter() - start
    return {"value": 100.0 * (predicted.cpu() == labels).float().mean().item(),
            "nfe_per_sample": counter.evaluations / len(points), "wall_s": wall,
            "samples": len(points)}


class ToyTable:
    name, title = "1", "Toy-spiral classification accuracy (%) against the number of steps"
    plot = PlotSpec(metrics=("accuracy",))

    def cells(self, options: RunOptions) -> list[Cell]:
        settings = asdict(PROFILES[options.profile])
        return [Cell.make("1", "two-spirals", "classification", "SymmFlow", steps, "accuracy",
                          profile=options.profile, seed=options.seed, solver=options.solver, toy=settings)
                for steps in options.steps or STEPS]

    def needs(self, options: RunOptions) -> list[str]:
        return []

    def compute(self, todo: list[Cell], options: RunOptions, finish: CellSink) -> None:
        settings = PROFILES[options.profile]
        model, train_s = self._model(settings, options)
        for cell in tqdm(todo, desc="toy: evaluate", disable=not options.progress):
            result = toy_accuracy(model, settings, cell.steps, options.seed, options.solver, options.device)
            finish(cell, {**result, "train_s": train_s})

    def _model(self, settings: ToySettings, options: RunOptions):
        """Reuse a trained toy whose settings match, else train one and keep it."""
        identity = {"model": "toy-mlp", "settings": asdict(settings), "seed": options.seed}
        folder = Path(options.out) / "checkpoints" / f"toy-{digest(identity)}"
        stored = saved_settings(folder)
        if stored is not None and stored["identity"] == identity:
            return load_weights(ToyMLP(), folder).to(options.device).eval(), stored["train_s"]
        model, train_s = train_toy(settings, options.seed, options.device, options.progress)
        save_weights(model, folder, {"identity": identity, "train_s": train_s})
        return model, train_s


TABLE = ToyTable()
