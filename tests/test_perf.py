"""Timing checks, kept out of the default run (``pytest -m perf``): medians, ratios, warm-ups."""

import pytest
import torch

from benchmarks.solver_overhead import LIMIT, overhead
from symmflow.models.mlp import ToyMLP


@pytest.mark.perf
@pytest.mark.parametrize("steps", [10, 50])
def test_euler_adds_nothing_measurable_to_the_network_calls(steps):
    torch.manual_seed(0)
    result = overhead(ToyMLP().eval(), torch.randn(10_000, 2), torch.randn(10_000, 1), steps, rounds=25)
    assert result["nfe"] == steps
    assert result["ratio"] <= LIMIT, result
