"""Two interleaved spirals, the toy data of the paper's section 3.4 (notes section 4).

Spiral A: ``theta = sqrt(linspace(0, 4 pi, n))``, ``radius = linspace(0, 1, n)``,
``(r cos theta, r sin theta)``; spiral B is A rotated by pi and shifted +0.5 in x.
Both get Gaussian noise of standard deviation 0.1.  Class A is label 0, B is label 1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class TwoSpirals:
    """Draws fresh noisy points from the two spirals (n base points per spiral)."""

    def __init__(self, points_per_spiral: int = 50_000, noise: float = 0.1):
        self.noise = noise
        theta = torch.linspace(0, 4 * math.pi, points_per_spiral).sqrt()
        radius = torch.linspace(0, 1, points_per_spiral)
        a = torch.stack([radius * torch.cos(theta), radius * torch.sin(theta)], 1)
        b = -a + torch.tensor([0.5, 0.0])  # rotation by pi, then the shift
        self.base = torch.stack([a, b])  # (2, n, 2)

    def sample(self, batch: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``batch`` points (B, 2) with their labels (B,), each class drawn with probability 1/2."""
        labels = torch.randint(0, 2, (batch,), generator=generator)
        index = torch.randint(0, self.base.shape[1], (batch,), generator=generator)
        points = self.base[labels, index]
        return points + self.noise * torch.randn(points.shape, generator=generator), labels
