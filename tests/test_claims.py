"""The paper's orderings checked on a run: shown, contradicted, or inside the seed spread or the
sampling error -- never a claim from a margin smaller than the noise; paired seeds judged on the
spread of their differences; a claim on several metrics that disagree gets no verdict."""

import pandas as pd

from benchmarks.claims import Claim, LadderFailures, check

CLAIM = Claim("25 steps at least 1 step", ("SymmFlow", 25), ("SymmFlow", 1), (("accuracy", True),))
PAIRED = Claim("25 steps at least 1 step", ("SymmFlow", 25), ("SymmFlow", 1), (("accuracy", True),), paired=True)


def cells(rows):
    """One row per cell and seed, as a table's CSV holds them."""
    base = {"dataset": "d", "method": "SymmFlow", "metric": "accuracy", "status": "ok", "seed": 0, "samples": 1000}
    return pd.DataFrame([{**base, **row} for row in rows])


def seeds(steps, values, **row):
    return [{"steps": steps, "value": v, "seed": i, **row} for i, v in enumerate(values)]


def test_one_seed_gives_shown_or_not_shown():
    assert "-- shown (margin +1" in check(CLAIM, cells([{"steps": 25, "value": 98.0},
                                                        {"steps": 1, "value": 97.0}]), "d")
    line = check(CLAIM, cells([{"steps": 25, "value": 95.0}, {"steps": 1, "value": 98.0}]), "d")
    assert "NOT shown (margin -3" in line and "one seed" in line


def test_a_margin_inside_the_seed_spread_is_not_a_claim():
    rows = seeds(25, [97.0, 98.5, 97.0]) + seeds(1, [98.0, 98.2, 97.8])  # means 97.5 and 98.0, sd 0.87 and 0.2
    assert "within the seed spread (margin -0.5, sd 0.866, 3 seeds)" in check(CLAIM, cells(rows), "d")


def test_paired_seeds_are_judged_on_the_spread_of_their_differences():
    """Each seed loses about two points from 1 to 25 steps while the seeds differ by three: the
    fall is a claim on paired seeds (sd of the differences 0.21) and not on the unpaired rule."""
    rows = seeds(1, [98.1, 96.2, 97.9]) + seeds(25, [95.8, 94.2, 95.5])
    assert "NOT shown (margin -2.23, sd 1.04, 3 seeds)" in check(CLAIM, cells(rows), "d")
    line = check(PAIRED, cells(rows), "d")
    assert "NOT shown (margin -2.23, sd of the per-seed difference 0.208, 3 seeds)" in line
    # one point lost on every seed, the seeds four points apart: only the pairing sees it
    rows = seeds(1, [99.0, 95.0, 97.0]) + seeds(25, [98.0, 94.0, 96.0])
    assert "within the seed spread (margin -1, sd 2, 3 seeds)" in check(CLAIM, cells(rows), "d")
    assert "NOT shown (margin -1, sd of the per-seed difference 0, 3 seeds)" in check(PAIRED, cells(rows), "d")
    # a difference that flips sign between seeds stays inside its own spread
    rows = seeds(1, [97.0, 97.0, 97.0]) + seeds(25, [98.0, 96.0, 97.5])
    assert "within the seed spread" in check(PAIRED, cells(rows), "d")
    # seeds present on one side only do not enter the differences
    rows = seeds(1, [97.0, 97.0, 97.0]) + seeds(25, [96.0, 96.0])
    assert "margin -1, sd of the per-seed difference 0, 2 seeds" in check(PAIRED, cells(rows), "d")


def test_an_accuracy_on_few_samples_carries_its_sampling_error():
    rows = [{"steps": 25, "value": 95.8, "samples": 1000}, {"steps": 1, "value": 95.0, "samples": 20}]
    line = check(CLAIM, cells(rows), "d")
    assert "within the sampling error" in line and "9.75" in line  # 2 x sqrt(0.95 x 0.05 / 20) in points
    rows[0]["samples"], rows[1]["samples"] = 100_000, 50_000  # the same margin on many samples is a claim
    assert "-- shown" in check(CLAIM, cells(rows), "d")
    rows[0]["samples"] = rows[1]["samples"] = 1000  # on one test set the two are paired: the seed rule alone applies
    assert "-- shown (margin +0.8, one seed)" in check(CLAIM, cells(rows), "d")


