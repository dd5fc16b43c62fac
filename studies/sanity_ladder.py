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
  training digits, MNIST's joint distance *fell* with a 1 px blur); for a judge, the held-out
  images against their own masks or classes (its ceiling; the judge never saw them);
* then those images degraded at four increasing strengths by each of: Gaussian blur, additive
  noise, colour jitter, digits erased, and masks (classes) shuffled between images;

and records, per metric and degradation, whether every step moved the metric the worse way.  A
metric that does not move with a degradation is blind to it; the tables' claim lines and notes
say so (:func:`benchmarks.render.ladder`).  The networks come from the tables' model cache
(trained there when missing: seed 0, as the tables' Frechet features are).  Writes
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
from benchmarks.evaluation import frechet_in
from benchmarks.experiments.classification import CROSS_ENTROPY, ClassificationExperiment
from benchmarks.experiments.segsynth import (FEATURES, FEATURES_SEED, SegSynthExperiment, joint_metric, judge_metric,
                                             synthesis_metric)
from benchmarks.profiles import CLASSIFICATION, SEGSYNTH
from benchmarks.provenance import provenance
from symmflow.outputs import write_atomic
from symmflow.errors import OneLineParser, UsageError
from symmflow.metrics import SegmentationIoU, feature_statistics, frechet_distance

LEVELS = 4
SEED = 12345
"""The degradations' own randomness (which digits are erased, which masks shuffled, the noise)."""
RESAMPLES = 10
"""Draws of the starting images that measure a metric's own noise."""
UNSEEN_POOL = 4
"""Held-out scenes beyond the evaluation set the scene ladder draws on, in evaluation sets."""
TOLERANCE = 2.0
"""A step counts as no better than the one before unless it is better by more than this many
standard deviations of the metric's own noise: a metric is not called blind for its noise."""


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
    resample: Callable[[torch.Generator], float] | None = None
    """The metric on a fresh draw of real images like the base (a Frechet distance's noise);
    None: the base is resampled with replacement (a judge's, a mean over images)."""
    noise_note: str = "bootstrap resamples"


def noise_sd(metric: Metric) -> float:
    """The metric's own noise: its standard deviation over :data:`RESAMPLES` fresh draws of the
    starting images where the metric has them -- a Frechet distance of a resample with replacement
    is inflated by the repeated images, which shrink the covariance -- else over bootstrap
    resamples of the starting images and their labels."""
    images, labels = metric.base
    generator = torch.Generator().manual_seed(SEED + 1)
    values = []
    for _ in range(RESAMPLES):
        if metric.resample is not None:
            values.append(metric.resample(generator))
        else:
            index = torch.randint(0, len(images), (len(images),), generator=generator)
            values.append(metric.score(images[index], labels[index]))
    return float(torch.tensor(values, dtype=torch.float64).std())


def sees(worse: list[float], tolerance: float) -> bool:
    """Whether a ladder (the change at each step, positive = worse) moves with its degradation:
    no step better than the one before by more than ``tolerance``, and the strongest worse than
    the start by more than ``tolerance``."""
    return all(w >= -tolerance for w in worse) and sum(worse) > tolerance


def climb(metric: Metric, kind: str, progress: bool) -> dict:
    """Score the metric on its base images and on every degradation at every strength."""
    from tqdm.auto import tqdm

    images, labels = metric.base
    base = metric.score(images, labels)
    noise = noise_sd(metric)
    rungs = {}
    for d in tqdm(degradations(kind), desc=f"{metric.dataset}: {metric.name}", disable=not progress):
        generator = torch.Generator().manual_seed(SEED)
        values = []
        for strength in d.strengths:
            shown = images if d.images is None else d.images(images, labels, strength, generator)
            against = shuffle_labels(labels, strength, generator) if d.labels else labels
            values.append(metric.score(shown, against))
        path = [base, *values]
        worse = [(b - a) * (-1 if metric.higher_is_better else 1) for a, b in zip(path, path[1:])]
        rungs[d.name] = {"strengths": list(d.strengths), "unit": d.unit, "values": values,
                         "monotone": sees(worse, TOLERANCE * noise)}
    return {"dataset": metric.dataset, "metric": metric.name, "higher_is_better": metric.higher_is_better,
            "base": base, "noise_sd": noise, "noise_from": metric.noise_note, "tolerance": TOLERANCE * noise,
            "base_note": metric.base_note, "degradations": rungs,
            "blind_to": [name for name, r in rungs.items() if not r["monotone"]]}


# ---------------------------------------------------------------- the tables' metrics


def scene_metrics(profile: str, out: Path, progress: bool) -> list[Metric]:
    """FD-scenenet, the FJD in the SS U-Net's features and the SS U-Net's mIoU, with the tables'
    networks of seed 0.  The Frechet distances start from held-out scenes beyond the evaluation
    set, which no network of the metric saw, against the evaluation statistics the tables use."""
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
            return score(pool[index], pool_masks[index])
        return resample

    start = (f"{count} held-out scenes beyond the evaluation set, which no network saw, against the statistics "
             f"of the {count} evaluation scenes")
    noise = f"fresh draws of {count} from {len(pool)} such scenes"
    base = (pool[:count], pool_masks[:count])
    return [Metric("scenes", synthesis_metric(exp.settings, exp.options), False, fd, base, start, fresh(fd), noise),
            Metric("scenes", joint_metric(exp.settings, exp.options), False, fjd, base,
                   start + " (scene and mask pairs)", fresh(fjd), noise),
            Metric("scenes", judge_metric(exp.settings, exp.options), True, miou, (data.test_images, data.test_masks),
                   f"the {count} evaluation scenes against their own masks")]


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

    def accuracy(images, labels):
        predicted = torch.cat([judge(part).cpu() for part in images.split(settings.eval_batch)])
        return 100.0 * (predicted == labels).float().mean().item()

    def fresh(against):
        def resample(generator):
            start, reference = stratified_halves(real_labels, generator)
            return against(reference)(real[start], real_labels[start])
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
                   (held_out, held_out_labels), f"the {len(held_out)} held-out digits against their classes")]


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


