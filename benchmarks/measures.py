"""What a table's cell measures, declared once: the measure registry.

A :class:`Measure` names its task, the metric the tables show, whether higher is better, the trained
networks a cell needs beside its method's and the supplied weights its number depends on.  Each is
registered once with :func:`register_measure` under (family, key): the family is the tables that
share its experiment (``classification``: Tables 3 and 11; ``segsynth``: Tables 2, 4 and 5), the key
the value of a cell's ``measure`` parameter.  The tables look a measure up with :func:`measure`; the
claims and the sanity ladder read a metric's direction by its shown name (:func:`higher_is_better`,
:func:`directions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from benchmarks import judges
from symmflow.metrics import CLEAN_FID, PYTORCH_FID
from symmflow.models.features import NAME as FEATURE_NAME


@dataclass(frozen=True)
class Measure:
    """One thing a cell measures."""

    family: str
    """The tables that share its experiment: ``classification`` or ``segsynth``."""
    key: str
    """The value of a cell's ``measure`` parameter."""
    task: str
    """The cell's task (``classification``, ``generation``, ``synthesis``, ...)."""
    metric: str | None
    """The metric's name in the tables; None where a run names it (:attr:`named`)."""
    higher_is_better: bool
    names: tuple[str, ...] = ()
    """Every name the tables may show it under (default: ``metric``)."""
    named: Callable[[Any, Any], str] | None = None
    """(profile settings, run options) -> the metric's name in that run, where it depends on them."""
    networks: tuple[str, ...] | None = ()
    """The methods (registry keys) whose trained networks a cell needs beside its own method's;
    None: no trained network at all."""
    weights: tuple[str, ...] = ()
    """The supplied weights folders its number depends on (``inception``, ``lpips``)."""
    protocol: str | None = None
    """The protocol its cells record (None: the metric's own, :data:`symmflow.metrics.PROTOCOLS`)."""
    compute: Callable[[Any, Any, Any], dict] | None = None
    """(cell, experiment, options) -> the cell's record; None: the table's own ``measure`` computes it."""

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every name the tables may show this measure under."""
        return self.names or (self.metric,)

    def metric_in(self, settings, options) -> str:
        """The metric's name in a run of ``settings`` (the profile's) and ``options``."""
        return self.named(settings, options) if self.named is not None else self.metric


MEASURES: dict[tuple[str, str], Measure] = {}
"""(family, key) -> its measure, filled by :func:`register_measure`."""


def register_measure(declared: Measure) -> Measure:
    """Add ``declared`` to :data:`MEASURES`; refused where its (family, key) is taken or one of its
    metric names is already declared with the other direction."""
    if (declared.family, declared.key) in MEASURES:
        raise ValueError(f"measure {declared.key!r} of {declared.family} is declared twice")
    for name in declared.metrics:
        other = next((m for m in MEASURES.values() if name in m.metrics), None)
        if other is not None and other.higher_is_better != declared.higher_is_better:
            raise ValueError(f"metric {name!r} is declared higher-is-better {other.higher_is_better} by "
                             f"{other.family} {other.key!r}, not {declared.higher_is_better}")
    MEASURES[(declared.family, declared.key)] = declared
    return declared


def measure(family: str, key: str) -> Measure:
    """The measure ``key`` of ``family``'s tables; a KeyError naming the known ones otherwise."""
    try:
        return MEASURES[(family, key)]
    except KeyError:
        known = ", ".join(k for f, k in MEASURES if f == family) or "none"
        raise KeyError(f"no measure {key!r} for the {family} tables (declared: {known})") from None


def higher_is_better(metric: str) -> bool:
    """Whether a higher value of the metric shown as ``metric`` is better."""
    found = next((m for m in MEASURES.values() if metric in m.metrics), None)
    if found is None:
        raise KeyError(f"no measure shows the metric {metric!r}; declare it in benchmarks.measures")
    return found.higher_is_better


def directions(metrics) -> tuple[tuple[str, bool], ...]:
    """(metric, higher is better) of each of ``metrics``, in their order: what a claim is checked on."""
    return tuple((metric, higher_is_better(metric)) for metric in metrics)


# ---- the metrics a run names

