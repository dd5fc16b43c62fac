"""How the tables score a trained network: pure functions of a prediction function and data.

None of these knows a method: each takes the method's prediction as a function (images ->
class maps, masks -> images, images -> (labels, scores)), runs it over the evaluation data
under a timer, and returns the score, the wall seconds of the prediction alone and the
sample count.  NFE is counted by the caller's :class:`~symmflow.solver.NFECounter`.

Evaluation batches come as (position, batch) pairs: on several processes each takes its
:class:`~symmflow.distributed.Shard` of them, the prediction's noise is keyed by the position
(so a batch gets the same noise whichever process draws it), and the scores are reduced across
the processes -- mIoU by torchmetrics' sync, features and counts by gathering -- so a sharded
evaluation equals the single-process one (for a sample count that is not whole passes over
the batches, each process cuts its share: the same count, from other batches).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Iterable

import torch
from torch import Tensor

from symmflow.distributed import Shard, gather
from symmflow.metrics import JointFeatures, SegmentationIoU, feature_statistics, frechet_distance

Batches = Iterable[tuple[int, tuple[Tensor, Tensor]]]
"""(position, (images, masks)) of the evaluation batches this process takes."""


def _totals(wall: float, count: int, shard: Shard, device: str) -> tuple[float, int]:
    """The slowest process's prediction seconds and the samples of all processes."""
    walls_counts = gather([(wall, count)], shard, device)
    return max(w for w, _ in walls_counts), sum(c for _, c in walls_counts)


@torch.no_grad()
def segmentation_score(segment: Callable[[Tensor, int], Tensor], batches: Batches, num_classes: int,
                       ignore_index: int | None, shard: Shard = Shard(), device: str = "cpu") -> dict:
    """mIoU (%) of ``segment(images, position)`` over the evaluation batches, and the first
    batch's first eight class maps (on the main process)."""
    metric = SegmentationIoU(num_classes, ignore_index)
    preview, wall, count = None, 0.0, 0
    for position, (images, masks) in batches:
        start = time.perf_counter()
        predicted = segment(images, position)
        wall += time.perf_counter() - start
        metric.update(predicted, masks)
        count += len(images)
        preview = predicted[:8].cpu() if preview is None else preview
    wall, count = _totals(wall, count, shard, device)
    return {"value": 100.0 * metric.compute(), "wall_s": wall, "samples": count, "preview": preview}


