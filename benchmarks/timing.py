"""Timing contenders against each other on a shared machine, and how sure a ratio of times is.

Contenders are timed in one process, interleaved round by round in a rotating order, so that a
slow spell of the machine hits every contender alike.  A ratio is then read round by round --
``ours[r] / theirs[r]``, two runs seconds apart -- and summarised by its median with a bootstrap
confidence interval of that median (``scipy.stats.bootstrap``).  A target on a ratio is *met*
when the whole interval lies on its side, *missed* when the whole interval lies beyond it, and
otherwise *within the noise*: the machine cannot tell the two apart at that margin.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.stats import bootstrap

from benchmarks.memory import peak_growth_mib


@dataclass(frozen=True)
class Timing:
    """One contender's wall seconds per round (after the warm-up) and the peak memory one more call adds."""

    seconds: tuple[float, ...]
    peak_mib: float | None

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def iqr_s(self) -> float:
        if len(self.seconds) < 2:
            return 0.0
        q = statistics.quantiles(self.seconds, n=4)
        return q[2] - q[0]


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int, warmup: int,
                device: str = "cpu") -> dict[str, Timing]:
    """Each contender's wall seconds, timed in turn each round (the order rotating, so that none
    always runs first; on a GPU each call is waited for), and the peak memory one more call of it
    adds (:func:`benchmarks.memory.peak_growth_mib`)."""
    synchronize = synchronizer(device)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(warmup + rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:  # each goes first in turn
            elapsed = wall_seconds(contenders[name], synchronize)
            if r >= warmup:
                times[name].append(elapsed)
    return {name: Timing(tuple(values), peak_growth_mib(contenders[name], device))
            for name, values in times.items()}


def wall_seconds(work: Callable[[], object], synchronize: Callable[[], None]) -> float:
    """Wall seconds of one call of ``work``, the device's queue drained before and after it."""
    synchronize()
    start = time.perf_counter()
    work()
    synchronize()
    return time.perf_counter() - start


def synchronizer(device: str) -> Callable[[], None]:
    """A call that waits for ``device``'s queued work (nothing to wait for on the CPU)."""
    if device.startswith("cuda"):
        import torch

        return lambda: torch.cuda.synchronize(device)
    return lambda: None


@dataclass(frozen=True)
class Ratio:
    """The median of per-round ratios and its bootstrap confidence interval."""

    median: float
    low: float
    high: float
    confidence: float = 0.95

    def verdict(self, target: float) -> str:
        """Against a target the ratio must not exceed: met, missed or within the noise."""
        if self.high <= target:
            return "met"
        if self.low > target:
            return "missed"
        return "within the noise"


def paired_ratio(ours: Sequence[float], theirs: Sequence[float], confidence: float = 0.95,
                 resamples: int = 2_000, seed: int = 0) -> Ratio:
    """``ours[r] / theirs[r]`` round by round: its median and the percentile-bootstrap interval
    of the median at ``confidence`` (rounds resampled with replacement)."""
    if len(ours) != len(theirs) or len(ours) < 2:
        raise ValueError(f"need two equally long series of at least 2 rounds, got {len(ours)} and {len(theirs)}")
    per_round = np.asarray(ours, dtype=float) / np.asarray(theirs, dtype=float)
    if np.ptp(per_round) == 0:  # every round alike: nothing to resample
        value = float(per_round[0])
        return Ratio(value, value, value, confidence)
    found = bootstrap((per_round,), np.median, n_resamples=resamples, confidence_level=confidence,
                      method="percentile", rng=np.random.default_rng(seed))
    interval = found.confidence_interval
    return Ratio(float(np.median(per_round)), float(interval.low), float(interval.high), confidence)
