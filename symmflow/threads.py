"""OpenMP threads that yield instead of spinning while they wait.

torch's CPU kernels run on an OpenMP pool (GNU libgomp in the CPU wheels) whose idle threads spin
for a while before they sleep.  On a machine where another process holds a core, a thread that
spins waits for a core it cannot get: measured here (2 cores, one ``nice -n 19`` busy process), a
convolution training step took 1,217-1,297 ms on 2 spinning threads, 356 ms on one thread and
392 ms on 2 threads with ``OMP_WAIT_POLICY=PASSIVE`` (the study: ``python -m studies.threads``).
libgomp reads the policy once, when torch loads it, so it is set before torch is imported, by the
entry points (the ``benchmarks`` and ``studies`` packages, the ``symmflow`` command), and a policy
the user set is kept.
"""

from __future__ import annotations

import os
import sys

POLICY_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
"""The variables that set how OpenMP threads wait (the standard's, libgomp's and Intel's)."""


def yield_while_waiting(environ=os.environ) -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless a wait policy is set already, or torch is already
    imported (its OpenMP runtime has read the policy: setting it now would only mislabel it)."""
    if "torch" not in sys.modules and not any(name in environ for name in POLICY_VARIABLES):
        environ["OMP_WAIT_POLICY"] = "PASSIVE"


def wait_policy(environ=os.environ) -> str:
    """How this process's OpenMP threads wait, as provenance records it."""
    chosen = [f"{name}={environ[name]}" for name in POLICY_VARIABLES if name in environ]
    return " ".join(chosen) or "OpenMP's default (threads spin before sleeping)"
