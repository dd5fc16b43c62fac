"""A sanity ladder for every generation metric: ``python -m studies.sanity_ladder``.

A metric of generated images is trusted only as far as it sees what it should: real images,
degraded step by step, must score worse at every step.  For each generation metric of the
tables -- the scene set's FD-scenenet, its Frechet joint distance with the masks (FJD in the SS U-Net's
features) and the SS U-Net's mIoU of the samples (Tables 2, 4), and MNIST's Frechet distance and joint
distance in the cross-entropy classifier's features and that classifier's accuracy on the
samples (Table 3) -- this study scores

* the rung the metric starts from: for a Frechet distance, real images that no network of the
  metric trained on, as many as the tables generate, against held-out statistics -- as generated
  images are unseen (a network's features of its own training images differ: started from the
  training digits, MNIST's joint distance *fell* with a 1 px blur); for a judge, unseen images
  against their own masks or classes (its ceiling);
* then those images degraded at four increasing strengths by each of: Gaussian blur, additive
  noise, colour jitter, digits erased, and masks (classes) shuffled between images;

and records, per metric and degradation, its verdict: ``monotone`` where every step moved the
metric the worse way, ``not monotone`` where the strongest step is worse than the start but some
step is better than the one before, ``blind`` where the strongest is not worse than the start --
each beyond the noise of that change (:func:`climb`, :func:`climb_hits`).  A metric passes the
ladder where it is monotone in every degradation.  The tables' claim lines and notes say where
one is not (:func:`benchmarks.render.tables.ladder`).  The networks come from the tables' model
cache (trained there when missing: seed 0, as the tables' Frechet features are).  Writes
``sanity-ladder.{json,md,png}`` in ``--out``.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from baselines.discriminative import Features
from benchmarks.cells import RunOptions
from benchmarks.claims import LadderFailures
from benchmarks.evaluation import frechet_in
from benchmarks.experiments.classification import CROSS_ENTROPY, ClassificationExperiment
from benchmarks.experiments.segsynth import (FEATURES, FEATURES_SEED, SegSynthExperiment, joint_metric, judge_metric,
                                             synthesis_metric)
from benchmarks.profiles import CLASSIFICATION, SEGSYNTH
from benchmarks.provenance import provenance
from symmflow.outputs import write_atomic
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.metrics import SegmentationIoU, feature_statistics, frechet_distance

LEVELS = 4
SEED = 12345
"""The degradations' own randomness (which digits are erased, which masks shuffled, the noise)."""
RESAMPLES = 10
"""Draws of the starting images, each climbed through the whole ladder, that measure the noise of
every step's change."""
UNSEEN_POOL = 4
"""Held-out scenes beyond the evaluation set the scene ladder draws on, in evaluation sets."""
TOLERANCE = 2.0
"""A step counts as better than the one before (a reversal) only when it is better by more than this
many standard deviations of that step's change over the draws, and a degradation as seen only
when its strongest step is worse than the start by more than this many of that change's: a
metric is called neither blind nor non-monotone for its noise."""


# ---------------------------------------------------------------- degradations


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Each channel convolved with a Gaussian of ``sigma`` pixels (reflect padding)."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-x ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.reshape(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(rows, kernel.reshape(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def additive_noise(images: Tensor, sd: float, generator: torch.Generator) -> Tensor:
    return (images + sd * torch.randn(images.shape, generator=generator)).clamp(-1, 1)


def colour_jitter(images: Tensor, strength: float, generator: torch.Generator) -> Tensor:
    """Per image and channel a gain in 1 +- strength and an offset in +- strength (one gain and
    offset for all channels of a grey image): brightness, contrast and colour shifts."""
    n, c = images.shape[:2]
    gain = 1 + strength * (2 * torch.rand(n, c, 1, 1, generator=generator) - 1)
    offset = strength * (2 * torch.rand(n, c, 1, 1, generator=generator) - 1)
    return (images * gain + offset).clamp(-1, 1)


