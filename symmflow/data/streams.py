"""Endless streams of training batches from stored data; every training loop over a data set
draws from one of these (the toy draws fresh spiral points instead).

* :func:`epoch_batches` -- shuffled epochs over tensors held in memory (the last partial
  batch of an epoch is dropped);
* :func:`draw_batches` -- independent uniform draws with replacement from tensors in memory;
* :func:`loader_batches` -- shuffled epochs of a map-style dataset read by a ``DataLoader``.

Each is a pure function of its seed, so a run is reproducible from its settings.  With a
:class:`~symmflow.distributed.Shard` of ``count`` processes each stream draws the same global
batch of ``batch_size * count`` rows on every process and yields this process's ``batch_size``
of them (accelerate's data parallelism: the batch size is per process).
"""

from __future__ import annotations

import os
from typing import Iterator

import torch
from torch import Tensor

from symmflow.distributed import Shard
from symmflow.errors import UsageError


def _check_one_batch(count: int, batch_size: int, shard: Shard) -> None:
    """An epoch of ``count`` rows holds at least one complete global batch (else a stream of
    whole batches would loop over empty epochs for ever)."""
    if count < batch_size * shard.count:
        raise UsageError(f"{count} training rows are fewer than one batch of {batch_size * shard.count}"
                         f"{f' ({shard.count} processes x {batch_size})' if shard.count > 1 else ''}; "
                         "use a smaller batch or more training data")


def _global_batches(order: Tensor, batch_size: int, shard: Shard) -> Iterator[Tensor]:
    """This process's rows of each complete global batch of ``order``."""
    size = batch_size * shard.count
    for start in range(0, len(order) - size + 1, size):
        yield order[shard.rows(start, batch_size)]


def epoch_batches(*tensors: Tensor, batch_size: int, seed: int, device="cpu",
                  shard: Shard = Shard()) -> Iterator[tuple[Tensor, ...]]:
    generator = torch.Generator().manual_seed(seed)
    count = len(tensors[0])
    _check_one_batch(count, batch_size, shard)
    while True:
        for index in _global_batches(torch.randperm(count, generator=generator), batch_size, shard):
            yield tuple(x[index].to(device) for x in tensors)


def draw_batches(*tensors: Tensor, batch_size: int, seed: int, device="cpu",
                 shard: Shard = Shard()) -> Iterator[tuple[Tensor, ...]]:
    generator = torch.Generator().manual_seed(seed)
    count = len(tensors[0])
    while True:
        index = torch.randint(0, count, (batch_size * shard.count,), generator=generator)[shard.rows(0, batch_size)]
        yield tuple(x[index].to(device) for x in tensors)


def loader_workers() -> int:
    """Worker processes of a ``DataLoader`` reading a data set from disk."""
    return min(4, os.cpu_count() or 1)


def loader_batches(dataset, batch_size: int, seed: int, device="cpu", workers: int | None = None,
                   shard: Shard = Shard()) -> Iterator[tuple[Tensor, ...]]:
    from torch.utils.data import DataLoader

    generator = torch.Generator().manual_seed(seed)
    workers = loader_workers() if workers is None else workers
    _check_one_batch(len(dataset), batch_size, shard)
    while True:
        order = torch.randperm(len(dataset), generator=generator)
        mine = [index.tolist() for index in _global_batches(order, batch_size, shard)]
        # the workers' RNGs (random crops) are seeded from this generator afresh every epoch
        workers_seed = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,), generator=generator)))
        for batch in DataLoader(dataset, batch_sampler=mine, num_workers=workers, generator=workers_seed):
            yield tuple(x.to(device) for x in batch)
