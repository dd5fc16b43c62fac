"""A table's stored cells as one frame: a row per cell, with the paper's published value beside it
(``paper_tables/tableN.csv``, joined on the paper's metric names: its FID is pytorch-fid's) and the
difference -- what tableN.csv holds and every other rendering of the table starts from."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.cells import Cell
from symmflow.metrics import CLEAN_FID, PYTORCH_FID

PAPER_TABLES = Path(__file__).resolve().parents[2] / "paper_tables"
JOIN = ["dataset", "task", "method", "steps", "metric"]
COLUMNS = ["table", "dataset", "task", "method", "steps", "metric", "value", "published",
           "difference", "status", "reason", "nfe_per_sample", "samples_per_s", "wall_s",
           "train_s", "samples", "note", "seed", "profile", "solver", "git_commit", "versions",
           "device", "cell"]
LATER_COLUMNS = ["eval_precision", "train_precision", "machine"]
"""Columns of a record that older cells do not hold (the evaluation precision of bf16 cells, the
training precision and the machine of cells computed since): in a table's CSV only where one of
its cells has them."""


PUBLISHED_AS = {CLEAN_FID: "FID", PYTORCH_FID: "FID"}
"""Our metric -> the paper's column it is compared with (the paper's FID is pytorch-fid's)."""


def published(table: str) -> pd.DataFrame:
    file = PAPER_TABLES / f"table{table}.csv"
    if not file.is_file():
        return pd.DataFrame(columns=JOIN + ["value", "status", "quoted", "note"])
    frame = pd.read_csv(file, dtype={"table": str})
    frame["steps"] = frame["steps"].astype("Int64")
    return frame


def frame(cells: list[Cell], records: list[dict], table: str, compare=None) -> pd.DataFrame:
    """One row per cell, the published value beside it (``compare`` maps our dataset name
    to the paper's when they differ, e.g. a smaller offline stand-in)."""
    rows = []
    for cell, record in zip(cells, records):
        row = {"table": cell.table, "dataset": cell.dataset, "task": cell.task, "method": cell.method,
               "steps": cell.steps, "metric": cell.metric, "cell": cell.key, **record}
        rows.append(row)
    out = pd.DataFrame(rows)
    out["steps"] = out["steps"].astype("Int64")
    paper = published(table)
    paper = paper[paper["status"] == "reported"][JOIN + ["value"]].rename(columns={"value": "published"})
    paper["published"] = paper["published"].astype(float)
    key = out[JOIN].copy()
    key["metric"] = key["metric"].replace(PUBLISHED_AS)
    if compare is not None:
        key["dataset"] = key["dataset"].map(compare)
    merged = key.merge(paper, on=JOIN, how="left")
    out["published"] = merged["published"].to_numpy()
    for column in COLUMNS:
        if column not in out:
            out[column] = pd.NA
    out["difference"] = pd.to_numeric(out["value"], errors="coerce") - out["published"]
    return out[COLUMNS + [column for column in LATER_COLUMNS if column in out]]
