"""The orderings the paper claims for each table, checked on a run's cells and stated in its notes.

A claim compares two entries of a table on every data set, each entry a (method, steps): the
left one at least (``higher``) or at most ``factor`` times the right one, on each metric the
claim names.  Steps ``None`` on the right means the best value over every step count up to the
left entry's (the largest where the claim wants the left entry high, the smallest otherwise).

Which margin is a claim, over seeds:

* **paired** entries come from the same networks (SymmFlow at 1 and at 25 steps), or are measured
  by the same network of each seed (a judge the run trains per seed, or its features: both
  methods' samples of seed s are scored by seed s's SS U-Net, whose scale differs from seed to
  seed): the margin is the mean of the per-seed differences, and it is a claim only where it
  exceeds the standard deviation of those differences;
* **unpaired** entries (two methods): a claim only where the margin exceeds the larger standard
  deviation of the two entries;
* two accuracies measured on different test sets (the 2,750-NFE Diffusion Classifier runs on a
  subset) also carry their sampling error sqrt(p (1 - p) / n): a margin inside twice the larger
  one is within the sampling error, whatever the seeds.

A claim on several metrics (synthesis: a Frechet distance and the judge's mIoU of the samples)
is checked on each metric the run has; where one of them is not computed yet there is no
verdict until it is (a skipped one, e.g. no judge supplied, is named and the others decide).
A metric that failed the sanity ladder (``ladder``: (dataset, metric) -> its :class:`LadderFailures`)
is marked.  One blind to a degradation does not decide: where it disagrees with the metrics that
see every degradation, those decide and the line says the blind one was overruled.  One that sees
every degradation but not monotonically still decides, marked.  Where the deciding metrics
disagree, the line says so instead of a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from benchmarks.prose import claim_text


@dataclass(frozen=True)
class LadderFailures:
    """What the sanity ladder found wrong with one metric (studies/sanity_ladder.py)."""
    blind_to: tuple[str, ...] = ()
    """Degradations whose strongest step it does not score worse than the real images."""
    not_monotone_in: tuple[str, ...] = ()
    """Degradations it sees, but with a step it scores better than the one before."""

    def __str__(self) -> str:
        return "; ".join(([f"blind to {', '.join(self.blind_to)}"] if self.blind_to else [])
                         + ([f"not monotone in {', '.join(self.not_monotone_in)}"] if self.not_monotone_in else []))


@dataclass(frozen=True)
class Claim:
    text: str
    left: tuple[str, int | None]
    """(method row, steps)."""
    right: tuple[str, int | None]
    """(method row, steps); steps ``None``: the best over the step counts up to the left's."""
    metrics: tuple[tuple[str, bool], ...]
    """(metric, higher): on ``metric`` the claim wants ``left >= factor * right`` (``higher``) or
    ``left <= factor * right``."""
    factor: float = 1.0
    paired: bool = False
    """Both entries come from the same networks (one method at two step counts)."""
    seeded_metrics: tuple[str, ...] = ()
    """Metrics measured by a network the run trains with each seed (a judge, its features): on
    these both entries of a seed are measured by the same network, so they are paired."""


def stated(key: str, left: tuple[str, int | None], right: tuple[str, int | None],
           metrics: tuple[tuple[str, bool], ...], **options) -> Claim:
    """The claim ``key`` of ``paper_tables/claims.json``, its text's step counts those of its entries."""
    return Claim(claim_text(key, left_steps=left[1], right_steps=right[1]), left, right, metrics, **options)


@dataclass(frozen=True)
class Verdict:
    kind: str
    """``shown``, ``NOT shown``, ``within the seed spread`` or ``within the sampling error``."""
    text: str
    """The verdict with its margin and the noise it was judged against."""
    values: str
    """Both entries' values."""


def _values(cells: pd.DataFrame, dataset: str, method: str, metric: str) -> pd.DataFrame:
    """The finished values of one (dataset, method, metric): steps, seed, value, samples."""
    rows = cells[(cells["dataset"] == dataset) & (cells["method"] == method) & (cells["metric"] == metric)
                 & (cells["status"] == "ok")].copy()
    rows["value"] = pd.to_numeric(rows["value"], errors="coerce")
    return rows.dropna(subset=["value"])


