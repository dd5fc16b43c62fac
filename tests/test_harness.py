"""The benchmark harness: bad input, stored cells, reruns, interruptions, rendering."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from baselines.diffusion_classifier import Schedule
from benchmarks import run
from benchmarks.cells import Cell, PlotSpec, RunOptions
from benchmarks.store import CellStore
from benchmarks.tables.base import Table
from symmflow.metrics import MetricUnavailable
from symmflow.outputs import write_atomic

ROOT = Path(__file__).resolve().parent.parent


class CountingTable(Table):
    """A fast stand-in table: value = 10 * steps; can fail after ``fail_after`` cells."""

    name, title, plot = "1", "stand-in", PlotSpec(metrics=("accuracy",))

    def __init__(self, fail_after=None):
        self.computed, self.fail_after = [], fail_after

    def cells(self, options):
        return [Cell.make("1", "two-spirals", "classification", "SymmFlow", s, "accuracy",
                          profile=options.profile, seed=options.seed) for s in options.steps or (1, 2, 5)]

    def needs(self, options):
        return ["nothing"]

    def compute(self, todo, options, finish, experiments):
        for cell in todo:
            if self.fail_after is not None and len(self.computed) == self.fail_after:
                raise RuntimeError("power cut")
            self.computed.append(cell.steps)
            finish(cell, {"value": 10.0 * cell.steps, "nfe_per_sample": cell.steps, "wall_s": 0.5, "samples": 100})


def only(spec) -> dict:
    """A table registry holding ``spec`` as table 1 (``run.main``'s ``available``)."""
    return {"1": spec}


def test_rerun_skips_stored_cells_and_force_recomputes(tmp_path):
    spec = CountingTable()
    args = ["--table", "1", "--out", str(tmp_path), "--no-progress"]
    assert run.main(args, only(spec)) == 0 and spec.computed == [1, 2, 5]
    assert run.main(args, only(spec)) == 0 and spec.computed == [1, 2, 5]
    assert run.main(args + ["--force"], only(spec)) == 0 and spec.computed == [1, 2, 5, 1, 2, 5]
    df = pd.read_csv(tmp_path / "table1.csv")
    assert list(df["value"]) == [10.0, 20.0, 50.0]
    assert list(df["published"]) == [100.0, 92.0, 87.0]  # joined from paper_tables/table1.csv
    assert list(df["samples_per_s"]) == [200.0] * 3
    assert df["git_commit"].notna().all() and df["versions"].str.contains("torch=").all()
    for suffix in (".md", ".tex", ".png"):
        assert (tmp_path / f"table1{suffix}").stat().st_size > 0
    assert "| published" in (tmp_path / "table1.md").read_text().replace("|   published", "| published")


def test_render_only_computes_nothing_and_shows_what_is_not_stored(tmp_path, capsys):
    spec = CountingTable()
    args = ["--table", "1", "--out", str(tmp_path), "--no-progress"]
    with pytest.raises(RuntimeError):  # two of the three cells stored
        run.main(args, only(CountingTable(fail_after=2)))
    assert run.main(args + ["--render-only"], only(spec)) == 0 and spec.computed == []
    df = pd.read_csv(tmp_path / "table1.csv")
    assert list(df["status"]) == ["ok", "ok", "not computed"] and df["value"].isna().tolist() == [False, False, True]
    assert "| not computed" in (tmp_path / "table1.md").read_text()
    assert len(list((tmp_path / "cells" / "table1").glob("*.json"))) == 2 and not (tmp_path / "runs").exists()
    capsys.readouterr()
    assert run.main(args + ["--render-only", "--force"], only(spec)) == 2 and spec.computed == []
    assert "--render-only computes nothing" in capsys.readouterr().err


def test_interrupted_run_keeps_finished_cells(tmp_path):
    args = ["--table", "1", "--out", str(tmp_path), "--no-progress"]
    with pytest.raises(RuntimeError):
        run.main(args, only(CountingTable(fail_after=2)))
    assert len(list((tmp_path / "cells" / "table1").glob("*.json"))) == 2
    assert not list((tmp_path / "cells" / "table1").glob(".*"))  # no half-written files
    resumed = CountingTable()
    assert run.main(args, only(resumed)) == 0 and resumed.computed == [5]


def test_settings_change_the_cell_identity():
    a = Cell.make("1", "d", "t", "m", 1, "acc", seed=0)
    assert a.key == Cell.make("1", "d", "t", "m", 1, "acc", seed=0).key
    assert a.key != Cell.make("1", "d", "t", "m", 1, "acc", seed=1).key
    assert a.key != Cell.make("1", "d", "t", "m", 2, "acc", seed=0).key



def test_a_cell_carries_its_parameters_as_given_and_is_keyed_by_their_canonical_text():
    keep = (3, 1)  # a tuple: a text round trip would give back a list
    a = Cell.make("3", "d", "t", "m", 1, "acc", seed=0, params={"method": "x", "keep": keep})
    assert a.param("keep") is keep and a.param("method") == "x"
    # the key hashes the canonical JSON of the settings, so a list and a tuple of one value are one cell
    b = Cell.make("3", "d", "t", "m", 1, "acc", seed=0, params={"method": "x", "keep": [3, 1]})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Cell.make("3", "d", "t", "m", 1, "acc", seed=0, params={"method": "y", "keep": keep})

def test_write_atomic_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "x.json"
    write_atomic(target, "old")
    with pytest.raises(TypeError):  # fails while writing the temporary file
        write_atomic(target, object())
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_store_round_trip(tmp_path):
    store, cell = CellStore(tmp_path), Cell.make("9", "d", "t", "m", None, "acc")
    assert not store.has(cell) and store.load(cell) is None
    store.save(cell, {"status": "ok", "value": 1.5})
    assert store.has(cell) and store.load(cell) == {"status": "ok", "value": 1.5}


@pytest.mark.parametrize("args,needle", [
    (["--table", "7"], "unknown table '7'"),
    (["--table", "1", "--steps", "0,1"], "positive integer"),
    (["--table", "1", "--steps", "two"], "comma-separated"),
    (["--table", "1", "--solver", "rk45"], "unknown solver 'rk45'"),
    (["--table", "1", "--profile", "huge"], "unknown profile 'huge'"),
    (["--table", "1", "--device", "tpu"], "not a device"),
    (["--steps", "1"], "--table"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path, capsys):
    out = tmp_path / "out"
    assert run.main(args + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error:") and needle in err
    assert not out.exists()


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert run.main(["--table", "1", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"cannot write to {blocker / 'sub'}" in err and "--out" in err


def test_command_line_exit_status_without_traceback():
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--table", "x"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr


def test_dry_run_lists_cells_and_writes_nothing(tmp_path, capsys):
    assert run.main(["--table", "1", "--dry-run", "--out", str(tmp_path / "o")], only(CountingTable())) == 0
    out = capsys.readouterr().out
    assert out.count("): to compute") == 3 and "needs: nothing" in out
    assert not (tmp_path / "o").exists()


def test_table_one_end_to_end_on_the_smoke_profile(tmp_path, capsys):
    args = ["--table", "1", "--profile", "smoke", "--steps", "1,50", "--out", str(tmp_path), "--no-progress"]
    # the dry run first: what it will cost, counted on the tables' own code, with nothing trained or written
    assert run.main(args + ["--dry-run"]) == 0
    dry = capsys.readouterr().out
    counted = [int(n.replace(",", "")) for n in re.findall(r"to compute; ([\d,]+) network evaluations", dry)]
    assert re.search(r"trains toy-mlp-\w+: 1,200 steps of about [\d.e-]+ s", dry)
    assert re.search(r"table 1 \(seed 0\): 2 of 2 cells to compute, about [\d.]+ [sh] on cpu", dry)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    assert run.main(args) == 0
    df = pd.read_csv(tmp_path / "table1.csv")
    assert list(df["steps"]) == [1, 50] and list(df["nfe_per_sample"]) == [1.0, 50.0]
    assert counted == list(df["nfe_per_sample"] * df["samples"])  # the evaluations the run made
    capsys.readouterr()
    assert run.main(args + ["--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert dry.count(": stored") == 2 and "trains" not in dry and "0 of 2 cells to compute" in dry
    assert df.loc[0, "value"] >= 97.0 and df.loc[1, "value"] < df.loc[0, "value"]
    assert list((tmp_path / "checkpoints").glob("toy-*/model.safetensors"))
    capsys.readouterr()
    assert run.main(args + ["--steps", "1,2"]) == 0  # reuses the trained toy: no training bar, one new cell
    assert "1 to compute" in capsys.readouterr().err


def test_report_to_logs_every_network_the_run_trains_and_an_unknown_tracker_is_refused_first(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    args = ["--table", "1", "--profile", "smoke", "--steps", "1", "--no-progress"]
    assert run.main([*args, "--out", str(tmp_path / "bad"), "--report-to", "mlflow"]) == 2
    assert "choose one of tensorboard, wandb" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert run.main([*args, "--out", str(tmp_path / "out"), "--report-to", "tensorboard"]) == 0
    (logs,) = (tmp_path / "out" / "logs").glob("toy-mlp-*")  # named as the network's model-cache folder
    assert (tmp_path / "out" / "checkpoints" / logs.name).is_dir()
    events = EventAccumulator(str(next(logs.rglob("events.out.tfevents.*")).parent)).Reload()
    assert {"loss", "lr"} <= set(events.Tags()["scalars"])


class SkippingTable(CountingTable):
    def compute(self, todo, options, finish, experiments):
        for cell in todo:
            finish(cell, {"status": "skipped", "reason": "weights not on disk"})


def test_skipped_cells_render_with_their_reason(tmp_path):
    assert run.main(["--table", "1", "--out", str(tmp_path), "--no-progress"], only(SkippingTable())) == 0
    df = pd.read_csv(tmp_path / "table1.csv")
    assert df["value"].isna().all() and (df["status"] == "skipped").all()
    assert "skipped: weights not on disk" in (tmp_path / "table1.md").read_text()


class SeededTable(CountingTable):
    """value = 10 * steps + seed, so that seeds differ."""

    def cells(self, options):
        return [Cell.make("1", "two-spirals", "classification", "SymmFlow", s, "accuracy",
                          profile=options.profile, seed=options.seed) for s in (1, 2)]

    def compute(self, todo, options, finish, experiments):
        for cell in todo:
            self.computed.append((options.seed, cell.steps))
            finish(cell, {"value": 10.0 * cell.steps + options.seed, "nfe_per_sample": cell.steps,
                          "wall_s": 0.5, "samples": 100})


def test_several_seeds_are_stored_apart_and_rendered_as_mean_and_sd(tmp_path):
    spec = SeededTable()
    args = ["--table", "1", "--seeds", "0,1,2", "--out", str(tmp_path), "--no-progress"]
    assert run.main(args, only(spec)) == 0
    assert sorted(spec.computed) == [(s, k) for s in (0, 1, 2) for k in (1, 2)]
    df = pd.read_csv(tmp_path / "table1.csv")
    assert sorted(df["seed"]) == [0, 0, 1, 1, 2, 2]  # one row per seed in the CSV
    text = (tmp_path / "table1.md").read_text()
    assert "seeds 0, 1, 2 (mean ± sd)" in text and "11.00 ± 1.00 (3 seeds)" in text
    assert "11.00 ± 1.00 (3 seeds)" in (tmp_path / "README.md").read_text()
    assert run.main(["--table", "1", "--seeds", "1,3", "--out", str(tmp_path), "--no-progress"], only(spec)) == 0
    assert spec.computed[-2:] == [(3, 1), (3, 2)]  # seed 1 was stored: only seed 3 computed


@pytest.mark.parametrize("seeds", ["0,x", "0,0", "-1", ""])
def test_bad_seeds_are_one_line(seeds, tmp_path, capsys):
    assert run.main(["--table", "1", "--seeds", seeds, "--out", str(tmp_path / "o")], only(SeededTable())) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--seeds" in err and not (tmp_path / "o").exists()


def test_table3_extra_seeds_leave_out_the_costliest_cells():
    from benchmarks.tables.classification import TABLE3

    first = TABLE3.cells(RunOptions(profile="smoke", seed=0, seeds=(0, 1)))
    later = TABLE3.cells(RunOptions(profile="smoke", seed=1, seeds=(0, 1)))
    left_out = {(c.method, c.metric) for c in first} - {(c.method, c.metric) for c in later}
    assert ("Diffusion Classifier", "accuracy") in left_out and len(later) < len(first)
    assert all(c.param("method") != "diffusion-classifier" or Schedule(**c.param("schedule")).nfe(10) > 0
               for c in later)
    assert {c.method for c in later} >= {"SymmFlow", "U-Net encoder + cross-entropy"}


def test_a_metric_skipped_in_every_cell_gets_no_plot_panel():
    import struct

    from benchmarks.cells import PlotSpec
    from benchmarks.render.tables import plot

    def frame(statuses: dict) -> pd.DataFrame:
        rows = [{"dataset": "scenes", "method": "SymmFlow", "steps": s, "metric": metric, "value": v,
                 "status": status, "seed": 0, "published": None}
                for metric, status in statuses.items() for s, v in ((1, 0.2), (25, 0.1))
                for v in ([v] if status == "ok" else [None])]
        return pd.DataFrame(rows)

    def width(png: bytes) -> int:
        return struct.unpack(">I", png[16:20])[0]  # the PNG header's width

    spec = PlotSpec(metrics=("FD", "LPIPS"))
    one = plot(frame({"FD": "ok"}), "t", spec)
    with_skipped = plot(frame({"FD": "ok", "LPIPS": "skipped"}), "t", spec)
    both = plot(frame({"FD": "ok", "LPIPS": "ok"}), "t", spec)
    assert width(with_skipped) == width(one) < width(both)


class PreviewTable(Table):
    """A stand-in table measured through the harness's one dispatch (``experiment_for`` and
    ``measure``): data set "here" has an experiment, "gone" has none; every cell shows a preview."""

    name, title = "1", "stand-in with sample grids"

    def cells(self, options):
        return [Cell.make("1", dataset, "classification", "SymmFlow", s, "accuracy", seed=options.seed)
                for dataset in ("here", "gone") for s in (1, 2)]

    def experiment_for(self, group, options, experiments):
        if group == "gone":
            raise MetricUnavailable("gone is not on disk; put it there")
        return {"tiles": np.full((2, 4, 4, 3), 9, np.uint8)}

    def measure(self, cell, experiment, options):
        from benchmarks.render.grids import preview

        rows = [("real", experiment["tiles"]), (f"{cell.steps} steps", experiment["tiles"] * cell.steps)]
        return {"value": float(cell.steps), "preview": preview("grid-of-here", rows)}


def test_rendering_draws_the_sample_grids_from_the_previews_stored_with_the_cells(tmp_path):
    from benchmarks.render.grids import merged

    args = ["--table", "1", "--out", str(tmp_path), "--no-progress"]
    assert run.main(args, only(PreviewTable())) == 0
    store, cells = CellStore(tmp_path), PreviewTable().cells(RunOptions())
    assert [store.load(c)["status"] for c in cells] == ["ok", "ok", "skipped", "skipped"]
    assert store.load(cells[2])["reason"] == "gone is not on disk; put it there"
    assert "preview" not in store.load(cells[0])  # the tiles live beside the record, not in it
    rows, _ = merged([store.load_preview(c) for c in cells[:2]])["grid-of-here"]
    assert list(rows) == ["real", "1 steps", "2 steps"]  # the common row once
    assert (rows["2 steps"] == 18).all()
    grid = tmp_path / "samples" / "grid-of-here.png"
    drawn = grid.read_bytes()
    grid.unlink()
    assert run.main(args + ["--render-only"], only(PreviewTable())) == 0
    assert grid.read_bytes() == drawn  # redrawn from the stored previews alone
    store.save(cells[0], store.load(cells[0]))  # recomputed, showing nothing: no stale samples stay
    assert store.load_preview(cells[0]) is None and store.load(cells[0])["value"] == 1.0
