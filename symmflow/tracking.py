"""Training logs where users look (``--report-to``): accelerate's experiment trackers --
TensorBoard (offline) or Weights & Biases (in offline mode unless ``WANDB_MODE`` says otherwise)
-- fed eq. 3's two terms, the total loss, the learning rate and, every ``samples_every`` steps,
a grid of samples drawn from the network being trained (its EMA weights where it keeps them), as
the authors' own training logs them."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from symmflow.errors import UsageError

TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb"}
"""``--report-to`` choice -> the package it needs."""


@dataclass(frozen=True)
class Tracking:
    report_to: str
    logging_dir: Path
    samples: Callable[[nn.Module], Tensor] | None = None
    """Draws images in [-1, 1], (N, C, H, W), from the network being trained."""
    samples_every: int = 500


def check_tracker(report_to: str) -> None:
    """One line before any training where ``report_to`` is unknown or its package is missing."""
    if report_to not in TRACKERS:
        raise UsageError(f"--report-to {report_to!r}: choose one of {', '.join(TRACKERS)}")
    package = TRACKERS[report_to]
    if importlib.util.find_spec(package) is None:
        raise UsageError(f"--report-to {report_to}: the {package} package is not installed; pip install {package} "
                         "or leave --report-to out")


def start(accelerator, tracking: Tracking, run_name: str, config: dict) -> None:
    """Open the tracker with the training's settings (the scalar ones: what a tracker can show)."""
    scalars = {k: v for k, v in config.items() if isinstance(v, (bool, int, float, str))}
    init = {"wandb": {"mode": os.environ.get("WANDB_MODE", "offline"), "dir": str(tracking.logging_dir)}}
    accelerator.init_trackers(run_name, config=scalars, init_kwargs=init)


def log_samples(accelerator, tracking: Tracking, model: nn.Module, ema, step: int) -> None:
    """The sample grid of ``step``, drawn with the EMA weights where there are some (the weights the
    training returns), the training weights put back afterwards."""
    if tracking.samples is None or not accelerator.is_main_process:
        return
    network = accelerator.unwrap_model(model)
    if ema is not None:
        ema.store(network.parameters())
        ema.copy_to(network.parameters())
    network.eval()
    with torch.no_grad():
        images = ((tracking.samples(network).float().clamp(-1, 1) + 1) / 2).cpu().numpy()
    network.train()
    if ema is not None:
        ema.restore(network.parameters())
    accelerator.get_tracker(tracking.report_to).log_images({"samples": images}, step=step)