def markdown(record: dict) -> str:
    lines = ["# Sanity ladder of the generation metrics", "",
             "Real images degraded step by step at four increasing strengths; a metric must get worse at every "
             "step of every degradation, else it is blind to that degradation and the tables say so. A step "
             f"counts as no better than the one before unless it is better by more than {TOLERANCE:g} standard "
             f"deviations of the metric's own noise -- over {RESAMPLES} fresh draws of the starting images "
             "for a Frechet distance (a resample with replacement repeats images, which inflates the distance), "
             "over bootstrap resamples for a judge -- and the strongest step must be worse than the start by more "
             "than that. A Frechet distance starts from real images no network of the metric trained on, as "
             "generated images are. Rendered by "
             "`python -m studies.sanity_ladder` (studies/sanity_ladder.py), networks of seed 0 from the tables' "
             f"model cache; commit {record['provenance']['git_commit']}, {record['provenance']['device']}.", ""]
    for m in record["metrics"]:
        better = "higher" if m["higher_is_better"] else "lower"
        verdict = (f"**blind to {', '.join(m['blind_to'])}**" if m["blind_to"] else "moves with every degradation")
        lines += [f"## {m['dataset']}: {m['metric']} ({better} is better) -- {verdict}", "",
                  f"Start: {m['base']:.4g} ({m['base_note']}); noise sd {m['noise_sd']:.2g} ({m['noise_from']}).", "",
                  "| degradation | strengths | values | every step worse (within the noise) |", "|---|---|---|---|"]
        for name, r in m["degradations"].items():
            strengths = " / ".join(f"{s:g}" for s in r["strengths"])
            values = " / ".join(f"{v:.4g}" for v in r["values"])
            lines.append(f"| {name} | {r['unit']} {strengths} | {values} | {'yes' if r['monotone'] else '**no**'} |")
        lines.append("")
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
            ax.plot(range(LEVELS + 1), [m["base"], *r["values"]], "o-" if r["monotone"] else "x--", color=f"C{i}",
                    label=name + ("" if r["monotone"] else " (blind)"))
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
        p = OneLineParser(prog="python -m studies.sanity_ladder", description=__doc__.splitlines()[0])
        p.add_argument("--profile", default="cpu", choices=("smoke", "cpu"),
                       help="whose networks and data (default: cpu; the data ship offline)")
        p.add_argument("--out", type=Path, default=None,
                       help="results folder (default: runs/<profile>, untracked; the committed records: results/<profile>)")
        p.add_argument("--no-progress", action="store_true")
        args = p.parse_args(argv)
        out = args.out or Path("runs") / args.profile
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    progress = not args.no_progress
    metrics = [(m, "scenes") for m in scene_metrics(args.profile, out, progress)]
    metrics += [(m, "digits") for m in digit_metrics(args.profile, out, progress)]
    record = {"metrics": [climb(m, kind, progress) for m, kind in metrics], "provenance": provenance("cpu"),
              "feature_network": feature_network_check(args.profile, out, progress),
              "profile": args.profile, "levels": LEVELS, "seed": SEED}
    write_atomic(out / "sanity-ladder.json", json.dumps(record, indent=1))
    write_atomic(out / "sanity-ladder.md", markdown(record))
    write_atomic(out / "sanity-ladder.png", plot(record))
    for m in record["metrics"]:
        print(f"{m['dataset']}, {m['metric']}: " + (f"blind to {', '.join(m['blind_to'])}" if m["blind_to"]
                                                    else "moves with every degradation"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
