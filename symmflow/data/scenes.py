"""An offline scene set for semantic segmentation and synthesis, built from real MNIST digits.

Each canvas holds one to ``max_digits`` of the 5,000 bundled digits (:mod:`symmflow.data.mnist`),
shrunk and drawn in a random colour over a varied background (a two-colour gradient at a
random angle with faint stripes).  The mask gives every digit's footprint (stroke pixels,
dilated by one pixel) its digit's class -- class 0 is the background, class ``d + 1`` the
digit ``d`` -- so segmenting needs recognition, while the colours, backgrounds and stroke
shapes leave synthesis its freedom.  Later digits overwrite earlier ones where they overlap.

The training scenes use only training digits and the test scenes only test digits
(:func:`~symmflow.data.mnist.stratified_split`), and the whole set follows from ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from symmflow.data.mnist import bundled_digits, stratified_split

NUM_CLASSES = 11
CLASS_NAMES = ("background",) + tuple(f"digit {d}" for d in range(10))
#: Well-separated palette colours (at least 127 grey levels apart on some channel).
SCENE_COLOURS = (
    (0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255),
    (0, 255, 255), (255, 255, 255), (127, 0, 127), (0, 127, 127), (127, 127, 0),
)


@dataclass(frozen=True)
class SceneConfig:
    size: int = 32
    digit_size: int = 14
    max_digits: int = 3
    train_scenes: int = 8_000
    test_scenes: int = 500
    seed: int = 7


def _shrunk_digits(images: np.ndarray, size: int) -> Tensor:
    """uint8 (N, 28, 28) -> alpha in [0, 1] (N, size, size) from the central 20x20 box."""
    box = torch.from_numpy(images[:, 4:24, 4:24]).float().div(255.0).unsqueeze(1)
    return F.interpolate(box, size=(size, size), mode="area").squeeze(1).clamp(0, 1)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A two-colour gradient at a random angle with faint stripes, RGB in [0, 1], (3, size, size)."""
    a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    angle, freq, phase = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.6), rng.uniform(0, 2 * np.pi)
    u = np.linspace(-1, 1, size)
    xx, yy = np.meshgrid(u, u)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy + 1.4142) / 2.8284
    stripes = 0.08 * np.sin(freq * size * (np.sin(angle) * xx - np.cos(angle) * yy) + phase)
    return np.clip(a[:, None, None] * (1 - ramp) + b[:, None, None] * ramp + stripes, 0, 1)


def _ink(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A digit colour that stands out from the background's mean colour."""
    mean = background.mean(axis=(1, 2))
    for _ in range(100):
        colour = rng.uniform(0, 1, 3)
        if np.linalg.norm(colour - mean) > 0.6:
            return colour
    return 1.0 - np.round(mean)


def build_scenes(split: str, config: SceneConfig = SceneConfig()) -> tuple[Tensor, Tensor]:
    """Images (N, 3, S, S) in [-1, 1] and class maps (N, S, S) of the ``train`` or ``test`` scenes."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    digits, labels = bundled_digits()
    train_ids, test_ids = stratified_split(labels)
    pool = train_ids if split == "train" else test_ids
    count = config.train_scenes if split == "train" else config.test_scenes
    rng = np.random.default_rng([config.seed, 0 if split == "train" else 1])
    alpha_all = _shrunk_digits(digits[pool], config.digit_size).numpy()
    size, d = config.size, config.digit_size
    images = np.empty((count, 3, size, size), np.float32)
    masks = np.zeros((count, size, size), np.int64)
    order = rng.permutation(len(pool))
    cursor = 0
    for i in range(count):
        canvas = _background(rng, size)
        for _ in range(rng.integers(1, config.max_digits + 1)):
            if cursor == len(order):
                order, cursor = rng.permutation(len(pool)), 0
            j = order[cursor]
            cursor += 1
            for _ in range(10):  # prefer a free spot; overlap only when none is found
                r, c = rng.integers(0, size - d + 1, 2)
                if (masks[i, r:r + d, c:c + d] > 0).mean() < 0.1:
                    break
            alpha = np.zeros((size, size), np.float32)
            alpha[r:r + d, c:c + d] = alpha_all[j]
            canvas = canvas * (1 - alpha) + _ink(rng, canvas)[:, None, None] * alpha
            footprint = F.max_pool2d(torch.from_numpy(alpha > 0.3).float()[None, None], 3, 1, 1)[0, 0]
            masks[i][footprint.numpy() > 0] = labels[pool[j]] + 1
        images[i] = canvas
    return torch.from_numpy(images) * 2 - 1, torch.from_numpy(masks)