def erase_scene_digits(images: Tensor, masks: Tensor, share: float, generator: torch.Generator) -> Tensor:
    """Each digit class of each scene erased with probability ``share``: its pixels painted in the
    mean colour of the scene's background."""
    out = images.clone()
    for i in range(len(images)):
        background = masks[i] == 0
        fill = images[i][:, background].mean(1) if background.any() else images[i].mean((1, 2))
        for digit in masks[i].unique():
            if digit != 0 and torch.rand(1, generator=generator).item() < share:
                out[i][:, masks[i] == digit] = fill[:, None]
    return out


def erase_digit_area(images: Tensor, share: float, generator: torch.Generator) -> Tensor:
    """A square of ``share`` of each image's area, at a random place, painted black (MNIST's background)."""
    out = images.clone()
    size = images.shape[-1]
    side = max(1, round(size * math.sqrt(share)))
    for i in range(len(images)):
        r, c = torch.randint(0, size - side + 1, (2,), generator=generator).tolist()
        out[i, :, r:r + side, c:c + side] = -1.0
    return out


def shuffle_labels(labels: Tensor, share: float, generator: torch.Generator) -> Tensor:
    """``share`` of the labels (masks or classes) moved to other images by a cyclic shift of a
    random subset, so that none of the chosen keeps its own."""
    count = round(share * len(labels))
    if count < 2:
        return labels
    chosen = torch.randperm(len(labels), generator=generator)[:count]
    out = labels.clone()
    out[chosen] = labels[chosen.roll(1)]
    return out


@dataclass(frozen=True)
class Degradation:
    name: str
    strengths: tuple[float, ...]
    unit: str
    images: Callable | None
    """(images, labels, strength, generator) -> degraded images; None: the images stay."""
    labels: bool = False
    """Whether it shuffles the labels the images are scored against."""


NOISE_SD = (0.1, 0.25, 0.5, 1.0)
"""Additive noise on images in [-1, 1], up to where a digit is hard to read: a first ladder that stopped
at sd 0.4 left every digit legible, and a judge that reads legible digits right stayed flat on it."""


def degradations(kind: str) -> list[Degradation]:
    """The ladder's degradations for scenes (``scenes``) or single digits (``digits``)."""
    erase = ((lambda x, y, s, g: erase_scene_digits(x, y, s, g)) if kind == "scenes"
             else (lambda x, y, s, g: erase_digit_area(x, s, g)))
    return [Degradation("Gaussian blur", (0.5, 1.0, 1.5, 2.0), "sigma (px)", lambda x, y, s, g: gaussian_blur(x, s)),
            Degradation("additive noise", NOISE_SD, "sd", lambda x, y, s, g: additive_noise(x, s, g)),
            Degradation("colour jitter", (0.1, 0.2, 0.4, 0.8), "strength",
                        lambda x, y, s, g: colour_jitter(x, s, g)),
            Degradation("digits erased", (0.25, 0.5, 0.75, 1.0), "share" if kind == "scenes" else "area share",
                        erase),
            Degradation("masks shuffled" if kind == "scenes" else "classes shuffled", (0.25, 0.5, 0.75, 1.0), "share",
                        None, labels=True)]


# ---------------------------------------------------------------- the ladder of one metric


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


# ---------------------------------------------------------------- the tables' metrics


