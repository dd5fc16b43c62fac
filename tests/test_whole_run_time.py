"""studies.whole_run_time: each table's wall time read from the run record, the record written after
each run, a rerun at the same commit going on with the precisions not yet timed, the target judged,
bad input refused."""

import json

import pytest

from studies import whole_run_time as study

RUN_RECORD = """# Run of table(s) 1, 2, seed(s) 0

- command: `python -m benchmarks.run --table all --seeds 0`

| table | seed | cells | computed | of them skipped | wall (s) | training seconds of the networks behind them |
|---|---|---|---|---|---|---|
| 1 | 0 | 6 | 6 | 0 | 43 | 12, 30 |
| 2 | 0 | 17 | 17 | 2 | 2232 | 1500 |
| 11 | 0 | 4 | 4 | 0 | 188 | - |
"""


def test_each_tables_wall_time_is_read_from_the_run_record(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "tables-1-2-11-seeds-0.md").write_text(RUN_RECORD)
    assert study.tables_wall(tmp_path) == {"1": 43.0, "2": 2232.0, "11": 188.0}
    assert study.tables_wall(tmp_path / "nothing") == {}


def fake_run(order, fail_at=None):
    def run(profile, precision, folder):
        order.append(precision)
        if precision == fail_at:
            raise KeyboardInterrupt
        scale = 1.0 if precision == "fp32" else 0.5
        return {"precision": precision, "wall_s": 1000 * scale, "tables": {"1": 100 * scale, "2": 900 * scale},
                "started": "2026-12-07 10:00:00 UTC", "load_before": 0.1, "load_after": 2.0, "other_cores": 0.0,
                "command": f"python -m benchmarks.run --table all --precision {precision}"}
    return run


def test_an_interrupt_keeps_the_runs_finished_and_a_rerun_goes_on(tmp_path, monkeypatch, capsys):
    order = []
    monkeypatch.setattr(study, "timed_run", fake_run(order, fail_at="bf16"))
    assert study.main(["--out", str(tmp_path)]) == 130
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert said.startswith("interrupted: ") and "the same command at this commit times the rest" in said
    kept = json.loads((tmp_path / "whole-run-time.json").read_text())
    assert [r["precision"] for r in kept["runs"]] == ["fp32"]
    text = (tmp_path / "whole-run-time.md").read_text()
    assert "Only fp32 measured so far" in text and "\n|---|---|---|---|---|---|\n" in text  # six columns

    monkeypatch.setattr(study, "timed_run", fake_run(order))
    assert study.main(["--out", str(tmp_path)]) == 0
    assert order == ["fp32", "bf16", "bf16"]  # the rerun timed only what the first left
    text = (tmp_path / "whole-run-time.md").read_text()
    assert "| all (the whole process) | 1,000 s | - | 500 s | - | 0.50 |" in text
    assert "| 2 | 900 s | - | 450 s | - | 0.50 |" in text and "met (0.50x, measured)" in text


def test_the_dry_runs_estimate_stands_beside_the_measurement(tmp_path, monkeypatch):
    summary = {p: {"tables": {"1": 120.0, "2": 800.0}, "total_s": 920.0 * (1 if p == "fp32" else 0.8)}
               for p in ("fp32", "bf16")}
    (tmp_path / "whole-run-estimate.json").write_text(json.dumps({"summary": summary}))
    monkeypatch.setattr(study, "timed_run", fake_run([]))
    assert study.main(["--out", str(tmp_path)]) == 0
    text = (tmp_path / "whole-run-time.md").read_text()
    assert "| 1 | 100 s | 120 s | 50 s | 120 s | 0.50 |" in text
    assert "| all (the whole process) | 1,000 s | 920 s | 500 s | 736 s | 0.50 |" in text


def test_runs_of_another_commit_are_not_reused(tmp_path, monkeypatch):
    order = []
    monkeypatch.setattr(study, "timed_run", fake_run(order))
    assert study.main(["--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "whole-run-time.json").read_text())
    record["provenance"]["git_commit"] = "0123456789ab"
    (tmp_path / "whole-run-time.json").write_text(json.dumps(record))
    assert study.main(["--out", str(tmp_path)]) == 0
    assert order == ["fp32", "bf16", "fp32", "bf16"]


@pytest.mark.parametrize("argv", [["--precisions", "fp32"], ["--precisions", "fp32,fp16"],
                                  ["--precisions", "bf16,bf16"], ["--profile", "paper"]])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv):
    assert study.main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_out_folder_without_a_parent_is_refused(tmp_path, capsys):
    assert study.main(["--out", str(tmp_path / "no" / "out")]) == 2
    assert "its parent folder does not exist" in capsys.readouterr().err


def test_an_interrupted_run_leaves_no_process_behind(tmp_path, monkeypatch):
    import subprocess
    import sys

    import studies.threads

    started, real = [], subprocess.Popen

    def popen(command, **kwargs):
        started.append(real([sys.executable, "-c", "import time; time.sleep(60)"], **kwargs))
        return started[-1]

    def interrupt(process, ours, interval):
        raise KeyboardInterrupt

    monkeypatch.setattr(study.subprocess, "Popen", popen)
    monkeypatch.setattr(studies.threads, "foreign_cores", interrupt)
    (tmp_path / "run").mkdir()
    with pytest.raises(KeyboardInterrupt):
        study.timed_run("smoke", "fp32", tmp_path / "run" / "out")
    assert started[0].poll() is not None
