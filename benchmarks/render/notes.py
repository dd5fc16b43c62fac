"""What a table's notes take from the studies' records in its folder: the sentences a study writes
for a profile's tables (``front-notes.json``) and the sanity ladder's verdict on each generation
metric (``sanity-ladder.json``: real images degraded step by step, results/cpu/sanity-ladder.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchmarks.claims import LadderFailures


def study_notes(out: Path, name: str, profile: str) -> dict[str, str]:
    """Sentences a study writes for the tables' notes of one profile, by data set
    (``front-notes.json``: ``python -m studies.front``); empty where the study has not run."""
    try:
        record = json.loads((Path(out) / name).read_text())
        notes = record["notes"] if record["profile"] == profile else {}
        return {str(k): str(v) for k, v in notes.items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def ladder(out: Path) -> tuple[dict[tuple[str, str], LadderFailures], set[tuple[str, str]]]:
    """From the sanity ladder's record in ``out`` (``sanity-ladder.json``, written by
    ``python -m studies.sanity_ladder``): (dataset, metric) -> what the ladder found wrong with the
    metric, for each that failed it, and every (dataset, metric) the ladder checked; empty where
    there is no record."""
    path = Path(out) / "sanity-ladder.json"
    try:
        metrics = json.loads(path.read_text())["metrics"]
        failures = {(m["dataset"], m["metric"]): LadderFailures(tuple(m["blind_to"]),
                                                                tuple(m.get("not_monotone_in", ())))
                    for m in metrics}
        return ({key: f for key, f in failures.items() if str(f)}, {(m["dataset"], m["metric"]) for m in metrics})
    except (OSError, ValueError, KeyError, TypeError):
        return {}, set()


def ladder_lines(df: pd.DataFrame, failures: dict, checked: set) -> list[str]:
    """What the sanity ladder says of the generation metrics of this table."""
    lines = []
    for dataset, metric in sorted({(d, m) for d, m in zip(df["dataset"], df["metric"])} & checked):
        found = failures.get((dataset, metric))
        lines.append(f"- {dataset}, {metric}: " + (f"fails: {found}" if found
                                                    else "passes: moves monotonically with every degradation"))
    return ["Sanity ladder of the generation metrics (sanity-ladder.md): real images degraded step by step; "
            "a metric blind to a degradation cannot see it (and does not decide a claim its seeing peers "
            "contradict); one not monotone in it scores some step better than a milder one.", "", *lines, ""] \
        if lines else []
