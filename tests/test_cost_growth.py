"""studies.cost_growth: the fitted line, its extrapolation against the cost table's assumption, a
small sweep measured end to end, and bad input."""

import json

import pytest

from studies import cost_growth
from studies.cost_growth_record import markdown

TINY = {"base_size": 16, "base_batch": 1, "batches": (1, 2), "sizes": (8, 16)}


def test_the_fit_recovers_a_line_it_was_given():
    points = [{"flops": f, "median_s": 0.01 + f / 2e11} for f in (1e9, 4e9, 9e9)]
    fitted = cost_growth.fit(points)
    assert fitted["overhead_s"] == pytest.approx(0.01)
    assert fitted["rate_flops_s"] == pytest.approx(2e11)
    assert fitted["max_residual"] < 1e-9


def test_extrapolation_sets_the_line_against_flops_at_the_assumed_share_of_the_peak():
    row = {"kind": "latent", "peak_flops_s": 1e12, "fit_batch": {"overhead_s": 1.0, "rate_flops_s": 2e11},
           "fit_size": {"overhead_s": 0.0, "rate_flops_s": 4e11}}
    priced = [{"profile": "paper", "dataset": "COCO-Stuff", "network": "SD", "global_batch": 128,
               "train_step_flops": 4e12}, {"profile": "gpu", "dataset": "scenes", "network": "x", "global_batch": 1,
                                           "train_step_flops": 1.0}]
    (found,) = cost_growth.extrapolations(row, priced, utilisation=0.4)
    assert found["assumed_s"] == pytest.approx(10.0)  # 4e12 / (0.4 x 1e12)
    assert found["fit_batch_s"] == pytest.approx(21.0) and found["batch_over_assumed"] == pytest.approx(2.1)
    assert found["fit_size_s"] == pytest.approx(10.0) and found["size_over_assumed"] == pytest.approx(1.0)


def test_a_small_sweep_is_measured_and_rendered(tmp_path):
    row = cost_growth.measure("scene", "fp32", rounds=2, warmup=0, sweep=TINY)
    shapes = {(p["batch"], p["size"]) for p in row["points"]}
    assert shapes == {(1, 16), (2, 16), (1, 8)}
    by_batch = {p["batch"]: p["flops"] for p in cost_growth.along(row["points"], TINY, "batch")}
    assert by_batch[2] == pytest.approx(2 * by_batch[1], rel=1e-6)  # FLOPs grow with the batch, exactly
    assert all(p["median_s"] > 0 for p in row["points"]) and row["peak_flops_s"] > 0
    row["extrapolations"] = cost_growth.extrapolations(row, [{"profile": "cpu", "dataset": "scenes", "network": "n",
                                                              "global_batch": 32, "train_step_flops": 4.8e10}], 0.4)
    record = {"provenance": {"device": "cpu", "machine": "m", "versions": "v", "git_commit": "c"},
              "command": "python -m studies.cost_growth", "rounds": 2, "warmup": 0, "utilisation": 0.4, "rows": [row]}
    text = markdown(record)
    assert "| cpu scene U-Net (base 32) | fp32 | 2 | 16 |" in text and "cpu scenes: n | 32 |" in text
    cost_growth.plot([row], tmp_path / "growth.png")
    assert (tmp_path / "growth.png").stat().st_size > 1000


@pytest.mark.parametrize("argv, words", [(["--precisions", "fp16"], "choose precisions"),
                                         (["--networks", "vit"], "choose precisions"),
                                         (["--rounds", "1"], "at least 2 rounds")])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, words):
    cost = tmp_path / "cost.json"
    cost.write_text(json.dumps([]))
    assert cost_growth.main([*argv, "--cost", str(cost), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_missing_cost_record_is_named(tmp_path, capsys):
    assert cost_growth.main(["--cost", str(tmp_path / "absent.json"), "--out", str(tmp_path)]) == 2
    assert "absent.json not found" in capsys.readouterr().err
