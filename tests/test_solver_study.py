"""The solver study through the harness: every point a stored cell, the table files untouched."""

import pytest
import pandas as pd

from studies import solver_study


@pytest.mark.slow
def test_the_solver_study_stores_a_cell_per_point_and_names_the_cheapest_match(tmp_path, capsys):
    out = tmp_path / "results"
    assert solver_study.main(["--tables", "11", "--profile", "smoke", "--out", str(out), "--device", "cpu",
                              "--no-progress"]) == 0
    df = pd.read_csv(out / "solver-study.csv")
    assert set(df["solver"]) == set(solver_study.SOLVERS)
    nfe = dict(zip(zip(df["solver"], df["steps"]), df["nfe_per_sample"]))
    assert nfe[("euler", 25)] == 25 and nfe[("heun", 12)] == 24 and nfe[("midpoint", 5)] == 10
    assert nfe[("dopri5:1e-5", 1)] > nfe[("dopri5:1e-3", 1)]  # counted, not assumed
    assert len(list((out / "cells" / "table11").glob("*.json"))) >= len(df)
    assert not (out / "table11.csv").exists()  # the table's own files are not rewritten by the study
    assert "cheapest_solver" in (out / "solver-study.md").read_text() and (out / "solver-study.png").is_file()
    assert solver_study.main(["--table", "11"]) == 2
    assert "chooses --table" in capsys.readouterr().err
    assert solver_study.main(["--tables", "11", "--train-steps=5"]) == 2
    assert "the profile's own networks" in capsys.readouterr().err


def test_cheapest_names_the_cheapest_match_and_the_cheapest_point_at_least_as_good():
    """Accuracy falls with steps, so one Euler step is 'at least as good' and a match needs the
    value within 0.5 points (the closest of equally cheap matches); for a Frechet distance lower
    is better and a match is within 5%."""
    rows = [("11", "accuracy", "euler", 1, 1, 98.0), ("11", "accuracy", "euler", 25, 25, 96.0),
            ("11", "accuracy", "midpoint", 5, 10, 95.6), ("11", "accuracy", "heun", 5, 10, 96.3),
            ("11", "accuracy", "midpoint", 2, 4, 97.0),
            ("4", "FD-scenenet", "euler", 25, 25, 0.100), ("4", "FD-scenenet", "midpoint", 2, 4, 0.090),
            ("4", "FD-scenenet", "midpoint", 5, 10, 0.098), ("4", "FD-scenenet", "euler", 1, 1, 0.300)]
    df = pd.DataFrame(rows, columns=["study_table", "metric", "solver", "steps", "nfe_per_sample", "value"])
    found = {r["table"]: r for r in solver_study.cheapest(df)}
    assert (found["11"]["cheapest_solver"], found["11"]["nfe"]) == ("heun", 10)
    assert found["11"]["cheapest_at_least_as_good"] == "euler, 1 steps"
    assert (found["4"]["cheapest_solver"], found["4"]["nfe"]) == ("midpoint", 10)
    assert (found["4"]["cheapest_at_least_as_good"], found["4"]["its_nfe"]) == ("midpoint, 2 steps", 4)
