"""The orderings the paper claims for each table, checked on a run's cells and stated in its notes.

A claim compares two entries of a table on every data set: ``left`` at least (``higher``) or
at most ``factor`` times ``right``.  An entry is (method, steps, metric); steps ``None`` on the
right means the best value over every step count up to the left entry's.  With several seeds
a claim is only called shown (or contradicted) when the margin exceeds the larger standard
deviation of the two entries; smaller margins are reported as within the seed spread.  Two
accuracies measured on different test sets (the 2,750-NFE Diffusion Classifier runs on a
subset) are not paired: each carries its sampling error sqrt(p (1 - p) / n), and a margin
inside twice the larger one is reported as within the sampling error, whatever the seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Claim:
    text: str
    left: tuple[str, int | None, str]
    right: tuple[str, int | None, str]
    higher: bool = True
    """``left >= factor * right`` (True) or ``left <= factor * right`` (False)."""
    factor: float = 1.0


def _entry(summary: pd.DataFrame, dataset: str, method: str, steps, metric: str, best_up_to=None):
    rows = summary[(summary["dataset"] == dataset) & (summary["method"] == method) & (summary["metric"] == metric)
                   & (summary["status"] == "ok")]
    if steps is None:  # the best over the step counts up to ``best_up_to``
        rows = rows[rows["steps"].notna() & (rows["steps"] <= best_up_to)]
        if not len(rows):
            return None
        return rows.loc[rows["mean"].idxmax()]
    rows = rows[rows["steps"] == steps]
    return rows.iloc[0] if len(rows) else None


def _sampling_error(entry) -> float:
    """The binomial standard error (in points) of an accuracy in percent over its samples; 0 otherwise."""
    samples = entry.get("samples", float("nan"))
    if entry["metric"] != "accuracy" or not pd.notna(samples) or samples <= 0:
        return 0.0
    p = min(max(float(entry["mean"]) / 100, 0.0), 1.0)
    return 100 * (p * (1 - p) / float(samples)) ** 0.5


def check(claim: Claim, summary: pd.DataFrame, dataset: str) -> str | None:
    """One line: the claim on ``dataset`` and whether this run shows it; None where either
    entry is missing (not computed, skipped, or not part of the profile)."""
    left = _entry(summary, dataset, *claim.left)
    right = _entry(summary, dataset, *claim.right, best_up_to=claim.left[1])
    if left is None or right is None:
        return None
    target = claim.factor * right["mean"]
    margin = (left["mean"] - target) * (1 if claim.higher else -1)
    spread = max(float(left["sd"]) if pd.notna(left["sd"]) else 0.0,
                 float(right["sd"]) if pd.notna(right["sd"]) else 0.0)
    seeds = int(min(left["n"], right["n"]))
    unpaired = left.get("samples") != right.get("samples")
    sampling = max(_sampling_error(left), _sampling_error(right)) if unpaired else 0.0
    if abs(margin) <= 2 * sampling:
        verdict = f"within the sampling error (margin {margin:+.3g}, 2 x binomial se {2 * sampling:.3g})"
    elif seeds > 1 and abs(margin) <= spread:
        verdict = f"within the seed spread (margin {margin:+.3g}, sd {spread:.3g}, {seeds} seeds)"
    else:
        shown = "shown" if margin >= 0 else "NOT shown"
        verdict = f"{shown} (margin {margin:+.3g}" + (f", sd {spread:.3g}, {seeds} seeds)" if seeds > 1
                                                      else ", one seed)")
    right_name = f"{claim.factor:g} x " if claim.factor != 1 else ""
    right_steps = "best over steps" if claim.right[1] is None else f"{claim.right[1]} steps"
    values = (f"{claim.left[0]} {claim.left[2]} at {claim.left[1]} steps {left['mean']:.3g} against "
              f"{right_name}{claim.right[0]} at {right_steps} {right['mean']:.3g}")
    return f"{dataset}: {claim.text} -- {verdict}: {values}"


def claims_notes(claims: tuple[Claim, ...], summary: pd.DataFrame) -> list[str]:
    """Markdown lines stating each claim on each data set of ``summary``."""
    lines = []
    for dataset in summary["dataset"].dropna().unique():
        lines += [f"- {line}" for claim in claims if (line := check(claim, summary, dataset))]
    return ["The paper's claims for this table, on this run:", "", *lines, ""] if lines else []
