"""Adding a method as docs/extending.md says: one module with a :class:`~benchmarks.methods.Method` and one
:func:`~benchmarks.methods.register_method`, after which Table 3 has, trains and scores a row of it."""

import pytest
import torch
import torch.nn.functional as F

from benchmarks import methods
from benchmarks.cells import RunOptions
from benchmarks.methods import METHODS, Method, register_method
from benchmarks.tables.classification import Table3, Table11
from benchmarks.tables.segsynth import Table2
from tests.helpers import registered


class LinearProbeMethod(Method):
    """The guide's example: a linear classifier of the pixels, trained with cross-entropy."""

    key, label = "linear-probe", "Linear probe"
    classify_steps = "single"

    def build(self):
        p = self.problem
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(p.channels * p.size * p.size, p.num_classes))

    def loss(self, model, batch):
        images, labels = batch
        return F.cross_entropy(model(images), labels)

    def classify(self, model, images, steps, solver, generator):
        logits = model(images)
        return logits.argmax(1), logits.softmax(1)


def test_a_registered_method_gets_table_3_cells_trained_and_scored(tmp_path):
    options = RunOptions(profile="smoke", seed=0, out=tmp_path, progress=False)
    before = dict(METHODS)
    with registered(METHODS, register_method, LinearProbeMethod):
        cells = [cell for cell in Table3().cells(options) if cell.param("method") == "linear-probe"]
        assert [(cell.dataset, cell.method, cell.steps, cell.metric) for cell in cells] == [
            ("MNIST (bundled 4k/1k)", "Linear probe", 1, "accuracy")]
        assert not [cell for cell in Table11().cells(options) if cell.param("method") == "linear-probe"]
        assert not [cell for cell in Table2().cells(options) if cell.param("method") == "linear-probe"]
        records = {}
        Table3().compute(cells, options, lambda cell, record: records.update({cell.method: record}), {})
        record = records["Linear probe"]
        assert record["samples"] == 40 and 20.0 < record["value"] <= 100.0  # trained: well above chance (10%)
        assert record["nfe_per_sample"] == 1.0
    assert METHODS == before and methods.METHODS is METHODS
    assert all(cell.param("method") != "linear-probe" for cell in Table3().cells(options))


def test_a_method_key_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        register_method(METHODS["symmflow"])
