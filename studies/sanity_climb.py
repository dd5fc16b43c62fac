"""The sanity ladder of one metric (``python -m studies.sanity_ladder``): its scores up every
degradation, the noise of each step's change over fresh climbs (or, for a hit share, the exact
paired test on the images a step changes), and the verdict -- ``monotone``, ``not monotone`` or
``blind`` -- each degradation earns."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from studies.sanity_degradations import SEED, degradations, shuffle_labels

RESAMPLES = 10
"""Draws of the starting images, each climbed through the whole ladder, that measure the noise of
every step's change."""
TOLERANCE = 2.0
"""A step counts as better than the one before (a reversal) only when it is better by more than this
many standard deviations of that step's change over the draws, and a degradation as seen only
when its strongest step is worse than the start by more than this many of that change's: a
metric is called neither blind nor non-monotone for its noise."""


@dataclass(frozen=True)
class Metric:
    dataset: str
    name: str
    higher_is_better: bool
    score: Callable[[Tensor, Tensor], float]
    """(images, labels) -> value."""
    base: tuple[Tensor, Tensor]
    """The real images (and their labels) the ladder starts from."""
    base_note: str
    draw: Callable[[torch.Generator], tuple[Callable[[Tensor, Tensor], float], Tensor, Tensor]] | None = None
    """A fresh draw of real images like the base, with the scorer that scores it (a Frechet
    distance's reference may change with the draw); None: the base resampled with replacement."""
    noise_note: str = "bootstrap resamples"
    hits: Callable[[Tensor, Tensor], Tensor] | None = None
    """(images, labels) -> each image's hit (1: the judge reads the label it was given), where the
    metric is their share in %: its steps are judged by the exact paired test on the images a step
    changes (:func:`chance`), not by resampling."""


def draw(metric: Metric, generator: torch.Generator) -> tuple[Callable[[Tensor, Tensor], float], Tensor, Tensor]:
    """Starting images for one more climb: a fresh draw where the metric has one -- a Frechet
    distance of a resample with replacement is inflated by the repeated images, which shrink the
    covariance -- else a bootstrap resample of the starting images and their labels."""
    if metric.draw is not None:
        return metric.draw(generator)
    images, labels = metric.base
    index = torch.randint(0, len(images), (len(images),), generator=generator)
    return metric.score, images[index], labels[index]


def stds(rows: list[list[float]]) -> list[float]:
    """The standard deviation of each column of ``rows``."""
    return torch.tensor(rows, dtype=torch.float64).std(0).tolist()


LEVEL = 0.5 * math.erfc(TOLERANCE / math.sqrt(2))
"""The one-sided chance (2.3%) of a normal change beyond :data:`TOLERANCE` standard deviations: the
level of the exact test of a hit share, so that both kinds of metric are judged alike."""


def chance(more: int, fewer: int) -> float:
    """P(X >= more) for X ~ Binomial(more + fewer, 1/2): how likely ``more`` images changing one
    way against ``fewer`` the other would be if the step changed nothing but chance (the exact
    McNemar test of two accuracies on the same images)."""
    n = more + fewer
    return sum(math.comb(n, k) for k in range(more, n + 1)) / 2 ** n


def verdict(reverses: list[bool], seen: bool) -> str:
    """``blind`` where the strongest degradation is not worse than the start beyond the noise;
    else ``not monotone`` where a step is better than the one before beyond its noise; else
    ``monotone``."""
    return "blind" if not seen else "not monotone" if any(reverses) else "monotone"


def sees(worse: list[float], tolerances: list[float], total_tolerance: float) -> str:
    """The verdict of a ladder of changes (each step's, positive = worse) against each step's
    tolerance and the start-to-strongest one."""
    return verdict([w < -t for w, t in zip(worse, tolerances)], sum(worse) > total_tolerance)


def ladder(score: Callable, images: Tensor, labels: Tensor, kind: str) -> dict[str, list]:
    """The scores of every degradation at every strength (each degradation's randomness seeded alike)."""
    rungs = {}
    for d in degradations(kind):
        generator = torch.Generator().manual_seed(SEED)
        rungs[d.name] = [score(images if d.images is None else d.images(images, labels, strength, generator),
                               shuffle_labels(labels, strength, generator) if d.labels else labels)
                         for strength in d.strengths]
    return rungs


