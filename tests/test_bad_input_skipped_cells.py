"""The harness's skipped cells (their data missing) are retried on every run and computed once the data appear."""

from benchmarks.tables.base import Table


class DataTable(Table):
    """A stand-in table whose cells are skipped until ``data`` is true."""

    def __init__(self):
        from benchmarks.cells import PlotSpec

        self.name, self.title, self.plot = "1", "stand-in", PlotSpec(metrics=("accuracy",))
        self.data, self.computed = False, []

    def cells(self, options):
        from benchmarks.cells import Cell

        return [Cell.make("1", "two-spirals", "classification", "SymmFlow", s, "accuracy",
                          profile=options.profile, seed=options.seed) for s in (1, 2)]

    def needs(self, options):
        return ["data"]

    def compute(self, todo, options, finish, experiments):
        for cell in todo:
            if not self.data:
                finish(cell, {"status": "skipped", "reason": "data missing"})
                continue
            self.computed.append(cell.steps)
            finish(cell, {"value": 10.0 * cell.steps, "nfe_per_sample": cell.steps, "wall_s": 0.5, "samples": 1})


def test_skipped_cells_are_retried_on_every_run(tmp_path, capsys):
    import pandas as pd

    from benchmarks import run

    spec = DataTable()
    args = ["--table", "1", "--out", str(tmp_path), "--no-progress"]
    assert run.main(args, {"1": spec}) == 0 and spec.computed == []
    capsys.readouterr()
    assert run.main(args + ["--dry-run"], {"1": spec}) == 0
    out = capsys.readouterr().out
    assert out.count("skipped earlier: data missing; will retry") == 2 and ": stored" not in out  # retried, not kept
    spec.data = True  # the data appear
    assert run.main(args, {"1": spec}) == 0 and spec.computed == [1, 2]
    assert "2 to compute" in capsys.readouterr().err
    assert list(pd.read_csv(tmp_path / "table1.csv")["value"]) == [10.0, 20.0]
    assert run.main(args, {"1": spec}) == 0 and spec.computed == [1, 2]  # now finished: nothing recomputed
