"""Helpers the reproducibility tests share: a run's stored cells, its network as a supplied file, one thread."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

RELEASED = " (released weights)"


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the tiny networks' runs are several times faster on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cells(out: Path) -> dict[tuple, float]:
    """(table, dataset, method, metric, steps) -> stored value of every computed cell under ``out``;
    a supplied network's rows under the method's own name."""
    found = {}
    for table in sorted(out.glob("table*.csv")):
        with table.open() as f:
            for row in csv.DictReader(f):
                if row["status"] != "ok":
                    continue
                stored = json.loads((out / "cells" / f"table{row['table']}" / f"{row['cell']}.json").read_text())
                found[(row["table"], row["dataset"], row["method"].removesuffix(RELEASED), row["metric"],
                       row["steps"])] = stored["value"]
    return found


def symmflow_rows(found: dict) -> dict:
    return {k: v for k, v in found.items() if k[2].startswith("SymmFlow")}


def exported(out: Path, path: Path) -> Path:
    """The SymmFlow network the run under ``out`` trained, written as a supplied weights file."""
    from safetensors.torch import load_file

    (folder,) = [p for p in (out / "checkpoints").glob("symmflow-*") if p.suffix != ".run"]
    state = load_file(str(folder / "model.safetensors"))
    torch.save({k.removeprefix("unet."): v for k, v in state.items()}, path)  # released.matched finds the prefix
    return path


def assert_sharded_equal(single: dict, sharded: dict) -> None:
    """The cells of a two-process run equal the single-process ones within float reduction order."""
    assert single.keys() == sharded.keys() and single
    for key, value in single.items():
        assert sharded[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def rerun_on_copies(first: Path, tmp_path: Path, main, copies: int = 1) -> None:
    """The run of ``main(out, *extra)`` repeated with --force on copies of ``first``: the same cells."""
    stored = cells(first)
    for n in range(copies):
        copy = tmp_path / f"copy{n}"
        shutil.copytree(first, copy)
        assert main(copy, "--force") == 0
        assert cells(copy) == stored
