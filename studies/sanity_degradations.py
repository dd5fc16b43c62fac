"""The sanity ladder's degradations of real images (``python -m studies.sanity_ladder``): Gaussian
blur, additive noise, colour jitter, digits erased, and masks (classes) shuffled between images, each
at :data:`LEVELS` increasing strengths."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

LEVELS = 4
"""The strengths of each degradation: the rungs of the ladder above the real images it starts from."""
SEED = 12345
"""The degradations' own randomness (which digits are erased, which masks shuffled, the noise)."""


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Each channel convolved with a Gaussian of ``sigma`` pixels (reflect padding)."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-x ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.reshape(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(rows, kernel.reshape(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def additive_noise(images: Tensor, sd: float, generator: torch.Generator) -> Tensor:
    return (images + sd * torch.randn(images.shape, generator=generator)).clamp(-1, 1)


def colour_jitter(images: Tensor, strength: float, generator: torch.Generator) -> Tensor:
    """Per image and channel a gain in 1 +- strength and an offset in +- strength (one gain and
    offset for all channels of a grey image): brightness, contrast and colour shifts."""
    n, c = images.shape[:2]
    gain = 1 + strength * (2 * torch.rand(n, c, 1, 1, generator=generator) - 1)
    offset = strength * (2 * torch.rand(n, c, 1, 1, generator=generator) - 1)
    return (images * gain + offset).clamp(-1, 1)


def erase_scene_digits(images: Tensor, masks: Tensor, share: float, generator: torch.Generator) -> Tensor:
    """Each digit class of each scene erased with probability ``share``: its pixels painted in the
    mean colour of the scene's background."""
    out = images.clone()
    for i in range(len(images)):
        background = masks[i] == 0
        fill = images[i][:, background].mean(1) if background.any() else images[i].mean((1, 2))
        for digit in masks[i].unique():
            if digit != 0 and torch.rand(1, generator=generator).item() < share:
                out[i][:, masks[i] == digit] = fill[:, None]
    return out


def erase_digit_area(images: Tensor, share: float, generator: torch.Generator) -> Tensor:
    """A square of ``share`` of each image's area, at a random place, painted black (MNIST's background)."""
    out = images.clone()
    size = images.shape[-1]
    side = max(1, round(size * math.sqrt(share)))
    for i in range(len(images)):
        r, c = torch.randint(0, size - side + 1, (2,), generator=generator).tolist()
        out[i, :, r:r + side, c:c + side] = -1.0
    return out


def shuffle_labels(labels: Tensor, share: float, generator: torch.Generator) -> Tensor:
    """``share`` of the labels (masks or classes) moved to other images by a cyclic shift of a
    random subset, so that none of the chosen keeps its own."""
    count = round(share * len(labels))
    if count < 2:
        return labels
    chosen = torch.randperm(len(labels), generator=generator)[:count]
    out = labels.clone()
    out[chosen] = labels[chosen.roll(1)]
    return out


@dataclass(frozen=True)
class Degradation:
    name: str
    strengths: tuple[float, ...]
    unit: str
    images: Callable | None
    """(images, labels, strength, generator) -> degraded images; None: the images stay."""
    labels: bool = False
    """Whether it shuffles the labels the images are scored against."""


NOISE_SD = (0.1, 0.25, 0.5, 1.0)
"""Additive noise on images in [-1, 1], up to where a digit is hard to read: a first ladder that stopped
at sd 0.4 left every digit legible, and a judge that reads legible digits right stayed flat on it."""


def degradations(kind: str) -> list[Degradation]:
    """The ladder's degradations for scenes (``scenes``) or single digits (``digits``)."""
    erase = ((lambda x, y, s, g: erase_scene_digits(x, y, s, g)) if kind == "scenes"
             else (lambda x, y, s, g: erase_digit_area(x, s, g)))
    return [Degradation("Gaussian blur", (0.5, 1.0, 1.5, 2.0), "sigma (px)", lambda x, y, s, g: gaussian_blur(x, s)),
            Degradation("additive noise", NOISE_SD, "sd", lambda x, y, s, g: additive_noise(x, s, g)),
            Degradation("colour jitter", (0.1, 0.2, 0.4, 0.8), "strength",
                        lambda x, y, s, g: colour_jitter(x, s, g)),
            Degradation("digits erased", (0.25, 0.5, 0.75, 1.0), "share" if kind == "scenes" else "area share",
                        erase),
            Degradation("masks shuffled" if kind == "scenes" else "classes shuffled", (0.25, 0.5, 0.75, 1.0), "share",
                        None, labels=True)]
