"""A model folder measured on labelled images: ``symmflow evaluate``.

Segmentation: the mIoU of the harness (:class:`~symmflow.metrics.SegmentationIoU`, a data-set-level
confusion matrix; classes absent from prediction and ground truth, and the ignore id, left out of
the mean) at each mask's own size -- the predicted masks resized to it as ``symmflow segment``
writes them -- with the IoU of every class.  Classification: the accuracy, and per class.  Either
with a percentile-bootstrap interval over the images (``scipy.stats.bootstrap``, seeded, as the
harness's timing ratios: :func:`benchmarks.timing.paired_ratio`).  Inference runs in batches
through :func:`symmflow.model_folder.open_folder`; every label is checked against the model's
classes before it starts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from symmflow.errors import UsageError

CONFIDENCE, RESAMPLES = 0.95, 1000
"""The bootstrap interval's confidence and resample count."""
STEPS = {"segmentation": 25, "classification": 1}
"""Euler steps by default: those of ``symmflow segment`` and ``symmflow classify``."""


def evaluate(model, images, masks=None, *, steps: int | None = None, batch_size: int = 16, seed: int = 0,
             device: str = "auto") -> dict:
    """The metric of the model folder ``model`` on ``images`` (with ``masks``: a segmentation model's
    masks folder; else one sub-folder per class, named as the model's classes), with its interval."""
    from symmflow.device import resolve_device
    from symmflow.model_folder import open_folder

    model, images = Path(model), Path(images)
    task = "classification" if masks is None else "segmentation"
    instead = "evaluate with --masks MASKS" if masks is None else "evaluate without --masks"
    opened = open_folder(model, resolve_device(device), task, instead)
    steps = steps or STEPS[task]
    if task == "segmentation":
        found = _segmentation(opened, images, Path(masks), steps, batch_size, seed)
    else:
        found = _classification(opened, images, steps, batch_size, seed)
    return {"model": str(model), "images": str(images), **({"masks": str(masks)} if masks is not None else {}),
            "task": task, **found, "confidence": CONFIDENCE, "resamples": RESAMPLES, "steps": steps, "seed": seed}


def summary(result: dict) -> str:
    """The one-line summary of an evaluation."""
    low, high = result["interval"]
    return (f"{result['metric']} {result['value']:.4f} ({result['confidence']:.0%} bootstrap interval over "
            f"{result['count']} images: {low:.4f}-{high:.4f}) of {result['model']} on {result['images']}")


def _batches(images: list, steps: int, batch_size: int, seed: int, run, device) -> list:
    """``run(x, steps, generator)`` on the ``images`` in batches of ``batch_size``; one result per image."""
    generator, out = torch.Generator().manual_seed(seed), []
    for start in range(0, len(images), batch_size):
        out += list(run(torch.stack(images[start:start + batch_size]).to(device), steps, generator).cpu())
    return out


def _device(opened):
    return next(opened.model.parameters()).device


# ---------------------------------------------------------------- segmentation


def _segmentation(opened, images: Path, masks: Path, steps: int, batch_size: int, seed: int) -> dict:
    from symmflow.data.segmentation import check_sizes, paired_folders, read_image
    from symmflow.metrics import SegmentationIoU
    from symmflow.model_folder import parts
    from symmflow.user_files import rgb_tensor

    settings = opened.settings
    classes, size, ignore = settings["classes"], settings["size"], parts(settings).palette.ignore_index
    pairs = paired_folders(images, masks, num_classes=classes, ignore_index=ignore).items
    inputs, truth = [], []  # every pair read and checked before any inference
    for image, mask in pairs:
        pixels, ids = read_image(image), _checked_mask(read_image(mask, "ids"), mask, classes, ignore)
        check_sizes(pixels, ids, f"image {image} with mask {mask}")
        inputs.append(rgb_tensor(pixels, size))
        truth.append(ids)
    predicted = _batches(inputs, steps, batch_size, seed, opened.segment, _device(opened))
    confusions = []
    for pred, target in zip(predicted, truth):
        pred = torch.nn.functional.interpolate(pred[None, None].float(), size=target.shape, mode="nearest")[0, 0]
        iou = SegmentationIoU(classes, ignore)
        iou.update(pred.long(), torch.from_numpy(target))
        confusions.append((iou.metric.confmat.cpu().numpy(), iou.metric.ignore_index))
    ignored = confusions[0][1]
    stack = np.stack([c for c, _ in confusions])
    per_class, value = iou_of(stack.sum(0), ignored)
    interval = _interval(len(stack), lambda rows: iou_of(stack[rows].sum(0), ignored)[1], value, seed)
    return {"metric": "mIoU", "value": value, "interval": interval, "count": len(stack),
            "per_class": {str(k): per_class[k] for k in range(classes) if per_class[k] is not None}}


