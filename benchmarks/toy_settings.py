"""Table 1's settings per profile: the reference notebook's toy spiral (notes section 4).

Apart from the other tables' settings (:mod:`benchmarks.profiles`, which names them too), so
that a run of Table 1 imports none of the networks and data sets of the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from symmflow.method import SymmFlowSettings
from symmflow.train import TrainConfig


@dataclass(frozen=True)
class ToySettings:
    """The reference notebook's toy (notes section 4): Adam, no schedule, no EMA, no sigma_min."""

    points_per_spiral: int = 50_000
    noise: float = 0.1
    train_steps: int = 6_000
    batch_size: int = 10_000
    lr: float = 1e-2
    symmflow: SymmFlowSettings = SymmFlowSettings(sigma_min=0.0)
    eval_points: int = 10_000
    mixed_precision: str = "no"
    """fp32 (``no``, the notebook's) or ``bf16`` autocast (``--precision``, :mod:`benchmarks.precision`)."""

    LATER_FIELDS: ClassVar[dict] = {"mixed_precision": "no"}
    """Options added after cells were stored, at the values that reproduce them."""

    def config(self) -> TrainConfig:
        return TrainConfig(steps=self.train_steps, lr=self.lr, batch_size=self.batch_size, optimizer="adam",
                           log_every=200, mixed_precision=self.mixed_precision)


TOY = {"smoke": ToySettings(train_steps=1_200, batch_size=2_000, eval_points=4_000),
       "cpu": ToySettings(), "gpu": ToySettings(), "paper": ToySettings()}
