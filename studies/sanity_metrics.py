"""The tables' generation metrics as the sanity ladder climbs them (``python -m studies.sanity_ladder``):
the scene set's FD-scenenet, its FJD in the SS U-Net's features and the SS U-Net's mIoU (Tables 2, 4),
MNIST's Frechet distance and joint distance in the cross-entropy classifier's features and that
classifier's accuracy (Table 3), each with the real images it starts from; and a check of what
FD-scenenet's feature network learned."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from baselines.discriminative import Features
from benchmarks.cells import RunOptions
from benchmarks.evaluation import frechet_in
from benchmarks.measures import higher_is_better
from benchmarks.experiments.classification import CROSS_ENTROPY, ClassificationExperiment
from benchmarks.experiments.segsynth import (FEATURES, FEATURES_SEED, SegSynthExperiment, joint_metric, judge_metric,
                                             synthesis_metric)
from benchmarks.profiles import CLASSIFICATION, SEGSYNTH
from studies.sanity_climb import Metric
from studies.sanity_degradations import SEED
from symmflow.metrics import SegmentationIoU, feature_statistics, frechet_distance

UNSEEN_POOL = 4
"""Held-out scenes beyond the evaluation set the scene ladder draws on, in evaluation sets."""


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
    names = [name(exp.settings, exp.options) for name in (synthesis_metric, joint_metric, judge_metric)]
    return [Metric("scenes", names[0], higher_is_better(names[0]), fd, base, start, fresh(fd), noise),
            Metric("scenes", names[1], higher_is_better(names[1]), fjd, base, start + " (scene and mask pairs)",
                   fresh(fjd), noise),
            Metric("scenes", names[2], higher_is_better(names[2]), miou, base, start_judge, fresh(miou), noise)]


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
    shown, judged = SHOWN[settings.dataset], metric_name("classifier", False)
    return [Metric(shown, FD_METRIC, higher_is_better(FD_METRIC), fd_against(reference), base, note,
                   fresh(fd_against), noise),
            Metric(shown, FJD_METRIC, higher_is_better(FJD_METRIC), fjd_against(reference), base,
                   note + " (digit and class pairs)", fresh(fjd_against), noise),
            Metric(shown, judged, higher_is_better(judged), accuracy, (held_out, held_out_labels),
                   f"the {len(held_out)} held-out digits against their classes", hits=hits)]


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
