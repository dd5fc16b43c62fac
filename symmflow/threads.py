"""OpenMP threads that yield instead of spinning while other work of our priority holds a core.

torch's CPU kernels run on an OpenMP pool (GNU libgomp in the CPU wheels) whose idle threads spin
for a while before they sleep.  Beside another process of the same priority, a thread that spins
waits for a core it cannot get: measured here (2 cores, one busy process at ``nice -n 0``), a scene
U-Net training step took 2,349 ms on 2 spinning threads and 621 ms on 2 yielding ones
(``OMP_WAIT_POLICY=PASSIVE``; results/cpu/threads-busy-nice-0/threads.md).  Beside work at a lower
priority (``nice -n 19``) the kernel gives our threads the cores, and spinning threads are the
fastest (results/cpu/threads.md).  So what counts is not the load average but the runnable threads
of other processes at our priority or above: the entry points (the ``benchmarks`` and ``studies``
packages, the ``symmflow`` command) count them before torch is imported -- libgomp reads its
variables once, when torch loads it -- and choose yielding threads where they hold a core.

The thread count is left alone: a count chosen from the load of the moment would change the bits of
a result between a run and its rerun or resume (a training step's weights differ between one and
two threads), where the wait policy changes only the time.  ``--threads`` sets the count.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable

POLICY_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
"""The variables that set how OpenMP threads wait (the standard's, libgomp's and Intel's)."""

CHOSEN = "SYMMFLOW_THREADS_CHOSEN"
"""Where the entry point writes why it chose yielding threads (read by provenance; inherited with the
policy by the processes it starts, which keep it)."""

SAMPLES, INTERVAL_S = 5, 0.01
"""Snapshots of the runnable threads taken at start, and the seconds between them (50 ms in all)."""


def runnable_competitors(proc: Path = Path("/proc"), own_pid: int | None = None,
                         own_nice: int | None = None) -> list[int]:
    """The process ids of the threads of other processes that are runnable now (state R) at this
    process's priority or above (a niceness no higher than ours), a pid once per such thread: the
    work the kernel shares our cores with.  Threads of lower priority (``nice -n 19`` background
    work) are left out: they yield the cores to ours."""
    own_pid = os.getpid() if own_pid is None else own_pid
    own_nice = os.getpriority(os.PRIO_PROCESS, 0) if own_nice is None else own_nice
    found = []
    for task in proc.glob("[0-9]*/task/[0-9]*/stat"):
        pid = int(task.parts[-4])
        if pid == own_pid:
            continue
        try:
            fields = task.read_text().rpartition(")")[2].split()  # the name may hold spaces and parentheses
        except OSError:  # the thread ended while we looked
            continue
        if len(fields) > 16 and fields[0] == "R" and int(fields[16]) <= own_nice:  # fields 3 (state) and 19 (nice)
            found.append(pid)
    return found


def cores_held(sample: Callable[[], list] = runnable_competitors, samples: int = SAMPLES,
               interval: float = INTERVAL_S) -> float:
    """The mean number of cores other work of our priority holds, over ``samples`` snapshots."""
    seen = []
    for i in range(samples):
        if i:
            time.sleep(interval)
        seen.append(len(sample()))
    return sum(seen) / len(seen)


def yield_while_waiting(environ=os.environ, held: Callable[[], float] = cores_held) -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` where other work of our priority holds a core at start (on average
    over the snapshots, at least half of one); elsewhere OpenMP's default stays.  Nothing is set when
    a wait policy is set already (by the user, or by the entry point of the process that started this
    one) or when torch is already imported (its OpenMP runtime has read the variables: setting them
    now would only mislabel them)."""
    if "torch" in sys.modules or any(name in environ for name in POLICY_VARIABLES):
        return
    try:
        busy = held()
    except OSError:  # no /proc here
        return
    if busy >= 0.5:
        environ["OMP_WAIT_POLICY"] = "PASSIVE"
        environ[CHOSEN] = f"{busy:.1f} cores held by other work at start"


def wait_policy(environ=os.environ) -> str:
    """How this process's OpenMP threads wait, and why, as provenance records it."""
    chosen = [f"{name}={environ[name]}" for name in POLICY_VARIABLES if name in environ]
    policy = " ".join(chosen) or "OpenMP's default (threads spin before sleeping)"
    return policy + (f"; {environ[CHOSEN]}" if CHOSEN in environ else "")
