"""Adding a table as docs/extending.md says: one module with a :class:`~benchmarks.tables.base.Table` and one
:func:`~benchmarks.tables.register_table`, after which ``python -m benchmarks.run --table NAME`` computes its
cells, stores them and writes its CSV and Markdown."""

import math
from functools import partial

import pandas as pd
import pytest

from benchmarks import run
from benchmarks.cells import Cell, RunOptions
from benchmarks.store import CellStore
from benchmarks.tables import TABLES, register_table, tables
from benchmarks.tables.base import Table
from tests.helpers import registered


class EulerErrorTable(Table):
    """The guide's example: Euler's error on dx/dt = -x from x(0) = 1 to t = 1, against the number of steps."""

    name, title = "euler", "Euler's error on dx/dt = -x against the number of steps"

    def cells(self, options):
        return [Cell.make("euler", "dx/dt = -x", "integration", "Euler", steps, "error",
                          profile=options.profile, seed=options.seed)
                for steps in options.steps or (1, 2, 5, 10)]

    def experiment_for(self, group, options, experiments):
        return None  # nothing to train or load

    def measure(self, cell, experiment, options):
        x = 1
        for _ in range(cell.steps):
            x -= x / cell.steps
        return {"value": abs(x - math.exp(-1)), "nfe_per_sample": cell.steps, "samples": 1}


def euler_error(steps: int) -> float:
    return abs((1 - 1 / steps) ** steps - math.exp(-1))


def test_a_registered_table_is_computed_stored_and_reported(tmp_path):
    before = dict(TABLES)
    out = tmp_path / "out"
    with registered(TABLES, partial(register_table, "euler"), "tests.test_adding_a_table:EulerErrorTable"):
        assert "euler" in tables() and list(tables())[-1] == "euler"
        assert run.main(["--table", "euler", "--profile", "smoke", "--device", "cpu", "--out", str(out),
                         "--no-progress"]) == 0
        cells = tables()["euler"].cells(RunOptions(profile="smoke", seed=0, out=out))
    stored = [CellStore(out).load(cell) for cell in cells]
    assert [record["status"] for record in stored] == ["ok"] * 4
    assert [record["value"] for record in stored] == pytest.approx([euler_error(n) for n in (1, 2, 5, 10)])
    df = pd.read_csv(out / "tableeuler.csv")
    assert list(df["steps"]) == [1, 2, 5, 10] and list(df["status"]) == ["ok"] * 4
    assert list(df["value"]) == pytest.approx([euler_error(n) for n in (1, 2, 5, 10)])
    assert df["value"].is_monotonic_decreasing and df["published"].isna().all()  # no paper_tables/tableeuler.csv
    page = (out / "tableeuler.md").read_text()
    assert page.startswith("# Table euler: Euler's error on dx/dt = -x") and "| dx/dt = -x" in page
    assert "tableeuler.csv" in (out / "README.md").read_text()  # on the results page
    assert TABLES == before and "euler" not in tables()


def test_a_table_is_registered_once_under_a_file_safe_name_and_loaded_only_when_asked():
    with pytest.raises(ValueError, match="registered twice"):
        register_table("1", "benchmarks.tables.toy:TABLE1")
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        register_table("toy sum", "benchmarks.tables.toy:TABLE1")
    with pytest.raises(ValueError, match="is not 'module:Attribute'"):
        register_table("euler", "tests.test_adding_a_table.EulerErrorTable")
    with registered(TABLES, partial(register_table, "other"), "tests.test_adding_a_table:EulerErrorTable"):
        with pytest.raises(ValueError, match="names itself 'euler'"):
            tables()["other"]
    assert "euler" not in TABLES and "other" not in TABLES
