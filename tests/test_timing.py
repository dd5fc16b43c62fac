"""The statistics behind the performance record: per-round ratios, their intervals and verdicts,
and the record's own rendering (timing itself is checked under ``-m perf``)."""

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks import footprint
from studies import perf, perf_cases
from studies.perf_record import perf_markdown
from benchmarks.timing import Ratio, interleaved, paired_ratio


def test_a_paired_ratio_sees_through_a_slow_spell_that_hits_both_contenders():
    """The machine slows down 3x for half the rounds; ours costs 1.02x theirs throughout.  The
    ratio of per-round times stays at 1.02 with a narrow interval, where the two medians alone
    would be dominated by the spell."""
    rng = np.random.default_rng(0)
    speed = np.where(np.arange(40) % 2 == 0, 1.0, 3.0) * rng.uniform(0.9, 1.1, 40)
    theirs = speed * 0.010 * rng.uniform(0.995, 1.005, 40)
    ours = speed * 0.0102 * rng.uniform(0.995, 1.005, 40)
    ratio = paired_ratio(ours, theirs)
    assert ratio.low <= 1.02 <= ratio.high and ratio.high - ratio.low < 0.01
    assert ratio.verdict(1.05) == "met" and ratio.verdict(1.0) == "missed"


def test_a_target_inside_the_interval_is_within_the_noise():
    ratio = Ratio(median=1.01, low=0.97, high=1.06)
    assert ratio.verdict(1.0) == "within the noise"
    assert ratio.verdict(1.06) == "met" and ratio.verdict(0.96) == "missed"


def test_ratios_refuse_series_they_cannot_pair():
    with pytest.raises(ValueError, match="equally long"):
        paired_ratio([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2"):
        paired_ratio([1.0], [1.0])


def test_interleaved_times_every_contender_every_round_in_a_rotating_order():
    order = []
    timed = interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b"),
                         "c": lambda: order.append("c")}, rounds=3, warmup=1)
    assert order[:12] == list("abc" "bca" "cab" "abc")  # warm-up, then three timed rounds
    assert all(len(t.seconds) == 3 and t.median_s >= 0 for t in timed.values())


def test_the_record_states_each_ratio_with_its_interval_and_verdict():
    """A tiny run of two cases through the command's own functions and its rendering."""
    rows = perf_cases.sampling(rounds=3, warmup=0, steps=(1,), solvers=("euler",))
    (row,), profiles = perf_cases.training_step(rounds=2, warmup=0, batch=4)
    df = pd.DataFrame(rows + [row]).assign(git_commit="abc", device="cpu (x86_64, 2 threads)", versions="torch")
    page = perf_markdown(df, profiles, rounds=3, warmup=0, targets=perf_cases.TARGETS)
    for found in rows:
        assert found["ratio_to_limit_low"] <= found["ratio_to_limit"] <= found["ratio_to_limit_high"]
        assert found["verdict_limit"] in ("met", "missed", "within the noise")
        assert f"{found['ratio_to_limit']:.3f} [{found['ratio_to_limit_low']:.3f}" in page
    assert "To the limit: " in page and "## Training step" in page


def test_a_footprint_reports_every_run_and_counts_one_nfe_at_171_colours():
    spec = {"task": "segmentation", "unet": {"base_channels": 8, "multipliers": [1, 2], "layers_per_block": 1,
                                             "head_channels": 8, "norm_groups": 4},
            "symmflow": {}, "channels": 3, "size": 16, "classes": 171, "images": 4, "batch": 4, "repeats": 3}
    found = footprint.measure(spec)
    assert len(found["ms_per_image_runs"]) == 3 and found["nfe_per_sample"] == 1
    assert found["ms_per_image"] == pytest.approx(float(np.median(found["ms_per_image_runs"])))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where no GPU is visible")
def test_perf_refuses_a_gpu_it_cannot_see_before_measuring_anything(tmp_path, capsys):
    assert perf.main(["--device", "cuda", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--device cuda" in err and "--device cpu" in err
    assert not list(tmp_path.iterdir())
