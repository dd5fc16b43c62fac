"""Peak resident memory of one piece of work, on Linux.

The kernel keeps a process's high-water resident set (``VmHWM`` in ``/proc/self/status``);
writing ``5`` to ``/proc/self/clear_refs`` resets it to the current resident set (proc(5)).
Resetting it just before the work keeps what the process reached earlier -- importing torch,
the cases measured before -- out of the work's peak, which the lifetime peak
(``getrusage``'s ``ru_maxrss``) cannot do.  Before the reset, the C allocator hands the memory
it holds free back to the system (glibc's ``malloc_trim``), so that a call repeated after a
warm-up is measured by what it allocates, not by what earlier calls left cached.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Callable

_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _status_mib(field: str) -> float:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise OSError(f"{field} not in {_STATUS}")


def _release_free_memory() -> None:
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to hand back
        pass


def peak_growth_mib(work: Callable[[], object], device: str = "cpu") -> float | None:
    """Run ``work`` once and return how many MiB the process's peak resident set (on a CUDA
    ``device``: the GPU memory allocated) rose above what it held just before it (None where the
    kernel does not offer the reset)."""
    if device.startswith("cuda"):
        return _gpu_peak_growth_mib(work, device)
    _release_free_memory()
    try:
        _CLEAR_REFS.write_text("5")
        before = _status_mib("VmRSS")
    except OSError:
        work()
        return None
    work()
    return max(0.0, _status_mib("VmHWM") - before)


def _gpu_peak_growth_mib(work: Callable[[], object], device: str) -> float:
    import torch

    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    work()
    torch.cuda.synchronize(device)
    return max(0.0, (torch.cuda.max_memory_allocated(device) - before) / 2**20)