def scene_metrics(profile: str, out: Path, progress: bool) -> list[Metric]:
    """FD-scenenet, the FJD in the SS U-Net's features and the SS U-Net's mIoU, with the tables'
    networks of seed 0.  All three start from held-out scenes beyond the evaluation set, which no
    network of the metric saw -- the Frechet distances against the evaluation statistics the tables
    use -- and take their noise from fresh draws of such scenes: bootstrap resamples of one set of
    scenes understate how a step's change varies between sets (a mild blur that raised the judge's
    mIoU on the evaluation scenes beyond its bootstrap noise moved it both ways on disjoint sets of
    unseen ones)."""
    exp = SegSynthExperiment("scenes", SEGSYNTH[profile], RunOptions(profile=profile, seed=FEATURES_SEED, out=out,
                                                                      progress=progress))
    data, batch = exp.data, exp.settings.eval_batch
    features, reference = exp.frechet_reference()
    joint, joint_reference = exp.frechet_reference("joint")
    judge = exp.judge()
    count = len(data.test_images)
    pool, pool_masks = data.unseen_pairs(UNSEEN_POOL * count)

    def fd(images, _):
        feats = torch.cat([features(part) for part in images.split(batch)])
        return frechet_distance(*feature_statistics(feats.cpu().numpy()), *reference)

    def fjd(images, masks):
        embedded = torch.cat([joint(part, m) for part, m in zip(images.split(batch), masks.split(batch))])
        return frechet_distance(*feature_statistics(embedded.numpy()), *joint_reference)

    def miou(images, masks):
        metric = SegmentationIoU(data.num_classes, data.ignore_index)
        for part, truth in zip(images.split(batch), masks.split(batch)):
            metric.update(judge(part), truth)
        return 100.0 * metric.compute()

    def fresh(score):
        def resample(generator):
            index = torch.randperm(len(pool), generator=generator)[:count]
            return score, pool[index], pool_masks[index]
        return resample

    start = (f"{count} held-out scenes beyond the evaluation set, which no network saw, against the statistics "
             f"of the {count} evaluation scenes")
    noise = f"fresh draws of {count} from {len(pool)} such scenes"
    start_judge = (f"{count} held-out scenes beyond the evaluation set, which the SS U-Net never saw, against their "
                   "own masks")
    base = (pool[:count], pool_masks[:count])
    return [Metric("scenes", synthesis_metric(exp.settings, exp.options), False, fd, base, start, fresh(fd), noise),
            Metric("scenes", joint_metric(exp.settings, exp.options), False, fjd, base,
                   start + " (scene and mask pairs)", fresh(fjd), noise),
            Metric("scenes", judge_metric(exp.settings, exp.options), True, miou, base, start_judge, fresh(miou),
                   noise)]


