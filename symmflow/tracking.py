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


def logging_dir(report_to: str, folder: Path | None, out: Path) -> Path:
    """The tracker's folder (default ``<out>-logs`` beside the model folder), checked before any
    work: a known tracker that is installed, a folder that can be written."""
    from symmflow.outputs import check_new_place

    check_tracker(report_to)
    folder = check_new_place(folder or Path(f"{os.path.abspath(out)}-logs"), "--logging-dir")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--logging-dir {folder} is a file; pass a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"cannot write to --logging-dir {folder} ({error.strerror}); pass a writable folder") from None
    return folder


def sample_grid(codec, settings: dict, labels: Tensor, device: str) -> Callable[[nn.Module], Tensor]:
    """What ``symmflow train``'s sample grids show: one sample per class (at most 16) or the
    synthesis of the first 8 training masks, 25 Euler steps from fixed noise."""
    from symmflow.tasks import generate

    wanted = (labels[:8] if settings["task"] == "segmentation"
              else torch.arange(min(16, len(settings["class_names"]))))
    shape = (3, settings["size"], settings["size"])

    def draw(network: nn.Module) -> Tensor:
        return generate(network, wanted.to(device), codec, shape, steps=25, generator=torch.Generator().manual_seed(0))
    return draw
