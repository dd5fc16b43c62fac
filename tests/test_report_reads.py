"""Compute, then report: a run of Table 1 reads each stored cell's file once (none it has just
stored), summarises each table over the seeds once, and writes every view and the results page
from that one result; the study records a table shows are its declared inputs."""

import json
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import run
from benchmarks.cells import Cell
from benchmarks.render import index, latex, markdown, plots, report
from benchmarks.render.notes import FRONT_NOTES, SANITY_LADDER
from benchmarks.store import CellStore
from tests.test_harness import CountingTable

TABLE1 = ["--table", "1", "--profile", "smoke", "--steps", "1", "--device", "cpu", "--no-progress"]


@pytest.fixture
def counted(monkeypatch):
    """(reads of each cell file, seed summaries computed) while the test runs."""
    reads, summaries = Counter(), []
    read, summary = CellStore.read, report.seed_summary

    def counting_read(store, cell):
        if store.path(cell).is_file():
            reads[store.path(cell).name] += 1
        return read(store, cell)

    def counting_summary(df):
        summaries.append(str(df["table"].iloc[0]))
        return summary(df)

    monkeypatch.setattr(CellStore, "read", counting_read)
    for module in (report, index, latex, markdown, plots):  # every place a summary could be computed
        monkeypatch.setattr(module, "seed_summary", counting_summary)
    return reads, summaries


def test_each_cell_file_is_read_once_and_each_table_summarised_once(tmp_path, counted):
    reads, summaries = counted
    args = [*TABLE1, "--steps", "1,2", "--seeds", "0,1", "--out", str(tmp_path / "out")]
    assert run.main(args) == 0  # computed: each cell reported as it was stored, no file read back
    stored = sorted(p.name for p in (tmp_path / "out" / "cells" / "table1").glob("*.json"))
    assert len(stored) == 4 and not reads and summaries == ["1"]  # 2 steps x 2 seeds, summarised once
    for again in ([], ["--render-only"], ["--dry-run"]):  # the checks, the work and the report share one read
        reads.clear(), summaries.clear()
        assert run.main(args + again) == 0
        assert sorted(reads) == stored and set(reads.values()) == {1}, (again, reads)
        assert summaries == ([] if again == ["--dry-run"] else ["1"])


def test_the_results_page_shows_the_reported_tables_from_their_report(tmp_path, counted, monkeypatch):
    out = tmp_path / "out"
    assert run.main([*TABLE1, "--out", str(out)]) == 0
    read_csv, parsed = index.pd.read_csv, []

    def noting_read_csv(path, *args, **kwargs):
        parsed.append(Path(path))
        return read_csv(path, *args, **kwargs)

    monkeypatch.setattr(index.pd, "read_csv", noting_read_csv)
    assert run.main([*TABLE1, "--out", str(out), "--render-only"]) == 0
    assert out / "table1.csv" not in parsed  # the page took the table from its report, not from its file
    assert "## Table 1: Toy-spiral classification accuracy" in (out / "README.md").read_text()


def test_the_study_records_a_table_shows_are_declared():
    assert report.study_records("1") == ()
    for name in ("2", "3", "4", "5", "11"):
        assert report.study_records(name) == (FRONT_NOTES, SANITY_LADDER)


class StandInTable2(CountingTable):
    """The harness's stand-in table as Table 2, whose report reads the front's notes and the sanity ladder."""

    name = "2"

    def cells(self, options):
        return [Cell.make("2", "two-spirals", "classification", "SymmFlow", s, "accuracy", profile=options.profile,
                          seed=options.seed) for s in options.steps or (1, 2)]


def test_a_declared_study_record_that_is_missing_is_one_line_of_the_table(tmp_path):
    out, spec = tmp_path / "out", StandInTable2()
    args = ["--table", "2", "--out", str(out), "--no-progress"]
    assert run.main(args, {"2": spec}) == 0
    lines = [line for line in (out / "table2.md").read_text().splitlines() if line.startswith("Not shown: ")]
    assert lines == [f"Not shown: {FRONT_NOTES} is not in this folder (`python -m studies.front` writes it).",
                     f"Not shown: {SANITY_LADDER} is not in this folder (`python -m studies.sanity_ladder` writes it)."]
    (out / FRONT_NOTES).write_text(json.dumps({"profile": "cpu", "notes": {"two-spirals": "chosen on the front."}}))
    (out / SANITY_LADDER).write_text(json.dumps({"metrics": []}))
    assert run.main(args + ["--render-only"], {"2": spec}) == 0
    text = (out / "table2.md").read_text()
    assert "Not shown: " not in text and "chosen on the front." in text
