"""``--no-report`` computes and stores a table's cells and writes no report (no table file, no results
page), which a later ``--render-only`` writes from the stored cells: what ``tox -e repro`` runs before its
studies."""

from benchmarks import run

TABLE1 = ["--table", "1", "--profile", "smoke", "--steps", "1,2", "--device", "cpu", "--no-progress"]


def test_no_report_stores_the_cells_and_writes_no_table_file(tmp_path, capsys):
    out = tmp_path / "out"
    assert run.main([*TABLE1, "--out", str(out), "--no-report"]) == 0
    assert len(list((out / "cells" / "table1").glob("*.json"))) == 2
    assert not list(out.glob("table1.*")) and not (out / "README.md").exists()
    assert list((out / "runs").glob("tables-1-seeds-0.md"))  # what the run computed is still recorded
    assert run.main([*TABLE1, "--out", str(out), "--render-only"]) == 0
    assert sorted(p.suffix for p in out.glob("table1.*")) == [".csv", ".md", ".png", ".tex"]
    assert (out / "README.md").is_file()
    capsys.readouterr()
    assert run.main([*TABLE1, "--out", str(out), "--render-only", "--no-report"]) == 2
    assert "--no-report leaves it out: choose one" in capsys.readouterr().err
