"""OpenMP threads that yield instead of spinning while they wait.

torch's CPU kernels run on an OpenMP pool (GNU libgomp in the CPU wheels) whose idle threads spin
for a while before they sleep.  On a machine where another process holds a core, a thread that
spins waits for a core it cannot get: measured here (2 cores, one ``nice -n 19`` busy process), a
convolution training step took 1,217-1,297 ms on 2 spinning threads, 356 ms on one thread and
392 ms on 2 threads with ``OMP_WAIT_POLICY=PASSIVE`` (the study: ``python -m studies.threads``);
on an idle machine yielding threads cost a U-Net step time instead.  libgomp reads the policy once,
when torch loads it, so the entry points (the ``benchmarks`` and ``studies`` packages, the
``symmflow`` command) choose it before torch is imported: yielding where the machine is busy at
start, OpenMP's default where it is idle; a policy the user set is kept.
"""

from __future__ import annotations

import os
import sys

POLICY_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
"""The variables that set how OpenMP threads wait (the standard's, libgomp's and Intel's)."""


BUSY_LOAD = 0.75
"""The 1-minute load average from which the machine counts as busy at start (about one core held
by other work): spinning threads then wait for cores they cannot get."""


def yield_while_waiting(environ=os.environ, load=os.getloadavg) -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` when the machine is busy at start (:data:`BUSY_LOAD`), unless a
    wait policy is set already or torch is already imported (its OpenMP runtime has read the
    policy: setting it now would only mislabel it).  On an idle machine OpenMP's default stays:
    yielding threads sleep between parallel regions, which costs an idle run (the study measures both)."""
    if "torch" in sys.modules or any(name in environ for name in POLICY_VARIABLES):
        return
    try:
        busy = load()[0] >= BUSY_LOAD
    except OSError:  # no load average here
        busy = False
    if busy:
        environ["OMP_WAIT_POLICY"] = "PASSIVE"


def wait_policy(environ=os.environ) -> str:
    """How this process's OpenMP threads wait, as provenance records it."""
    chosen = [f"{name}={environ[name]}" for name in POLICY_VARIABLES if name in environ]
    return " ".join(chosen) or "OpenMP's default (threads spin before sleeping)"
