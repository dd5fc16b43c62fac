"""How the global batch of a training is split over the processes of a launch and over gradient
accumulation.

A profile states its global batch (the samples of one optimiser step); every launch trains on it,
whatever its process count: each process takes ``global / (processes x accumulation)`` samples per
micro-batch, ``accumulation`` micro-batches per step (accelerate's data parallelism averages the
gradients over the processes, :func:`symmflow.train.fit` sums the micro-batches).  The authors' own
launches (reference notes section 6: 32 per GPU on 2 / 4 GPUs; section 5: one GPU) are one such
split of the global batch, so the optimisation is theirs on any device count.
"""

from __future__ import annotations

from dataclasses import dataclass

from symmflow.errors import UsageError


@dataclass(frozen=True)
class BatchPlan:
    """One optimiser step of ``global_batch`` samples: ``processes`` x ``accumulation`` micro-batches
    of :attr:`per_device` samples each."""

    global_batch: int
    processes: int = 1
    accumulation: int = 1

    def __post_init__(self) -> None:
        if min(self.global_batch, self.processes, self.accumulation) <= 0 or \
                self.global_batch % (self.processes * self.accumulation):
            raise ValueError(f"a global batch of {self.global_batch} does not split into {self.processes} processes "
                             f"x {self.accumulation} accumulation steps")

    @property
    def per_device(self) -> int:
        """The samples of one micro-batch on one process."""
        return self.global_batch // (self.processes * self.accumulation)

    def record(self) -> dict:
        """What a cell's provenance and a checkpoint record of the split."""
        return {"processes": self.processes, "per_device_batch": self.per_device,
                "accumulation": self.accumulation, "global_batch": self.global_batch}


def plan(global_batch: int, processes: int = 1, per_device: int | None = None,
         accumulation: int | None = None, what: str = "") -> BatchPlan:
    """The split of ``global_batch`` over ``processes``: ``accumulation`` steps when given, else the
    fewest steps whose per-device batch is at most ``per_device`` (the largest per-device batch up
    to it that divides the share of each process), else one.  A split that cannot be made is one
    :class:`~symmflow.errors.UsageError` line naming the value and the remedy (``what`` names the
    network or data set whose global batch it is)."""
    of = f" ({what})" if what else ""
    check_options(per_device, accumulation)
    if global_batch % processes:
        raise UsageError(f"the global batch of {global_batch}{of} does not divide among {processes} processes; "
                         f"launch a number of processes that divides {global_batch} "
                         f"(e.g. {', '.join(map(str, _divisors(global_batch)[:6]))})")
    share = global_batch // processes
    if accumulation is None:
        fits = [d for d in _divisors(share) if per_device is None or d <= per_device]
        accumulation = share // max(fits)
    if share % accumulation:
        raise UsageError(f"the global batch of {global_batch}{of} on {processes} processes does not divide into "
                         f"--gradient-accumulation-steps {accumulation}; use a number of steps that divides "
                         f"{share} (e.g. {', '.join(map(str, _divisors(share)[:6]))})")
    chosen = BatchPlan(global_batch, processes, accumulation)
    if per_device is not None and chosen.per_device > per_device:
        raise UsageError(f"--gradient-accumulation-steps {accumulation} leaves {chosen.per_device} samples per device "
                         f"of the global batch of {global_batch}{of}, more than --batch-size-per-device {per_device}; "
                         "give one of the two options, or more steps")
    return chosen


def check_options(per_device: int | None, accumulation: int | None) -> None:
    """``--batch-size-per-device`` and ``--gradient-accumulation-steps``, where given, are positive."""
    if per_device is not None and per_device <= 0:
        raise UsageError(f"--batch-size-per-device {per_device}: use a positive number of samples, "
                         "e.g. --batch-size-per-device 16")
    if accumulation is not None and accumulation <= 0:
        raise UsageError(f"--gradient-accumulation-steps {accumulation}: use a positive number of micro-batches "
                         "per optimiser step, e.g. --gradient-accumulation-steps 2")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]
