"""The processes of one run (``accelerate launch`` / ``torchrun``; one process when not launched).

Every process trains the same network on its own shard of each batch (accelerate's data
parallelism: the gradients are averaged, so the parameters stay identical), evaluates its own
shard of the evaluation batches, and the metrics are reduced across processes -- mIoU by
torchmetrics' own sync, Frechet-distance features and counts by gathering.  Only the main
process writes (model folders, cells, tables).  Which process this is comes from the
process group or the launcher's ``RANK`` and ``WORLD_SIZE``; the collectives go through
accelerate's process state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, TypeVar

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """This process's place among the ``count`` processes of a run."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"process {self.index} of {self.count}: the index must lie in [0, count)")

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def take(self, items: Iterable[T]) -> Iterator[tuple[int, T]]:
        """(position, item) of every ``count``-th item from ``index``: this process's share."""
        for position, item in enumerate(items):
            if position % self.count == self.index:
                yield position, item

    def rows(self, start: int, size: int) -> slice:
        """This process's ``size`` rows of a global batch of ``size * count`` rows starting at ``start``."""
        return slice(start + self.index * size, start + (self.index + 1) * size)


def keyed_generator(*parts) -> torch.Generator:
    """A CPU generator seeded by a hash of ``parts`` (JSON values): a draw keyed by what it is
    for and where it lies (a seed, a batch's position), the same on whichever process makes it."""
    import hashlib
    import json

    import torch

    text = json.dumps(parts, sort_keys=True)
    return torch.Generator().manual_seed(int(hashlib.sha1(text.encode()).hexdigest()[:15], 16))


def launched() -> Shard:
    """This process's shard: from the process group when one is set up, else from the
    launcher's environment (``Shard()`` when not launched)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Shard(dist.get_rank(), dist.get_world_size())
    return Shard(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))


def _state(device: str):
    from accelerate import PartialState

    return PartialState(cpu=str(device) == "cpu")


def gather(objects: list, shard: Shard, device: str = "cpu") -> list:
    """Every process's ``objects``, concatenated in process order (``objects`` itself on one process)."""
    if shard.count == 1:
        return objects
    from accelerate.utils import gather_object

    _state(device)
    return gather_object(objects)


def wait_for_everyone(shard: Shard, device: str = "cpu") -> None:
    if shard.count > 1:
        _state(device).wait_for_everyone()


def close(shard: Shard, device: str = "cpu") -> None:
    """End a run of several processes together: wait for all, then tear the process group down
    (a process leaving while a peer's transport is still open can abort the peer)."""
    import torch.distributed as dist

    if shard.count > 1 and dist.is_available() and dist.is_initialized():
        state = _state(device)
        state.wait_for_everyone()
        state.destroy_process_group()
