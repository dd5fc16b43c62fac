"""Endless streams of training batches from stored data; every training loop over a data set
draws from one of these (the toy draws fresh spiral points instead).

* :func:`epoch_batches` -- shuffled epochs over tensors held in memory (the last partial
  batch of an epoch is dropped);
* :func:`draw_batches` -- independent uniform draws with replacement from tensors in memory;
* :func:`loader_batches` -- shuffled epochs of a map-style dataset read by a ``DataLoader``.

Each is a pure function of its seed, so a run is reproducible from its settings.
"""

from __future__ import annotations

import os
from typing import Iterator

import torch
from torch import Tensor


def epoch_batches(*tensors: Tensor, batch_size: int, seed: int, device="cpu") -> Iterator[tuple[Tensor, ...]]:
    generator = torch.Generator().manual_seed(seed)
    count = len(tensors[0])
    while True:
        order = torch.randperm(count, generator=generator)
        for start in range(0, count - batch_size + 1, batch_size):
            index = order[start:start + batch_size]
            yield tuple(x[index].to(device) for x in tensors)


def draw_batches(*tensors: Tensor, batch_size: int, seed: int, device="cpu") -> Iterator[tuple[Tensor, ...]]:
    generator = torch.Generator().manual_seed(seed)
    count = len(tensors[0])
    while True:
        index = torch.randint(0, count, (batch_size,), generator=generator)
        yield tuple(x[index].to(device) for x in tensors)


def loader_workers() -> int:
    """Worker processes of a ``DataLoader`` reading a data set from disk."""
    return min(4, os.cpu_count() or 1)


def loader_batches(dataset, batch_size: int, seed: int, device="cpu",
                   workers: int | None = None) -> Iterator[tuple[Tensor, ...]]:
    from torch.utils.data import DataLoader

    generator = torch.Generator().manual_seed(seed)
    workers = loader_workers() if workers is None else workers
    while True:
        for batch in DataLoader(dataset, batch_size, shuffle=True, drop_last=True, num_workers=workers,
                                generator=generator):
            yield tuple(x.to(device) for x in batch)