def test_best_over_steps_and_missing_entries():
    best = Claim("25 steps within 10% of the best", ("SymmFlow", 25), ("SymmFlow", None), (("accuracy", True),),
                 factor=0.9)
    rows = [{"steps": 1, "value": 80.0}, {"steps": 5, "value": 70.0}, {"steps": 25, "value": 64.0}]
    line = check(best, cells(rows), "d")
    assert "NOT shown (margin -8" in line and "0.9 x SymmFlow at best over steps 80" in line
    # for a metric where lower is better the best is the smallest
    falls = Claim("25 steps within 10% of the best", ("SymmFlow", 25), ("SymmFlow", None), (("FD", False),),
                  factor=1.1)
    rows = [{"steps": 1, "value": 0.2, "metric": "FD"}, {"steps": 5, "value": 0.03, "metric": "FD"},
            {"steps": 25, "value": 0.05, "metric": "FD"}]
    assert "NOT shown (margin -0.017" in check(falls, cells(rows), "d")
    assert check(CLAIM, cells([{"steps": 1, "value": 98.0}]), "d") is None
    assert check(CLAIM, cells([{"steps": 1, "value": 98.0}, {"steps": 25, "value": 99.0, "status": "skipped"}]),
                 "d") is None


BLIND_FD = LadderFailures(blind_to=("masks shuffled",))
SYNTHESIS = Claim("SymmFlow synthesises better than SemFlow", ("SymmFlow", 25), ("SemFlow", 25),
                  (("FD", False), ("mIoU of samples", True)))


def test_metrics_that_disagree_give_no_verdict_unless_only_a_blind_one_disagrees():
    rows = [{"method": "SymmFlow", "metric": "FD", "value": 0.028},
            {"method": "SemFlow", "metric": "FD", "value": 0.047},
            {"method": "SymmFlow", "metric": "mIoU of samples", "value": 30.0},
            {"method": "SemFlow", "metric": "mIoU of samples", "value": 60.0}]
    rows = [{**row, "steps": 25} for row in rows]
    line = check(SYNTHESIS, cells(rows), "d")  # both pass the ladder (or it was not run): no verdict
    assert "the metrics disagree, so no verdict" in line and "-- shown" not in line
    line = check(SYNTHESIS, cells(rows), "d", ladder={("d", "FD"): BLIND_FD})
    assert ("-- NOT shown on the metrics that see every degradation of the sanity ladder (mIoU of samples; FD "
            "disagrees and is blind to a degradation, so it does not decide)") in line
    assert "FD (fails the sanity ladder: blind to masks shuffled): shown (margin +0.019" in line
    assert "mIoU of samples: NOT shown (margin -30" in line
    both_blind = {("d", "FD"): BLIND_FD, ("d", "mIoU of samples"): LadderFailures(("noise",))}
    assert "the metrics disagree, so no verdict" in check(SYNTHESIS, cells(rows), "d", ladder=both_blind)
    # a metric that sees every degradation, only not monotonically, still decides -- and is marked
    wobbly = {("d", "FD"): BLIND_FD, ("d", "mIoU of samples"): LadderFailures(not_monotone_in=("Gaussian blur",))}
    line = check(SYNTHESIS, cells(rows), "d", ladder=wobbly)
    assert "-- NOT shown on the metrics that see every degradation of the sanity ladder (mIoU of samples;" in line
    assert "mIoU of samples (fails the sanity ladder: not monotone in Gaussian blur): NOT shown" in line
    # a sound metric that cannot tell the two apart does not block the opposite ordering of another
    three = Claim("SymmFlow synthesises better than SemFlow", ("SymmFlow", 25), ("SemFlow", 25),
                  (("FD", False), ("FJD", False), ("mIoU of samples", True)))
    tied = rows + [{"method": m, "metric": "FJD", "value": 13.0, "steps": 25} for m in ("SymmFlow", "SemFlow")]
    line = check(three, cells(tied), "d", ladder={("d", "FD"): BLIND_FD})
    assert ("-- NOT shown on the metrics that see every degradation of the sanity ladder (FJD, mIoU of samples; FD "
            "disagrees and is blind to a degradation, so it does not decide)") in line
    assert "FJD: within the sampling error" in line
    # ... but a tie beside a sound metric that shows the claim is no verdict, not "shown"
    tied[2]["value"], tied[3]["value"] = 70.0, 60.0
    assert "the metrics disagree, so no verdict" in check(three, cells(tied), "d", ladder={("d", "FD"): BLIND_FD})
    rows[2]["value"] = 70.0  # both metrics agree
    assert "-- shown on every metric" in check(SYNTHESIS, cells(rows), "d")
    # one metric only (the other not computed): the verdict of that one
    line = check(SYNTHESIS, cells(rows[:2]), "d", ladder={("d", "FD"): BLIND_FD})
    assert "-- shown (margin +0.019" in line and "[FD (fails the sanity ladder: blind to masks shuffled)]" in line


