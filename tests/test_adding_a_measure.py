"""Adding a metric as docs/extending.md says: one function and one registration in the measure
registry (:mod:`benchmarks.measures`), which a table's cells, its computation and the claims then read."""

import pandas as pd
import pytest
import torch

from benchmarks import measures
from benchmarks.cells import RunOptions
from benchmarks.claims import Claim, check
from benchmarks.experiments.classification import CROSS_ENTROPY, FLOW_MATCHING, SYMMFLOW
from benchmarks.measures import Measure, directions, higher_is_better, measure, register_measure
from benchmarks.tables.classification import Table3
from tests.helpers import registered


def sharpness(cell, experiment, options) -> dict:
    """The toy measure: the mean absolute difference of neighbouring pixels of the method's samples."""
    images = experiment.generation(cell.param("method"), cell.steps)["samples_tensor"]
    return {"value": float(images.diff(dim=-1).abs().mean()), "samples": len(images)}


def toy_measure(higher: bool) -> Measure:
    """The guide's example measure, higher or lower being better."""
    return Measure("classification", "sharpness", "generation", "sharpness", higher_is_better=higher,
                   networks=(CROSS_ENTROPY,), compute=sharpness)


class FixedSamples:
    """An experiment's stand-in: SymmFlow's samples twice as steep as flow matching's."""

    def generation(self, method: str, steps: int) -> dict:
        ramp = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(3, 1, 1, 1)
        return {"samples_tensor": ramp * (2.0 if method == SYMMFLOW else 1.0)}


class SharpnessTable(Table3):
    """Table 3 with only cells of the toy measure, measured on fixed samples."""

    def cells(self, options: RunOptions):
        s = self.settings[options.profile][0]
        return [self._cell(s, options, method, 25, "sharpness", uses=(method, CROSS_ENTROPY))
                for method in (SYMMFLOW, FLOW_MATCHING)]

    def experiment_for(self, group, options, experiments):
        return FixedSamples()


@pytest.mark.parametrize("higher, verdict", [(True, "shown"), (False, "NOT shown")])
def test_a_registered_measure_is_read_by_the_table_and_the_claims(tmp_path, higher, verdict):
    options = RunOptions(profile="smoke", seed=0, out=tmp_path, progress=False)
    before = dict(measures.MEASURES)
    with registered(measures.MEASURES, register_measure, toy_measure(higher)):
        table = SharpnessTable()
        cells = table.cells(options)
        assert [(cell.task, cell.metric) for cell in cells] == [("generation", "sharpness")] * 2
        assert table.networks(cells[0], options) == {SYMMFLOW, CROSS_ENTROPY}
        values = {}
        table.compute(cells, options, lambda cell, record: values.update({cell.method: record["value"]}), {})
        assert values == {"SymmFlow": 2.0, "Flow matching (class-conditional)": 1.0}

        claim = Claim("SymmFlow's samples are sharper", ("SymmFlow", 25), ("Flow matching (class-conditional)", 25),
                      directions(("sharpness",)))
        assert claim.metrics == (("sharpness", higher),)
        frame = pd.DataFrame([{"dataset": cell.dataset, "method": cell.method, "steps": cell.steps,
                               "metric": cell.metric, "status": "ok", "value": values[cell.method], "seed": 0,
                               "samples": 3} for cell in cells])
        assert f" -- {verdict} (" in check(claim, frame, cells[0].dataset)
    assert measures.MEASURES == before
    with pytest.raises(KeyError, match="no measure 'sharpness'"):
        measure("classification", "sharpness")
    with pytest.raises(KeyError, match="sharpness"):
        higher_is_better("sharpness")


def test_a_measure_is_declared_once_with_one_direction_per_metric():
    with pytest.raises(ValueError, match="declared twice"):
        register_measure(measure("classification", "accuracy"))
    with pytest.raises(ValueError, match="higher-is-better"):
        register_measure(Measure("classification", "error", "classification", "accuracy", higher_is_better=False))
    assert ("classification", "error") not in measures.MEASURES