def stratified_halves(labels: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Indices of two halves of every class, drawn by ``generator``."""
    first, second = [], []
    for c in labels.unique():
        where = (labels == c).nonzero().flatten()
        where = where[torch.randperm(len(where), generator=generator)]
        first.append(where[:len(where) // 2])
        second.append(where[len(where) // 2:])
    return torch.cat(first), torch.cat(second)


def digit_metrics(profile: str, out: Path, progress: bool) -> list[Metric]:
    """The Frechet distance and joint distance in the cross-entropy classifier's features and its
    accuracy, with Table 3's networks of seed 0.  No digit is left that the classifier did not
    train on but the held-out ones, so the Frechet distances start from half of them (per class)
    against the statistics of the other half, and their noise is that of fresh splits."""
    from benchmarks.tables.classification import FD_METRIC, FJD_METRIC, SHOWN
    from benchmarks.judges import metric_name

    settings = CLASSIFICATION[profile][0]
    exp = ClassificationExperiment(settings, RunOptions(profile=profile, seed=0, out=out, progress=progress))
    real, real_labels = exp.full_test_split()
    held_out, held_out_labels = exp.test_split()
    features = Features(exp.trained(CROSS_ENTROPY).model)
    judge = exp.judge()

    def fd_against(half):
        return lambda images, _: frechet_in(features, real[half], images, settings.eval_batch)

    def fjd_against(half):
        return exp.joint_scorer(real[half], real_labels[half])

    def hits(images, labels):
        return torch.cat([judge(part).cpu() for part in images.split(settings.eval_batch)]) == labels

    def accuracy(images, labels):
        return 100.0 * hits(images, labels).float().mean().item()

    def fresh(against):
        def resample(generator):
            start, reference = stratified_halves(real_labels, generator)
            return against(reference), real[start], real_labels[start]
        return resample

    start, reference = stratified_halves(real_labels, torch.Generator().manual_seed(SEED))
    base = (real[start], real_labels[start])
    note = (f"{len(start)} held-out digits against the statistics of the other {len(reference)} (half of each class "
            "each; the classifier trained on neither)")
    noise = "fresh splits of the held-out digits"
    return [Metric(SHOWN[settings.dataset], FD_METRIC, False, fd_against(reference), base, note, fresh(fd_against),
                   noise),
            Metric(SHOWN[settings.dataset], FJD_METRIC, False, fjd_against(reference), base,
                   note + " (digit and class pairs)", fresh(fjd_against), noise),
            Metric(SHOWN[settings.dataset], metric_name("classifier", False), True, accuracy,
                   (held_out, held_out_labels), f"the {len(held_out)} held-out digits against their classes",
                   hits=hits)]


@torch.no_grad()
def feature_network_check(profile: str, out: Path, progress: bool) -> dict:
    """What FD-scenenet's feature network learned: trained to say which digits a scene holds
    (multi-label), its presence accuracy on the held-out scenes beside the rate of always answering
    "absent", and how much its features vary between scenes against their mean's size."""
    from symmflow.models.features import presence

    exp = SegSynthExperiment("scenes", SEGSYNTH[profile], RunOptions(profile=profile, seed=FEATURES_SEED, out=out,
                                                                      progress=progress))
    net = exp.trained(FEATURES).model.eval()
    feats = torch.cat([net.features(part) for part in exp.data.test_images.split(exp.settings.eval_batch)])
    truth = presence(exp.data.test_masks).bool()
    predicted = net.head(feats) > 0
    return {"presence_accuracy": 100.0 * (predicted == truth).float().mean().item(),
            "all_absent_accuracy": 100.0 * (~truth).float().mean().item(),
            "scenes": len(truth),
            "feature_sd_over_mean_norm": float(feats.std(0).norm() / feats.mean(0).norm())}


# ---------------------------------------------------------------- records


def metric_verdict(m: dict) -> str:
    """A metric's ladder in words: it passes where it moves monotonically with every degradation."""
    return str(LadderFailures(tuple(m["blind_to"]), tuple(m["not_monotone_in"]))) or \
        "passes: moves monotonically with every degradation"


def step_noise(r: dict) -> str:
    """The noise column of one degradation: each step's sd and the start-to-strongest one, or
    (a hit share) the images each step turned to hits / to misses."""
    if "gained" in r:
        return (" / ".join(f"+{g} -{l}" for g, l in zip(r["gained"], r["lost"]))
                + f" / +{r['total_gained']} -{r['total_lost']}")
    return " / ".join(f"{v:.2g}" for v in r["step_sd"]) + f" / {r['total_sd']:.2g}"


def markdown(record: dict) -> str:
    lines = ["# Sanity ladder of the generation metrics", "",
             "Real images degraded step by step at four increasing strengths; a metric passes where it gets worse "
             "at every step of every degradation. Where the strongest step of a degradation is not worse than the "
             "start beyond the noise, the metric is **blind** to it; where it is, but some step is better than the "
             "one before beyond the noise, the metric is **not monotone** in it. The tables' notes say both; a "
             "blind metric does not decide a claim its seeing peers contradict. The noise of a step is the spread "
             f"of its change (paired, as the steps are) over {RESAMPLES} more climbs of the whole ladder from fresh "
             "draws of starting images; a step or a whole degradation counts only beyond "
             f"{TOLERANCE:g} of those standard deviations. A hit share (a classifier's accuracy) is judged image by "
             "image instead: the images a step turns to hits against those it turns to misses, by the exact paired "
             f"(McNemar) test at the same one-sided level ({100 * LEVEL:.1f}%). Every metric starts from real images "
             "no network of the metric trained on, as generated images are. Rendered by "
             "`python -m studies.sanity_ladder` (studies/sanity_ladder.py), networks of seed 0 from the tables' "
             f"model cache; commit {record['provenance']['git_commit']}, {record['provenance']['device']}.", ""]
    for m in record["metrics"]:
        better = "higher" if m["higher_is_better"] else "lower"
        verdict_text = metric_verdict(m)
        lines += [f"## {m['dataset']}: {m['metric']} ({better} is better) -- "
                  + (verdict_text if not (m["blind_to"] or m["not_monotone_in"]) else f"**{verdict_text}**"), "",
                  f"Start: {m['base']:.4g} ({m['base_note']}); the start's own sd {m['noise_sd']:.2g} "
                  f"({m['noise_from']}).", "",
                  "| degradation | strengths | values | noise of each step / of start to strongest | verdict |",
                  "|---|---|---|---|---|"]
        for name, r in m["degradations"].items():
            strengths = " / ".join(f"{s:g}" for s in r["strengths"])
            values = " / ".join(f"{v:.4g}" for v in r["values"])
            shown = r["verdict"] if r["verdict"] == "monotone" else f"**{r['verdict']}**"
            lines.append(f"| {name} | {r['unit']} {strengths} | {values} | {step_noise(r)} | {shown} |")
        lines.append("")
        if any("gained" in r for r in m["degradations"].values()):
            lines += ["Noise column of a hit share: the images each step turned to hits (+) and to misses (-), "
                      "then start to strongest.", ""]
    check = record.get("feature_network")
    if check:
        lines += ["## scenes: the feature network of FD-scenenet", "",
                  "Trained to tell which digits a scene holds (multi-label); on the held-out scenes:", "",
                  "| scenes | presence accuracy (%) | always answering absent (%) | feature sd / mean norm |",
                  "|---|---|---|---|",
                  f"| {check['scenes']} | {check['presence_accuracy']:.1f} | {check['all_absent_accuracy']:.1f} | "
                  f"{check['feature_sd_over_mean_norm']:.3g} |", ""]
    lines += ["![the ladder](sanity-ladder.png)", ""]
    return "\n".join(lines)


def plot(record: dict) -> bytes:
    from matplotlib.figure import Figure

    from benchmarks.render.figures import png_bytes

    metrics = record["metrics"]
    columns = min(3, len(metrics))
    rows = -(-len(metrics) // columns)
    fig = Figure(figsize=(4.6 * columns, 4.9 * rows))
    axes = fig.subplots(rows, columns, squeeze=False).flatten()
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    for ax, m in zip(axes, metrics):
        for i, (name, r) in enumerate(m["degradations"].items()):
            fine = r["verdict"] == "monotone"
            ax.plot(range(LEVELS + 1), [m["base"], *r["values"]], "o-" if fine else "x--", color=f"C{i}",
                    label=name + ("" if fine else f" ({r['verdict']})"))
        if not m["higher_is_better"]:  # a Frechet distance spans orders of magnitude over the ladder
            ax.set_yscale("log")
            ax.set_ylabel(f"{m['metric']} (log scale)", fontsize=8)
        else:
            ax.set_ylabel(m["metric"], fontsize=8)
        ax.set_xticks(range(LEVELS + 1), ["real", *(str(k) for k in range(1, LEVELS + 1))])
        ax.set_xlabel("degradation strength (step)")
        ax.set_title(f"{m['dataset']}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    fig.suptitle("Sanity ladder: real images degraded step by step", fontsize=10)
    return png_bytes(fig)


def main(argv=None) -> int:
    try:
        p = OneLineParser(prog="python -m studies.sanity_ladder", description=first_paragraph(__doc__))
        p.add_argument("--profile", default="cpu", choices=("smoke", "cpu"),
                       help="Whose networks and data (default: cpu; the data ship offline).")
        p.add_argument("--out", type=Path, default=None,
                       help="Results folder (default: runs/<profile>, untracked; the committed records: "
                            "results/<profile>).")
        p.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
        args = p.parse_args(argv)
        out = args.out or Path("runs") / args.profile
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    progress = not args.no_progress
    origin = provenance("cpu")  # the code as the study starts: edits made while it runs are not its own
    metrics = [(m, "scenes") for m in scene_metrics(args.profile, out, progress)]
    metrics += [(m, "digits") for m in digit_metrics(args.profile, out, progress)]
    record = {"metrics": [climb(m, kind, progress) for m, kind in metrics], "provenance": origin,
              "feature_network": feature_network_check(args.profile, out, progress),
              "profile": args.profile, "levels": LEVELS, "seed": SEED}
    write_atomic(out / "sanity-ladder.json", json.dumps(record, indent=1))
    write_atomic(out / "sanity-ladder.md", markdown(record))
    write_atomic(out / "sanity-ladder.png", plot(record))
    for m in record["metrics"]:
        print(f"{m['dataset']}, {m['metric']}: {metric_verdict(m)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
