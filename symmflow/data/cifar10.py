"""CIFAR-10 from torchvision's on-disk layout: the python pickles in ``cifar-10-batches-py``.

Read with the standard library's pickle and numpy (torchvision is not needed): five training
batches of 10,000 and one test batch, each a dict with ``data`` (N, 3072) uint8 in
channel-major order and ``labels``.  Images are scaled to [-1, 1], 3x32x32.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from symmflow.errors import UsageError

FOLDER = "cifar-10-batches-py"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""The 10 classes' names, in label order (the data set's ``batches.meta``)."""
FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch file as uint8 (N, 3, 32, 32) images and int64 labels."""
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as error:  # a truncated or foreign pickle fails in many ways
        raise UsageError(f"cannot read {path} as a CIFAR-10 batch ({type(error).__name__}); "
                         "it is truncated or corrupt, download it again") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise UsageError(f"{path}: expected (N, 3072) pixels and N labels, got {data.shape} and "
                         f"{labels.shape}; the file is corrupt, download it again")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise UsageError(f"{path}: labels outside 0-9; the file is corrupt, download it again")
    return data.reshape(-1, 3, 32, 32), labels


def cifar10(root: Path, split: str) -> tuple[Tensor, Tensor]:
    """The 50,000 training or 10,000 test images of CIFAR-10 under ``root``, in [-1, 1]."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(root) / FOLDER
    missing = [name for name in FILES[split] if not (folder / name).is_file()]
    if missing:
        raise UsageError(f"cifar10: no {missing[0]} in {folder}; download CIFAR-10 there, e.g. with "
                         f"torchvision.datasets.CIFAR10('{root}', download=True), or pass --data-root")
    parts = [read_batch(folder / name) for name in FILES[split]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images).float().div(127.5).sub(1.0), torch.from_numpy(labels)
