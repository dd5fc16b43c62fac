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


def test_on_a_gpu_the_peak_is_read_from_the_cuda_allocator_around_the_waited_for_work(monkeypatch):
    """The CUDA path's bookkeeping, with the allocator's counters stood in for (no GPU here):
    the peak is reset before the work, read after it has been waited for, less what was held."""
    calls, state = [], {"allocated": 100 * 2**20, "peak": 0}

    def work():
        calls.append("work")
        state["peak"] = state["allocated"] + 30 * 2**20  # 30 MiB above what was held, while it ran

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("synchronize"))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats",
                        lambda device=None: (calls.append("reset"), state.update(peak=state["allocated"])))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: state["allocated"])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: state["peak"])
    assert peak_growth_mib(work, "cuda") == 30
    assert calls == ["synchronize", "reset", "work", "synchronize"]