@torch.no_grad()
def synthesis_score(synthesise: Callable[[Tensor, tuple[int, int]], Tensor], batches: Callable[[], Batches],
                    frechet: dict[str, tuple[Callable[[Tensor], Tensor], tuple]], wanted: int = 0,
                    paired: Callable[[Tensor, Tensor], Tensor] | None = None, shard: Shard = Shard(),
                    device: str = "cpu", judge: Callable[[Tensor], Tensor] | None = None,
                    classes: tuple[int, int | None] = (0, None)) -> dict:
    """For each ``frechet`` name -> (features, reference (mu, sigma)), the Frechet distance between
    the features (a :class:`~symmflow.metrics.JointFeatures`: the joint embedding of each sample
    and its mask) of images ``synthesise(masks, (pass, position))`` from the evaluation masks
    (passes over ``batches()`` repeated until ``wanted`` samples over all processes, at least one
    pass) and the reference -- every distance on the same samples (``frechet`` in the result);
    with ``paired``, the mean of ``paired(samples, images)`` too; with a ``judge`` (images ->
    class maps), the mIoU (%) of its segmentation of the samples against the masks they were
    synthesised from, over ``classes`` (number of classes, ignore id) (:mod:`benchmarks.judges`),
    and the judge's first eight class maps (``judged_preview``)."""
    feats = {name: [] for name in frechet}
    pairs, preview, judged_preview, wall, count = [], None, None, 0.0, 0
    judged = SegmentationIoU(*classes) if judge is not None else None
    mine = -(-wanted // shard.count)  # this process's share of the samples
    passes = 0
    while passes == 0 or count < mine:
        for position, (images, masks) in batches():
            start = time.perf_counter()
            samples = synthesise(masks, (passes, position))
            wall += time.perf_counter() - start
            on_cpu = samples.cpu()
            for name, (features, _) in frechet.items():  # a joint distance embeds (sample, mask) pairs
                feats[name].append(features(on_cpu, masks) if isinstance(features, JointFeatures) else features(on_cpu))
            if paired is not None:
                pairs.append(paired(samples, images).cpu())
            if judge is not None:
                seen = judge(samples)
                judged.update(seen, masks)
                judged_preview = seen[:8].cpu() if judged_preview is None else judged_preview
            preview = samples[:8].cpu() if preview is None else preview
            count += len(samples)
            if wanted and count >= mine:
                break
        passes += 1
    distances = {}
    for name, (_, reference) in frechet.items():
        mu, sigma = feature_statistics(torch.cat(gather(feats[name], shard, device)).numpy())
        distances[name] = frechet_distance(mu, sigma, *reference)
    pairs = gather(pairs, shard, device)
    wall, count = _totals(wall, count, shard, device)
    return {"frechet": distances, "wall_s": wall, "samples": count,
            "preview": preview, "paired": float(torch.cat(pairs).mean()) if pairs else None,
            "judged": 100.0 * judged.compute() if judge is not None else None, "judged_preview": judged_preview}


@torch.no_grad()
def diversity_score(synthesise: Callable[[Tensor, int], Tensor], masks: Iterable[tuple[int, Tensor]], k: int,
                    diversity: Callable[[Tensor], Tensor], limit: int) -> dict:
    """Mean ``diversity`` of ``k`` samples per mask over the first eight masks of each
    (position, masks) batch, until ``limit`` masks have been used (one process computes it)."""
    values, wall, count = [], 0.0, 0
    for position, batch in masks:
        batch = batch[:8].repeat_interleave(k, 0)
        start = time.perf_counter()
        samples = synthesise(batch, position)
        wall += time.perf_counter() - start
        values.append(diversity(samples.reshape(-1, k, *samples.shape[1:])).cpu())
        count += len(batch)
        if count >= limit * k:
            break
    return {"value": float(torch.cat(values).mean()), "wall_s": wall, "samples": count}


def auroc(scores: Tensor, labels: Tensor, num_classes: int) -> float:
    """Macro one-vs-rest AUC (%)."""
    from torchmetrics.functional.classification import multiclass_auroc

    return 100.0 * multiclass_auroc(scores.float(), labels, num_classes=num_classes, average="macro").item()


@torch.no_grad()
def classification_score(classify: Callable[[Tensor, int], tuple[Tensor, Tensor | None]], images: Tensor,
                         labels: Tensor, batch: int, num_classes: int, repeats: int = 1,
                         progress: str | None = None) -> dict:
    """Accuracy (%) and, where ``classify`` gives scores, one-vs-rest AUC over ``images`` in
    chunks of ``batch`` (``classify(chunk, chunk index)``); the wall time is the median of
    ``repeats`` passes after a warm-up when ``repeats`` > 1; ``progress`` names a bar."""
    from tqdm.auto import tqdm

    walls = []
    for _ in range(repeats + (repeats > 1)):
        predicted, scores = [], []
        start = time.perf_counter()
        chunks = images.split(batch)
        for i, chunk in enumerate(tqdm(chunks, desc=progress, disable=progress is None, dynamic_ncols=True)):
            p, s = classify(chunk, i)
            predicted.append(p.cpu())
            scores.append(None if s is None else s.cpu())
        walls.append(time.perf_counter() - start)
    walls = walls[1:] if repeats > 1 else walls
    predicted = torch.cat(predicted)
    out = {"value": 100.0 * (predicted == labels).float().mean().item(), "wall_s": statistics.median(walls),
           "samples": len(images), "passes": repeats + (repeats > 1)}
    if scores[0] is not None:
        out["auc"] = auroc(torch.cat(scores), labels, num_classes)
    if repeats > 1:
        out["timing"] = f"median of {len(walls)} passes after a warm-up"
    return out


def test_subset(labels: Tensor, count: int) -> Tensor:
    """A fixed subset of ``count`` test images, the classes taken in turn: the first image of
    every class, then the second of every class, ...; returned in test-set order."""
    rank = torch.zeros_like(labels)
    for c in labels.unique():
        where = labels == c
        rank[where] = torch.arange(int(where.sum()))
    order = sorted(range(len(labels)), key=lambda i: (int(rank[i]), int(labels[i])))
    return torch.tensor(order[:count]).sort().values


@torch.no_grad()
def frechet_in(features: torch.nn.Module, real: Tensor, fake: Tensor, batch: int) -> float:
    """Frechet distance of ``fake`` to ``real`` images in ``features`` (torchmetrics' FID machinery)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    device = next(features.parameters()).device
    metric = FrechetInceptionDistance(feature=features, normalize=True).to(device)
    for chunk in real.split(batch):
        metric.update(chunk.to(device), real=True)
    for chunk in fake.split(batch):
        metric.update(chunk.to(device), real=False)
    return metric.compute().item()