def _entry(rows: pd.DataFrame, steps, higher: bool, best_up_to=None) -> pd.DataFrame | None:
    """The per-seed rows of one entry; steps ``None``: the step count with the best mean."""
    if steps is None:
        rows = rows[rows["steps"].notna() & (rows["steps"] <= best_up_to)]
        if not len(rows):
            return None
        means = rows.groupby("steps")["value"].mean()
        steps = means.idxmax() if higher else means.idxmin()
    rows = rows[rows["steps"] == steps]
    return rows if len(rows) else None


def _sampling_error(metric: str, mean: float, samples) -> float:
    """The binomial standard error (in points) of an accuracy in percent over its samples; 0 otherwise."""
    if metric != "accuracy" or not pd.notna(samples) or samples <= 0:
        return 0.0
    p = min(max(mean / 100, 0.0), 1.0)
    return 100 * (p * (1 - p) / float(samples)) ** 0.5


def _sd(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def verdict(claim: Claim, cells: pd.DataFrame, dataset: str, metric: str, higher: bool) -> Verdict | None:
    """The claim on one metric of ``dataset``; None where either entry is missing."""
    rows = {side: _values(cells, dataset, getattr(claim, side)[0], metric) for side in ("left", "right")}
    left = _entry(rows["left"], claim.left[1], higher)
    right = _entry(rows["right"], claim.right[1], higher, best_up_to=claim.left[1])
    if left is None or right is None:
        return None
    sign = 1 if higher else -1
    left_mean, right_mean = left["value"].mean(), right["value"].mean()
    seeds = int(min(left["seed"].nunique(), right["seed"].nunique()))
    paired = claim.paired or metric in claim.seeded_metrics
    if paired:
        both = left.groupby("seed")["value"].mean().to_frame("left").join(
            right.groupby("seed")["value"].mean().to_frame("right"), how="inner")
        differences = (both["left"] - claim.factor * both["right"]) * sign
        margin, spread, seeds = float(differences.mean()), _sd(differences), len(differences)
        noise = f"sd of the per-seed difference {spread:.3g}"
    else:
        margin = (left_mean - claim.factor * right_mean) * sign
        spread = max(_sd(left["value"]), _sd(right["value"]))
        noise = f"sd {spread:.3g}"
    left_n, right_n = left["samples"].min(), right["samples"].min()
    sampling = 0.0
    if not paired and left_n != right_n:  # accuracies on different test sets
        sampling = max(_sampling_error(metric, left_mean, left_n), _sampling_error(metric, right_mean, right_n))
    if abs(margin) <= 2 * sampling:
        kind, text = "within the sampling error", f"margin {margin:+.3g}, 2 x binomial se {2 * sampling:.3g}"
    elif seeds > 1 and abs(margin) <= spread:
        kind, text = "within the seed spread", f"margin {margin:+.3g}, {noise}, {seeds} seeds"
    else:
        kind = "shown" if margin >= 0 else "NOT shown"
        text = f"margin {margin:+.3g}" + (f", {noise}, {seeds} seeds" if seeds > 1 else ", one seed")
    factor = f"{claim.factor:g} x " if claim.factor != 1 else ""
    right_steps = "best over steps" if claim.right[1] is None else f"{claim.right[1]} steps"
    values = (f"{claim.left[0]} {metric} at {claim.left[1]} steps {left_mean:.3g} against "
              f"{factor}{claim.right[0]} at {right_steps} {right_mean:.3g}")
    return Verdict(kind, text, values)


def _unfinished(claim: Claim, cells: pd.DataFrame, dataset: str, metric: str) -> str | None:
    """The status (``skipped``, ``not computed``) of a claim's metric that the table has cells for
    but no finished value on one of the claim's entries; None where the table has no such cells."""
    rows = cells[(cells["dataset"] == dataset) & (cells["metric"] == metric)
                 & cells["method"].isin([claim.left[0], claim.right[0]]) & (cells["status"] != "ok")]
    return str(rows["status"].iloc[0]) if len(rows) else None


def check(claim: Claim, cells: pd.DataFrame, dataset: str, ladder: dict | None = None) -> str | None:
    """One line: the claim on ``dataset`` and whether this run shows it, on every metric of the
    claim the run has; None where no metric has both entries (not computed, skipped, or not
    part of the profile).  ``cells`` holds one row per cell and seed (dataset, method, steps,
    metric, status, value, seed, samples)."""
    found = [(metric, v) for metric, higher in claim.metrics
             if (v := verdict(claim, cells, dataset, metric, higher)) is not None]
    unfinished = {metric: status for metric, _ in claim.metrics
                  if metric not in dict(found) and (status := _unfinished(claim, cells, dataset, metric))}
    missing = [metric for metric, status in unfinished.items() if status != "skipped"]
    if not found:  # nothing measured: a line only where something is still to compute
        return (f"{dataset}: {claim.text} -- no verdict: {', '.join(missing)} not computed on this run"
                if missing else None)

    def marked(metric: str) -> str:
        failures = (ladder or {}).get((dataset, metric))
        return f"{metric} (fails the sanity ladder: {failures})" if failures else metric

    def blind(metric: str) -> bool:
        return bool(getattr((ladder or {}).get((dataset, metric)), "blind_to", ()))

    skipped = "".join(f" [{metric} skipped]" for metric, status in unfinished.items() if status == "skipped")
    if missing:  # a metric the table measures is not in yet: the others cannot decide alone
        per_metric = "; ".join(f"{marked(metric)}: {v.kind} ({v.text}), {v.values}" for metric, v in found)
        return (f"{dataset}: {claim.text} -- no verdict until {', '.join(missing)} is computed too "
                f"({unfinished[missing[0]]} on this run); so far {per_metric}")
    if len(found) == 1:
        metric, v = found[0]
        ladder = f" [{marked(metric)}]" if marked(metric) != metric else ""
        return f"{dataset}: {claim.text} -- {v.kind} ({v.text}): {v.values}{ladder}{skipped}"
    kinds = {v.kind for _, v in found}
    per_metric = "; ".join(f"{marked(metric)}: {v.kind} ({v.text}), {v.values}" for metric, v in found)
    if len(kinds) == 1:
        return f"{dataset}: {claim.text} -- {found[0][1].kind} on every metric: {per_metric}{skipped}"
    sound = [(metric, v) for metric, v in found if not blind(metric)]
    sound_kinds = {v.kind for _, v in sound}
    if len(sound_kinds) == 1:  # only metrics blind on the ladder disagree
        kind = sound[0][1].kind
    elif "NOT shown" in sound_kinds and "shown" not in sound_kinds:
        kind = "NOT shown"  # no sound metric shows the claim, and one shows the opposite ordering
    else:  # sound metrics order the two entries both ways (or none decides): no verdict
        return f"{dataset}: {claim.text} -- the metrics disagree, so no verdict: {per_metric}{skipped}"
    overruled = [metric for metric, v in found if blind(metric) and v.kind != kind]
    blind_part = (f"; {', '.join(overruled)} disagrees and is blind to a degradation, so it does not decide"
                  if overruled else "")
    return (f"{dataset}: {claim.text} -- {kind} on the metrics that see every degradation of the sanity ladder "
            f"({', '.join(metric for metric, _ in sound)}{blind_part}): {per_metric}{skipped}")


def claims_notes(claims: tuple[Claim, ...], cells: pd.DataFrame, ladder: dict | None = None) -> list[str]:
    """Markdown lines stating each claim on each data set of ``cells``."""
    lines = []
    for dataset in cells["dataset"].dropna().unique():
        lines += [f"- {line}" for claim in claims if (line := check(claim, cells, dataset, ladder))]
    return ["The paper's claims for this table, on this run:", "", *lines, ""] if lines else []
