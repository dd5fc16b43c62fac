"""A held-out metric during training, as the diffusers training examples validate
(``--validation-split``, ``--validation-steps``): images held out before training, deterministically
from the seed (:func:`held_out`), measured on the weights the training returns (its EMA where it
keeps one) every ``every`` steps and at the end -- mIoU for segmentation
(:class:`~symmflow.metrics.SegmentationIoU`), accuracy for classification.  The inference noise
comes from a generator of its own, so a validation leaves the training's random streams, and its
weights, as they were."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

METRICS = {"segmentation": "mIoU", "classification": "accuracy"}
"""The held-out metric of each task."""
STEPS = {"segmentation": 25, "classification": 1}
"""Euler steps of a validation: those of ``symmflow segment`` and ``symmflow classify``."""


@dataclass(frozen=True)
class Validation:
    name: str
    """The metric's name (:data:`METRICS`)."""
    every: int
    """Training steps between two measurements (and one at the end)."""
    measure: Callable[[nn.Module], float]
    """The metric of the network (eval mode, no gradients) on the held-out images."""
    images: int
    """How many images are held out."""


def held_out(count: int, share: float, seed: int) -> tuple[Tensor, Tensor]:
    """(training rows, held-out rows) of ``count`` items: ``share`` of them (at least one when
    ``share`` > 0) drawn by a generator of ``seed``, each part in its original order."""
    held = 0 if share <= 0 else max(1, round(share * count))
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[held:].sort().values, order[:held].sort().values


def measure(task: str, codec, label_shape: tuple[int, ...], images: Tensor, labels: Tensor, classes: int,
            ignore_index: int | None, seed: int, batch_size: int) -> Callable[[nn.Module], float]:
    """The held-out metric of ``task`` on ``images`` (N, C, S, S) and their ``labels`` (class maps or
    ids), predicted in batches of ``batch_size`` with :data:`STEPS` Euler steps from noise of ``seed``."""
    from symmflow.metrics import SegmentationIoU
    from symmflow.tasks import predict

    def metric(network: nn.Module) -> float:
        device = next(network.parameters()).device
        generator = torch.Generator().manual_seed(seed)
        iou, correct = SegmentationIoU(classes, ignore_index) if task == "segmentation" else None, 0
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                x, y = images[start:start + batch_size].to(device), labels[start:start + batch_size].to(device)
                pred = predict(network, x, codec, label_shape, steps=STEPS[task], generator=generator)
                if iou is not None:
                    iou.update(pred, y)
                else:
                    correct += int((pred == y).sum())
        return iou.compute() if iou is not None else correct / len(images)

    return metric


def validated(accelerator, validation: Validation, model: nn.Module, ema, step: int, log: bool) -> dict:
    """The record ``{"metric", "value", "step", "images"}`` of ``step``, measured on the main process with
    the EMA weights where there are some (the training weights put back afterwards), and logged to the
    tracker as ``validation/<metric>`` when ``log``."""
    network = accelerator.unwrap_model(model)
    record = {"metric": validation.name, "value": None, "step": step, "images": validation.images}
    if not accelerator.is_main_process:
        return record
    if ema is not None:
        ema.store(network.parameters())
        ema.copy_to(network.parameters())
    network.eval()
    try:
        record["value"] = float(validation.measure(network))
    finally:
        network.train()
        if ema is not None:
            ema.restore(network.parameters())
    if log:
        accelerator.log({f"validation/{validation.name}": record["value"]}, step=step)
    return record