def test_a_metric_not_computed_yet_withholds_the_verdict_and_a_skipped_one_is_named():
    fd = [{"method": "SymmFlow", "metric": "FD", "value": 0.028}, {"method": "SemFlow", "metric": "FD", "value": 0.047}]
    for status, reason in (("not computed", "not stored"), ("skipped", "no judge supplied")):
        judged = [{"method": m, "metric": "mIoU of samples", "status": status, "reason": reason, "value": None}
                  for m in ("SymmFlow", "SemFlow")]
        line = check(SYNTHESIS, cells([{**row, "steps": 25} for row in fd + judged]), "d")
        if status == "not computed":  # FD alone would say "shown": the table's other metric is not in yet
            assert "no verdict until mIoU of samples is computed too" in line and "-- shown" not in line
            assert "so far FD: shown (margin +0.019" in line
        else:  # no judge in this profile: FD decides and the line says what was left out
            assert "-- shown (margin +0.019" in line and line.endswith("[mIoU of samples skipped]")
    nothing = [{"method": m, "metric": metric, "status": "not computed", "reason": "", "value": None, "steps": 25}
               for m in ("SymmFlow", "SemFlow") for metric in ("FD", "mIoU of samples")]
    assert "no verdict: FD, mIoU of samples not computed on this run" in check(SYNTHESIS, cells(nothing), "d")


def test_a_metric_measured_by_each_seeds_own_network_is_paired_by_seed():
    """Two methods scored by a judge trained with each seed: the judge's scale moves from seed to
    seed (one seed's distances twice the other's) while one method stays ahead on every seed, which
    only the per-seed differences see; a metric measured by one network for every seed keeps the
    unpaired rule."""
    claim = Claim("SymmFlow synthesises better", ("SymmFlow", 25), ("SemFlow", 25),
                  (("FJD (judge features)", False), ("FD (one network)", False)),
                  seeded_metrics=("FJD (judge features)",))
    rows = (seeds(25, [31.1, 19.8], method="SymmFlow", metric="FJD (judge features)")
            + seeds(25, [20.7, 14.7], method="SemFlow", metric="FJD (judge features)")
            + seeds(25, [0.029, 0.030], method="SymmFlow", metric="FD (one network)")
            + seeds(25, [0.047, 0.050], method="SemFlow", metric="FD (one network)"))
    line = check(claim, cells(rows), "d")
    assert "FJD (judge features): NOT shown (margin -7.75, sd of the per-seed difference 3.75, 2 seeds)" in line
    assert "FD (one network): shown (margin +0.019, sd 0.00212, 2 seeds)" in line
    unpaired = Claim(claim.text, claim.left, claim.right, claim.metrics)
    assert ("FJD (judge features): within the seed spread (margin -7.75, sd 7.99, 2 seeds)"
            in check(unpaired, cells(rows), "d"))
