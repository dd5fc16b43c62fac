"""The peak memory a piece of work adds (benchmarks/memory.py), on Linux."""

import sys

import pytest
import torch

from benchmarks.memory import peak_growth_mib


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_peak_of_one_call_is_what_it_allocates_not_what_came_before():
    held = [torch.ones(64 * 2**20 // 4) for _ in range(4)]  # 256 MiB reached before, then freed
    del held
    added = peak_growth_mib(lambda: torch.ones(48 * 2**20 // 4).sum())  # 48 MiB while it runs
    assert 40 <= added <= 60, added
    assert peak_growth_mib(lambda: torch.ones(16).sum()) < 4
