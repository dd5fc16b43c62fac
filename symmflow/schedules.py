"""How a training moves: the learning rate per optimiser step and the average of the weights kept
beside them (notes sections 1 and 11), for :func:`symmflow.train.fit` and its ``TrainConfig``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from symmflow.train import TrainConfig


def lr_schedule(optimizer, config: TrainConfig):
    """The learning-rate schedule of ``config`` (:func:`lr_factor`), stepped once per optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config))


def _cosine(start: float, end: float, progress: float) -> float:
    return end + (start - end) / 2 * (math.cos(math.pi * min(1.0, max(0.0, progress))) + 1)


def one_cycle_cosine(step: int, config: TrainConfig) -> float:
    """The authors' schedule, torch's ``OneCycleLR(max_lr=lr, total_steps=steps, pct_start=warmup / steps,
    anneal_strategy='cos', div_factor=lr / min_lr, final_div_factor=1)``, as a multiplier of ``lr``:
    a cosine ramp from ``min_lr`` reaching ``lr`` at step ``warmup - 1``, then a cosine down to
    ``min_lr`` at the last step (reference notes section 11).  Equal to torch's where torch's is
    defined; a warm-up of 0 or 1 step starts at ``lr`` (torch divides by zero there)."""
    floor = config.min_lr / config.lr
    peak, last = config.warmup_steps - 1, config.steps - 1
    if step <= peak:
        return _cosine(floor, 1.0, step / peak) if peak > 0 else 1.0
    return _cosine(1.0, floor, (step - max(peak, 0)) / (last - max(peak, 0)) if last > max(peak, 0) else 1.0)


def weights_average(parameters, config: TrainConfig):
    """The EMA of ``config`` over ``parameters`` (diffusers' ``EMAModel``), stepped once per optimiser
    step.  ``ema_warmup=False`` is the authors' rule through the same class: the copy at construction
    is their step-0 copy, and with the decay as its floor from the first update on, every step
    decays by exactly ``ema_decay`` (reference notes section 11)."""
    from diffusers.training_utils import EMAModel

    constant = {} if config.ema_warmup else {"min_decay": config.ema_decay, "update_after_step": -1}
    return EMAModel(parameters, decay=config.ema_decay, foreach=True, **constant)


def lr_factor(step: int, config: TrainConfig) -> float:
    """Multiplier of ``config.lr`` at ``step``: constant, or linear warm-up then cosine (``onecycle``)."""
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "onecycle-cosine":
        return one_cycle_cosine(step, config)
    floor = config.min_lr / config.lr
    if step < config.warmup_steps:
        return floor + (1 - floor) * step / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