def _judge_of_samples(settings, options) -> str:
    """Table 3's judge's accuracy of the generated images: the run's classifier or a supplied one."""
    return judges.metric_name("classifier", options.judges.get("classifier") is not None)


def _segsynth_named(function: str) -> Callable[[Any, Any], str]:
    """The name a segsynth metric has in a run, by ``function`` of :mod:`benchmarks.experiments.segsynth_metrics`
    (imported when a run asks: a Table 1 run imports no other table family)."""
    def named(settings, options) -> str:
        from benchmarks.experiments import segsynth_metrics

        return getattr(segsynth_metrics, function)(settings, options)

    return named


# ---- Tables 3 and 11

FD_METRIC = "FD (U-Net classifier features)"
FJD_METRIC = "FJD (U-Net classifier features)"
FLOW_MATCHING, CROSS_ENTROPY = "flow-matching", "cross-entropy"
"""The method keys of the networks a classification measure may need beside the method's (the
experiments of Tables 3 and 11 take them from here)."""

for _declared in (
        Measure("classification", "accuracy", "classification", "accuracy", True),
        Measure("classification", "auc", "classification", "one-vs-rest AUC", True),
        Measure("classification", "dc-accuracy", "classification", "accuracy", True, networks=(FLOW_MATCHING,)),
        Measure("classification", "speed-up", "speed-up", "speed-up (images/s ratio)", True,
                networks=(FLOW_MATCHING,)),
        Measure("classification", "time", "footprint", "time (ms / image)", False, networks=None),
        Measure("classification", "memory", "footprint", "peak memory added (MiB)", False, networks=None),
        Measure("classification", "frechet", "generation", FD_METRIC, False, networks=(CROSS_ENTROPY,)),
        Measure("classification", "joint", "generation", FJD_METRIC, False, networks=(CROSS_ENTROPY,)),
        Measure("classification", "judged", "generation", None, True, named=_judge_of_samples,
                names=tuple(judges.metric_name("classifier", supplied) for supplied in (False, True)),
                networks=(CROSS_ENTROPY,))):
    register_measure(_declared)

# ---- Tables 2, 4 and 5

JUDGED_PROTOCOL = ("each synthesised image segmented by a segmenter trained on real images only, mIoU against the "
                   "mask it was synthesised from (dataset-level confusion matrix, ignore index excluded)")
JOINT_PROTOCOL = ("Frechet joint distance (DeVries et al. 2019) of [image features, alpha x mask layout] against the "
                  "evaluation pairs: the mask embedded as each class's share of each cell of a 4 x 4 grid, the image "
                  "by the embedding the metric names (Inception's pooled features, the SS U-Net's middle block "
                  "averaged over space, or the layout of a supplied segmenter's segmentation), alpha the "
                  "evaluation set's mean image-embedding norm over its mean mask-embedding norm")
JOINT_NAMES = ("FJD (clean-fid Inception)", f"FJD ({judges.judge_name('segmenter', False)} features)",
               f"FJD ({judges.judge_name('segmenter', True)} layout)")
"""Every name of the joint distance of synthesis, one per image embedding."""

for _declared in (
        Measure("segsynth", "miou", "segmentation", "mIoU", True),
        Measure("segsynth", "frechet", "synthesis", None, False, named=_segsynth_named("synthesis_metric"),
                names=(CLEAN_FID, f"FD-{FEATURE_NAME}"), weights=("inception",)),
        Measure("segsynth", "pytorch-fid", "synthesis", PYTORCH_FID, False, weights=("inception",)),
        Measure("segsynth", "joint", "synthesis", None, False, named=_segsynth_named("joint_metric"), names=JOINT_NAMES,
                weights=("inception",), protocol=JOINT_PROTOCOL),
        Measure("segsynth", "judged", "synthesis", None, True, named=_segsynth_named("judge_metric"),
                names=tuple(judges.metric_name("segmenter", supplied) for supplied in (False, True)),
                protocol=JUDGED_PROTOCOL),
        Measure("segsynth", "lpips", "synthesis", "LPIPS", False, weights=("lpips",)),
        Measure("segsynth", "diversity", "synthesis", "LPIPS-diversity", True, weights=("lpips",))):
    register_measure(_declared)
