"""What a table's notes take from the studies' records in its folder: the sentences a study writes
for a profile's tables (``front-notes.json``) and the sanity ladder's verdict on each generation
metric (``sanity-ladder.json``: real images degraded step by step, results/cpu/sanity-ladder.md).
A record a table declares it reads (:func:`benchmarks.render.report.study_records`) that is missing
or cannot be read is named in one line of the table instead (:func:`read_record`)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchmarks.claims import LadderFailures

FRONT_NOTES, SANITY_LADDER = "front-notes.json", "sanity-ladder.json"
WRITTEN_BY = {FRONT_NOTES: "python -m studies.front", SANITY_LADDER: "python -m studies.sanity_ladder"}
"""Each study record the tables read -> the command that writes it."""


def front_problem(record: dict) -> str:
    """What is wrong with a ``front-notes.json`` object ('' where nothing)."""
    if not isinstance(record.get("notes"), dict):
        return "no 'notes' object"
    return ""


def ladder_problem(record: dict) -> str:
    """What is wrong with a ``sanity-ladder.json`` object ('' where nothing)."""
    metrics = record.get("metrics")
    if not isinstance(metrics, list) or not all(
            isinstance(m, dict) and {"dataset", "metric", "blind_to"} <= m.keys() for m in metrics):
        return "no list of 'metrics', each with its dataset, metric and blind_to"
    return ""


SHAPE_PROBLEM = {FRONT_NOTES: front_problem, SANITY_LADDER: ladder_problem}


def read_record(out: Path, name: str) -> tuple[dict | None, str]:
    """Study record ``name`` of ``out`` as its JSON object and '' -- or None and the one line a table
    shows in place of what it adds: the file is missing, or cannot be read as that record."""
    path, command = Path(out) / name, WRITTEN_BY[name]
    if not path.is_file():
        return None, f"Not shown: {name} is not in this folder (`{command}` writes it)."
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:  # unreadable, not UTF-8, not JSON
        return None, f"Not shown: {name} could not be read ({error}); rerun `{command}`."
    problem = SHAPE_PROBLEM[name](record) if isinstance(record, dict) else "not a JSON object"
    if problem:
        return None, f"Not shown: {name} is not a record of `{command}` ({problem}); rerun it."
    return record, ""


def study_notes(record: dict | None, profile: str) -> dict[str, str]:
    """Sentences a study writes for the tables' notes of one profile, by data set (the object of
    ``front-notes.json``: ``python -m studies.front``); empty without one, or for another profile."""
    if record is None or record.get("profile") != profile:
        return {}
    return {str(k): str(v) for k, v in record["notes"].items()}


def ladder(record: dict | None) -> tuple[dict[tuple[str, str], LadderFailures], set[tuple[str, str]]]:
    """From the sanity ladder's record (the object of ``sanity-ladder.json``, written by
    ``python -m studies.sanity_ladder``): (dataset, metric) -> what the ladder found wrong with the
    metric, for each that failed it, and every (dataset, metric) the ladder checked; empty without one."""
    metrics = [] if record is None else record["metrics"]
    failures = {(m["dataset"], m["metric"]): LadderFailures(tuple(m["blind_to"]), tuple(m.get("not_monotone_in", ())))
                for m in metrics}
    return ({key: f for key, f in failures.items() if str(f)}, {(m["dataset"], m["metric"]) for m in metrics})


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
