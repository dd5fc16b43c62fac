"""Peak resident memory of one piece of work, on Linux.

The kernel keeps a process's high-water resident set (``VmHWM`` in ``/proc/self/status``);
writing ``5`` to ``/proc/self/clear_refs`` resets it to the current resident set (proc(5)).
Resetting it just before the work keeps what the process reached earlier -- importing torch,
the cases measured before -- out of the work's peak, which the lifetime peak
(``getrusage``'s ``ru_maxrss``) cannot do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _status_mib(field: str) -> float:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise OSError(f"{field} not in {_STATUS}")


def peak_growth_mib(work: Callable[[], object]) -> float | None:
    """Run ``work`` once and return how many MiB the process's peak resident set rose above its
    resident set just before it (None where the kernel does not offer the reset)."""
    try:
        _CLEAR_REFS.write_text("5")
        before = _status_mib("VmRSS")
    except OSError:
        work()
        return None
    work()
    return max(0.0, _status_mib("VmHWM") - before)
