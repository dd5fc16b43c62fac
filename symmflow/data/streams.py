"""Endless streams of training batches from stored data; every training loop over a data set
draws from one of these (the toy draws fresh spiral points instead).

* :func:`epoch_batches` -- shuffled epochs over tensors held in memory (the last partial
  batch of an epoch is dropped);
* :func:`draw_batches` -- independent uniform draws with replacement from tensors in memory;
* :func:`loader_batches` -- shuffled epochs of a map-style dataset read by a ``DataLoader``.

Each is a pure function of its seed, so a run is reproducible from its settings.  With a
:class:`~symmflow.distributed.Shard` of ``count`` processes and ``accumulation`` micro-batches per
optimiser step, each stream draws the same global batch of ``batch_size * count * accumulation``
rows on every process and yields, micro-batch after micro-batch, this process's ``batch_size`` rows
of each (:mod:`symmflow.batching`): the rows of a step, and the order of the steps, are the same
for every split of one global batch, so a stream's position is counted in global batches.  The
epoch streams yield whole global batches only, dropping an epoch's last partial one (the authors'
loader keeps it, reference notes section 11: the profiles count an epoch as ceil(N / global
batch) steps all the same).
"""

from __future__ import annotations

import os
from typing import Iterator

import torch
from torch import Tensor

from symmflow.distributed import Shard
from symmflow.errors import UsageError


def _check_one_batch(count: int, batch_size: int, shard: Shard, accumulation: int = 1) -> None:
    """An epoch of ``count`` rows holds at least one complete global batch (else a stream of
    whole batches would loop over empty epochs for ever)."""
    size = batch_size * shard.count * accumulation
    if count < size:
        split = f" ({shard.count} processes x {accumulation} accumulation steps x {batch_size})" \
            if size != batch_size else ""
        raise UsageError(f"{count} training rows are fewer than one batch of {size}{split}; "
                         "use a smaller batch or more training data")


def micro_batches(batch_size: int, shard: Shard, accumulation: int = 1) -> list[slice]:
    """This process's rows of each of the ``accumulation`` micro-batches of one global batch."""
    micro = batch_size * shard.count
    return [shard.rows(k * micro, batch_size) for k in range(accumulation)]


def _global_batches(order: Tensor, batch_size: int, shard: Shard, accumulation: int = 1) -> Iterator[Tensor]:
    """This process's rows of each micro-batch of each complete global batch of ``order``."""
    size = batch_size * shard.count * accumulation
    for start in range(0, len(order) - size + 1, size):
        for rows in micro_batches(batch_size, shard, accumulation):
            yield order[start:start + size][rows]


def epoch_batches(*tensors: Tensor, batch_size: int, seed: int, device="cpu",
                  shard: Shard = Shard(), accumulation: int = 1) -> Iterator[tuple[Tensor, ...]]:
    generator = torch.Generator().manual_seed(seed)
    count = len(tensors[0])
    _check_one_batch(count, batch_size, shard, accumulation)
    while True:
        for index in _global_batches(torch.randperm(count, generator=generator), batch_size, shard, accumulation):
            yield tuple(x[index].to(device) for x in tensors)


def draw_batches(*tensors: Tensor, batch_size: int, seed: int, device="cpu",
                 shard: Shard = Shard(), accumulation: int = 1) -> Iterator[tuple[Tensor, ...]]:
    generator = torch.Generator().manual_seed(seed)
    count = len(tensors[0])
    while True:
        drawn = torch.randint(0, count, (batch_size * shard.count * accumulation,), generator=generator)
        for rows in micro_batches(batch_size, shard, accumulation):
            yield tuple(x[drawn[rows]].to(device) for x in tensors)


def loader_workers() -> int:
    """Worker processes of a ``DataLoader`` reading a data set from disk."""
    return min(4, os.cpu_count() or 1)


def quiet_worker(worker_id: int) -> None:
    """A ``DataLoader`` worker ignores Ctrl-C and SIGTERM sent to the whole process group: the
    main process ends the run in one line and shuts its workers down itself."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def loader_batches(dataset, batch_size: int, seed: int, device="cpu", workers: int | None = None,
                   shard: Shard = Shard(), accumulation: int = 1) -> Iterator[tuple[Tensor, ...]]:
    from torch.utils.data import DataLoader

    generator = torch.Generator().manual_seed(seed)
    workers = loader_workers() if workers is None else workers
    _check_one_batch(len(dataset), batch_size, shard, accumulation)
    while True:
        order = torch.randperm(len(dataset), generator=generator)
        mine = [index.tolist() for index in _global_batches(order, batch_size, shard, accumulation)]
        # the workers' RNGs (random crops) are seeded from this generator afresh every epoch
        workers_seed = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,), generator=generator)))
        for batch in DataLoader(dataset, batch_sampler=mine, num_workers=workers, generator=workers_seed,
                                worker_init_fn=quiet_worker):
            yield tuple(x.to(device) for x in batch)
