"""Damaged or foreign stored state is named, moved aside and recomputed -- never trusted, never a
traceback; every output location is checked before the work, and a write failure after the checks
keeps every finished cell."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks import run
from benchmarks.store import CellStore, record_problem
from symmflow import outputs

TABLE1 = ["--table", "1", "--profile", "smoke", "--steps", "1,2", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> Path:
    """Table 1 of the smoke profile at 1 and 2 steps, computed once (its toy network in the model cache)."""
    out = tmp_path_factory.mktemp("table1") / "out"
    assert run.main([*TABLE1, "--out", str(out)]) == 0
    return out


def cell_files(out: Path) -> list[Path]:
    return sorted((out / "cells" / "table1").glob("*.json"))


DAMAGES = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "not UTF-8": lambda text: b"\xff\xfe\x00garbage",
    "a JSON list": lambda text: "[1, 2, 3]",
    "an empty object": lambda text: "{}",
    "a non-numeric value": lambda text: json.dumps({**json.loads(text), "value": "ninety"}),
    "a NaN value": lambda text: json.dumps({**json.loads(text), "value": float("nan")}),
    "an unknown status": lambda text: json.dumps({**json.loads(text), "status": "maybe"}),
    "a skipped cell without its reason": lambda text: json.dumps({"status": "skipped"}),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_cell_is_moved_aside_named_and_recomputed(computed, tmp_path, capsys, damage, bad_input_log):
    out = tmp_path / "out"
    shutil.copytree(computed, out)
    first, second = cell_files(out)
    value = json.loads(first.read_text())["value"]
    broken = DAMAGES[damage](first.read_text())
    first.write_bytes(broken) if isinstance(broken, bytes) else first.write_text(broken)
    capsys.readouterr()
    assert run.main([*TABLE1, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(first) in warnings[0] and "damaged" in warnings[0], err
    assert "2 cells, 1 to compute, 1 stored" in err  # the damaged cell only
    assert json.loads(first.read_text())["value"] == value  # recomputed to the same number
    assert len([p for p in first.parent.iterdir() if ".damaged-" in p.name]) == 1
    bad_input_log.append({"case": f"stored cell: {damage}", "command": "python -m benchmarks.run --table 1 (rerun)",
                          "exit_status": 0, "message": warnings[0].replace(str(tmp_path), "<tmp>"),
                          "nothing_written": False})


@pytest.mark.parametrize("record, problem", [
    ({"status": "ok", "value": 1.5}, None), ({"status": "skipped", "reason": "no weights"}, None),
    ({"status": "ok", "value": True}, "not a finite number"), ({"status": "ok"}, "not a finite number"),
    ({"status": "ok", "value": float("inf")}, "not a finite number"), ("text", "not a cell record"),
])
def test_the_cell_schema(record, problem):
    found = record_problem(record)
    assert (found is None) if problem is None else (problem in found)


def test_damaged_reference_statistics_are_recomputed(tmp_path, capsys):
    import torch

    from symmflow.metrics import reference_statistics

    cache = tmp_path / "fd_stats" / "ref.npz"
    images = [torch.randn(8, 3)]
    mu, sigma = reference_statistics(cache, lambda: images, lambda x: x)
    cache.write_bytes(b"PK\x03\x04 not a zip")
    again = reference_statistics(cache, lambda: images, lambda x: x)
    assert np.allclose(again[0], mu) and np.allclose(again[1], sigma)
    assert "was damaged" in capsys.readouterr().err and len(list(cache.parent.glob("ref.npz.damaged-*"))) == 1


# ---------------------------------------------------------------- every output location, checked first


@pytest.mark.parametrize("blocked", ["cells", "checkpoints", "samples"])
def test_a_file_where_the_run_needs_a_folder_is_refused_before_any_work(refused, tmp_path, blocked):
    out = tmp_path / "out"
    out.mkdir()
    (out / blocked).write_text("a file")
    refused([*TABLE1, "--out", out], f"{out / blocked} is a file where the run needs a folder",
            command="benchmarks.run")


def test_an_output_under_a_file_is_refused(refused, tmp_path):
    (tmp_path / "a-file").write_text("")
    refused([*TABLE1, "--out", tmp_path / "a-file" / "out"], "cannot write to", command="benchmarks.run")


def test_an_unwritable_place_is_refused(refused, tmp_path):
    refused([*TABLE1, "--out", "/proc/results"], "/proc/results", command="benchmarks.run")


def test_a_full_disk_is_refused_before_any_work(refused, tmp_path, monkeypatch):
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(outputs.shutil, "disk_usage", lambda path: usage(10 ** 9, 10 ** 9 - 2 ** 20, 2 ** 20))
    (tmp_path / "out").mkdir()
    refused([*TABLE1, "--out", tmp_path / "out"], "only 1 MiB free", command="benchmarks.run")


def test_a_write_failure_after_the_checks_keeps_finished_cells_and_a_rerun_resumes(computed, tmp_path, monkeypatch,
                                                                                 capsys, bad_input_log):
    out = tmp_path / "out"
    shutil.copytree(computed, out)
    for path in cell_files(out):
        path.unlink()
    saved = []
    original = CellStore.save

    def save_then_fill_the_disk(self, cell, record, preview=None):
        if saved:
            raise OSError(28, "No space left on device", str(self.path(cell)))
        saved.append(cell)
        original(self, cell, record, preview)

    monkeypatch.setattr(CellStore, "save", save_then_fill_the_disk)
    capsys.readouterr()
    assert run.main([*TABLE1, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: could not write") and "No space left on device" in err and "rerun" in err
    assert len(cell_files(out)) == 1 and not [p for p in out.rglob(".*.json.*")]  # the first cell kept, whole
    monkeypatch.setattr(CellStore, "save", original)
    capsys.readouterr()
    assert run.main([*TABLE1, "--out", str(out)]) == 0
    assert "2 cells, 1 to compute, 1 stored" in capsys.readouterr().err and len(cell_files(out)) == 2
    bad_input_log.append({"case": "disk full after the checks", "command": "python -m benchmarks.run --table 1",
                          "exit_status": 2, "message": err.replace(str(tmp_path), "<tmp>"), "nothing_written": True})


# ---------------------------------------------------------------- the harness's numeric options


@pytest.mark.parametrize("option, value, needle", [
    ("--seed", str(2 ** 63), "from 0 to 2^63 - 1"), ("--seed", "-1", "from 0 to 2^63 - 1"),
    ("--seeds", f"0,{2 ** 64}", "from 0 to 2^63 - 1"), ("--seeds", "1,1", "distinct"),
    ("--solver", "dopri5:1e-300", "the tolerance must be a number in [1e-12, 1)"),
    ("--solver", "dopri5:nan", "the tolerance must be a number"), ("--threads", "0", "use 1 to"),
    ("--train-steps", "0", "positive number of steps"), ("--checkpoint-every", "0", "positive number of steps"),
])
def test_numeric_options_out_of_range_are_refused_before_anything_is_created(refused, tmp_path, option, value,
                                                                           needle):
    refused([*TABLE1, "--out", tmp_path / "out", option, value], needle, command="benchmarks.run")