def summary(metric: Metric, base: float, rungs: dict, noise_sd: float, noise_note: str) -> dict:
    """The record of one metric's ladder: every degradation's verdict, and the metric's."""
    return {"dataset": metric.dataset, "metric": metric.name, "higher_is_better": metric.higher_is_better,
            "base": base, "noise_sd": noise_sd, "noise_from": noise_note, "base_note": metric.base_note,
            "degradations": rungs,
            "blind_to": [name for name, r in rungs.items() if r["verdict"] == "blind"],
            "not_monotone_in": [name for name, r in rungs.items() if r["verdict"] == "not monotone"]}


def climb(metric: Metric, kind: str, progress: bool) -> dict:
    """Score the metric on its base images and on every degradation at every strength, then climb
    the same ladder from :data:`RESAMPLES` more draws of starting images: the noise a step is judged
    against is the spread of that step's change over the draws -- paired, as the step compares
    the same images degraded twice, not the spread of the metric's level, which holds the images'
    own variation and would hide a small, steady change.  A hit share is judged by the exact test
    instead (:func:`climb_hits`)."""
    if metric.hits is not None:
        return climb_hits(metric, kind)
    from tqdm.auto import tqdm

    images, labels = metric.base
    base = metric.score(images, labels)
    values = ladder(metric.score, images, labels, kind)
    generator = torch.Generator().manual_seed(SEED + 1)
    climbs = []
    for _ in tqdm(range(RESAMPLES), desc=f"{metric.dataset}: {metric.name}", disable=not progress):
        score, x, y = draw(metric, generator)
        climbs.append((score(x, y), ladder(score, x, y, kind)))
    sign = -1 if metric.higher_is_better else 1

    def changes(start, path):  # the change at each step, positive = worse
        path = [start, *path]
        return [(b - a) * sign for a, b in zip(path, path[1:])]

    rungs = {}
    for d in degradations(kind):
        worse = changes(base, values[d.name])
        step_sd = stds([changes(start, other[d.name]) for start, other in climbs])
        total_sd = stds([[sum(changes(start, other[d.name]))] for start, other in climbs])[0]
        rungs[d.name] = {"strengths": list(d.strengths), "unit": d.unit, "values": values[d.name],
                         "step_sd": step_sd, "total_sd": total_sd,
                         "verdict": sees(worse, [TOLERANCE * s for s in step_sd], TOLERANCE * total_sd)}
    return summary(metric, base, rungs, stds([[start] for start, _ in climbs])[0], metric.noise_note)


def climb_hits(metric: Metric, kind: str) -> dict:
    """The ladder of a hit share, judged image by image: a step reverses where the images it
    turns to hits outnumber those it turns to misses beyond :data:`LEVEL` (:func:`chance`), and
    the degradation is seen where the strongest turns more to misses than to hits beyond it."""
    if not metric.higher_is_better:
        raise ValueError(f"{metric.name}: a hit share is better higher")
    images, labels = metric.base
    start = metric.hits(images, labels).bool()
    paths = ladder(lambda x, y: metric.hits(x, y).bool(), images, labels, kind)
    rungs = {}
    for d in degradations(kind):
        path = [start, *paths[d.name]]
        gained = [int((b & ~a).sum()) for a, b in zip(path, path[1:])]
        lost = [int((a & ~b).sum()) for a, b in zip(path, path[1:])]
        total_gained, total_lost = int((path[-1] & ~start).sum()), int((start & ~path[-1]).sum())
        rungs[d.name] = {"strengths": list(d.strengths), "unit": d.unit,
                         "values": [100.0 * h.float().mean().item() for h in paths[d.name]],
                         "gained": gained, "lost": lost, "total_gained": total_gained, "total_lost": total_lost,
                         "verdict": verdict([chance(g, l) < LEVEL for g, l in zip(gained, lost)],
                                            chance(total_lost, total_gained) < LEVEL)}
    share = start.float().mean().item()
    return summary(metric, 100.0 * share, rungs, 100.0 * math.sqrt(share * (1 - share) / len(start)),
                   "binomial; each step by the exact paired test on the images it changes")
