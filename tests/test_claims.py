"""The paper's orderings checked on a run: shown, contradicted, or inside the seed spread or the
sampling error -- never a claim from a margin smaller than the noise."""

import pandas as pd

from benchmarks.claims import Claim, check

CLAIM = Claim("25 steps at least 1 step", ("SymmFlow", 25, "accuracy"), ("SymmFlow", 1, "accuracy"))


def summary(rows):
    base = {"dataset": "d", "method": "SymmFlow", "metric": "accuracy", "status": "ok", "sd": float("nan"), "n": 1,
            "samples": 1000}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_one_seed_gives_shown_or_not_shown():
    rows = [{"steps": 25, "mean": 98.0}, {"steps": 1, "mean": 97.0}]
    assert "-- shown (margin +1" in check(CLAIM, summary(rows), "d")
    line = check(CLAIM, summary([{"steps": 25, "mean": 95.0}, {"steps": 1, "mean": 98.0}]), "d")
    assert "NOT shown (margin -3" in line and "one seed" in line


def test_a_margin_inside_the_seed_spread_is_not_a_claim():
    rows = [{"steps": 25, "mean": 97.5, "sd": 0.8, "n": 3}, {"steps": 1, "mean": 98.0, "sd": 0.3, "n": 3}]
    assert "within the seed spread (margin -0.5, sd 0.8, 3 seeds)" in check(CLAIM, summary(rows), "d")


def test_an_accuracy_on_few_samples_carries_its_sampling_error():
    rows = [{"steps": 25, "mean": 95.8, "samples": 1000}, {"steps": 1, "mean": 95.0, "samples": 20}]
    line = check(CLAIM, summary(rows), "d")
    assert "within the sampling error" in line and "9.75" in line  # 2 x sqrt(0.95 x 0.05 / 20) in points
    rows[0]["samples"], rows[1]["samples"] = 100_000, 50_000  # the same margin on many samples is a claim
    assert "-- shown" in check(CLAIM, summary(rows), "d")
    rows[0]["samples"] = rows[1]["samples"] = 1000  # on one test set the two are paired: the seed rule alone applies
    assert "-- shown (margin +0.8, one seed)" in check(CLAIM, summary(rows), "d")


def test_best_over_steps_and_missing_entries():
    best = Claim("25 steps within 10% of the best", ("SymmFlow", 25, "accuracy"), ("SymmFlow", None, "accuracy"),
                 factor=0.9)
    rows = [{"steps": 1, "mean": 80.0}, {"steps": 5, "mean": 70.0}, {"steps": 25, "mean": 64.0}]
    line = check(best, summary(rows), "d")
    assert "NOT shown (margin -8" in line and "0.9 x SymmFlow at best over steps 80" in line
    assert check(CLAIM, summary([{"steps": 1, "mean": 98.0}]), "d") is None
