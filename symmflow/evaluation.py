"""A model folder measured on labelled images: ``symmflow evaluate``.

Segmentation: the mIoU of the harness (:class:`~symmflow.metrics.SegmentationIoU`, a data-set-level
confusion matrix; classes absent from prediction and ground truth, and the ignore id, left out of
the mean) at each mask's own size, with the IoU of every class.  Classification: the accuracy, and
per class.  Either with a percentile-bootstrap interval over the images (``scipy.stats.bootstrap``,
seeded, as the harness's timing ratios: :func:`benchmarks.timing.paired_ratio`).  Inference is the
Python API's (:meth:`symmflow.api.Model.segment` / :meth:`~symmflow.api.Model.classify`, as the
``segment`` and ``classify`` commands run it: letterboxed, image i seeded ``seed + i``), so for one
seed the masks measured are those ``symmflow segment`` writes.  Every label is checked against the
model's classes before inference starts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from symmflow.errors import UsageError

CONFIDENCE, RESAMPLES = 0.95, 1000
"""The bootstrap interval's confidence and resample count."""
STEPS = {"segmentation": 25, "classification": 1}
"""Integration steps by default: those of ``symmflow segment`` and ``symmflow classify``."""


def evaluate(model, images, masks=None, *, steps: int | None = None, solver: str = "euler", batch_size: int = 16,
             seed: int = 0, device: str = "auto", precision: str = "fp32") -> dict:
    """The metric of the model folder ``model`` on ``images`` (with ``masks``: a segmentation model's
    masks folder; else one sub-folder per class, named as the model's classes), with its interval;
    the network evaluated at ``precision`` (:meth:`symmflow.api.Model.segment`'s)."""
    from symmflow.api import Model
    from symmflow.device import resolve_device, resolve_precision
    from symmflow.model_folder import open_folder

    model, images = Path(model), Path(images)
    task = "classification" if masks is None else "segmentation"
    instead = "evaluate with --masks MASKS" if masks is None else "evaluate without --masks"
    device = resolve_device(device)
    precision = resolve_precision(precision, device, "precision")
    loaded = Model(open_folder(model, device, task, instead), model, device)
    run = {"steps": steps or STEPS[task], "solver": solver, "seed": seed, "batch_size": batch_size,
           "precision": precision}
    if task == "segmentation":
        found = _segmentation(loaded, images, Path(masks), run)
    else:
        found = _classification(loaded, images, run)
    return {"model": str(model), "images": str(images), **({"masks": str(masks)} if masks is not None else {}),
            "task": task, **found, "confidence": CONFIDENCE, "resamples": RESAMPLES, "steps": run["steps"],
            "solver": solver, "seed": seed, "precision": precision}


def summary(result: dict) -> str:
    """The one-line summary of an evaluation."""
    low, high = result["interval"]
    return (f"{result['metric']} {result['value']:.4f} ({result['confidence']:.0%} bootstrap interval over "
            f"{result['count']} images: {low:.4f}-{high:.4f}) of {result['model']} on {result['images']}")


# ---------------------------------------------------------------- segmentation


def _segmentation(model, images: Path, masks: Path, run: dict) -> dict:
    """The mIoU of ``model`` (a :class:`symmflow.api.Model`) on the pairs of ``images`` and ``masks``."""
    from symmflow.data.segmentation import check_sizes, paired_folders, read_image
    from symmflow.metrics import SegmentationIoU
    from symmflow.model_folder import parts

    classes, ignore = model.classes, parts(model.settings).palette.ignore_index
    pairs = paired_folders(images, masks, num_classes=classes, ignore_index=ignore).items
    inputs, truth = [], []  # every pair read and checked before any inference
    for image, mask in pairs:
        pixels, ids = read_image(image), _checked_mask(read_image(mask, "ids"), mask, classes, ignore)
        check_sizes(pixels, ids, f"image {image} with mask {mask}")
        inputs.append(pixels)
        truth.append(ids)
    confusions = []
    for pred, target in zip(model.segment(inputs, **run), truth):  # each mask at its image's own size
        iou = SegmentationIoU(classes, ignore)
        iou.update(pred, torch.from_numpy(target))
        confusions.append((iou.metric.confmat.cpu().numpy(), iou.metric.ignore_index))
    ignored = confusions[0][1]
    stack = np.stack([c for c, _ in confusions])
    per_class, value = iou_of(stack.sum(0), ignored)
    interval = _interval(len(stack), lambda rows: iou_of(stack[rows].sum(0), ignored)[1], value, run["seed"])
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


def _classification(model, images: Path, run: dict) -> dict:
    """The accuracy of ``model`` (a :class:`symmflow.api.Model`) on the class folders of ``images``."""
    from symmflow.data.segmentation import image_files, read_image, refuse_broken_link, visible

    names = model.class_names
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
    predicted = model.classify([read_image(file) for file, _ in items], **run)
    truth = np.array([k for _, k in items])
    correct = (predicted.numpy() == truth).astype(np.float64)
    value = float(correct.mean())
    interval = _interval(len(correct), lambda rows: float(correct[rows].mean()), value, run["seed"])
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
