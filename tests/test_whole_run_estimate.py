"""studies.whole_run_estimate: the dry run's per-table estimates read, the precisions alternated and
summarised, the ratio judged against the target, bad input refused."""

import json

import pytest

from studies import whole_run_estimate as study

PRINTED = """table 1 (seed 0): 6 of 6 cells to compute, about 43 s on cpu (41 s - 0.30 h from the timed steps' spread)
table 2 (seed 0): 17 of 17 cells to compute, about 0.67 h on cpu (0.61 h - 1.27 h from the timed steps' spread)
total: about 0.68 h on cpu on this machine
"""


def test_the_estimate_of_each_table_is_read_from_what_the_dry_run_printed():
    assert study.per_table(PRINTED) == {"1": 43.0, "2": pytest.approx(0.67 * 3600)}
    with pytest.raises(RuntimeError, match="printed no estimate"):
        study.per_table("nothing to see")


def test_precisions_alternate_and_the_ratio_is_judged(tmp_path, monkeypatch):
    order = []

    def fake(profile, precision, folder):
        order.append(precision)
        scale = 1.0 if precision == "fp32" else 0.5
        return {"precision": precision, "tables": {"1": 100 * scale, "11": 300 * scale}, "took_s": 1.0,
                "load_before": 0.1, "load_after": 0.2, "command": f"python -m benchmarks.run --precision {precision}"}

    monkeypatch.setattr(study, "dry_run", fake)
    assert study.main(["--out", str(tmp_path), "--repeats", "2"]) == 0
    assert order == ["fp32", "bf16", "fp32", "bf16"]
    record = json.loads((tmp_path / "whole-run-estimate.json").read_text())
    assert record["summary"]["bf16"]["total_s"] == 200 and record["summary"]["fp32"]["total_s"] == 400
    text = (tmp_path / "whole-run-estimate.md").read_text()
    assert "| all | 400 s | 200 s | 0.50 |" in text and "met (0.50x" in text


@pytest.mark.parametrize("argv", [["--precisions", "fp32"], ["--precisions", "fp32,fp16"], ["--repeats", "0"]])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv):
    assert study.main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_real_dry_run_of_every_table_at_the_smoke_profile(tmp_path):
    found = study.dry_run("smoke", "fp32", tmp_path / "out")
    assert {"1", "2", "3", "4", "5", "11"} <= set(found["tables"]) and all(v > 0 for v in found["tables"].values())