def _checked_mask(mask: np.ndarray, file: Path, classes: int, ignore: int | None) -> np.ndarray:
    bad = (mask < 0) | (mask >= classes)
    if ignore is not None:
        bad &= mask != ignore
    if bad.any():
        raise UsageError(f"{file}: mask id {int(mask[bad][0])} is not one of the model's {classes} classes "
                         f"(0-{classes - 1}{f' and {ignore}, ignored' if ignore is not None else ''}); evaluate "
                         "with masks of the classes the model was trained on")
    return mask.astype(np.int64)


def iou_of(confusion: np.ndarray, ignore_index: int | None) -> tuple[list, float]:
    """(IoU of each class, None where absent or ignored; their mean) of a confusion matrix (rows: truth),
    reduced as torchmetrics reduces :class:`~symmflow.metrics.SegmentationIoU`'s: classes absent from
    prediction and ground truth, and the ignore index, do not enter the mean."""
    confusion = np.asarray(confusion, dtype=np.float64)
    hits = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - hits
    present = confusion.sum(0) + confusion.sum(1) > 0
    if ignore_index is not None and 0 <= ignore_index < len(present):
        present[ignore_index] = False
    iou = np.divide(hits, union, out=np.zeros_like(hits), where=union > 0)
    per_class = [float(v) if p else None for v, p in zip(iou, present)]
    return per_class, float(iou[present].mean()) if present.any() else 0.0


# ---------------------------------------------------------------- classification


def _classification(opened, images: Path, steps: int, batch_size: int, seed: int) -> dict:
    from symmflow.data.segmentation import image_files, refuse_broken_link, visible
    from symmflow.user_files import load_image

    settings = opened.settings
    names, size = settings["class_names"], settings["size"]
    refuse_broken_link(images)
    if not images.is_dir():
        raise UsageError(f"--images {images} not found; pass a folder with one sub-folder per class")
    folders = [p for p in visible(images) if p.is_dir()]
    if len(folders) != len(names) or {p.name for p in folders} - set(names):
        raise UsageError(f"--images {images} holds the class folders {', '.join(p.name for p in folders) or 'none'}, "
                         f"but the model's {len(names)} classes are {', '.join(names)}; give one sub-folder per "
                         "class, named as the model's")
    items = [(f, names.index(p.name)) for p in folders for f in image_files(p)]
    if not items:
        raise UsageError(f"--images {images}: its class folders hold no images; add some")
    inputs = [load_image(file, size, settings.get("channels", 3)) for file, _ in items]
    predicted = _batches(inputs, steps, batch_size, seed, opened.classify, _device(opened))
    truth = np.array([k for _, k in items])
    correct = (np.array([int(p) for p in predicted]) == truth).astype(np.float64)
    value = float(correct.mean())
    interval = _interval(len(correct), lambda rows: float(correct[rows].mean()), value, seed)
    per_class = {name: float(correct[truth == k].mean()) for k, name in enumerate(names) if (truth == k).any()}
    return {"metric": "accuracy", "value": value, "interval": interval, "count": len(correct), "per_class": per_class}


# ---------------------------------------------------------------- the interval


def _interval(count: int, statistic, value: float, seed: int) -> list[float]:
    """The percentile-bootstrap interval of ``statistic(rows)`` over ``count`` images resampled with
    replacement (one image, or every resample alike: the value itself)."""
    from scipy.stats import bootstrap

    rows = np.arange(count)
    if count < 2:
        return [value, value]
    found = bootstrap((rows,), lambda r: statistic(r.astype(int)), vectorized=False, n_resamples=RESAMPLES,
                      confidence_level=CONFIDENCE, method="percentile", rng=np.random.default_rng(seed))
    low, high = found.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):  # every resample alike
        return [value, value]
    return [float(low), float(high)]
