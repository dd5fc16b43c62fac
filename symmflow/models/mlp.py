"""The toy MLP of the reference notebook (notes section 4).

Input: the point x (2), its label y (1) and an 8-d time feature ``[sin, cos](k pi t)``,
k = 1..4 (width 11); ten residual blocks ``h + ReLU(Linear(BatchNorm1d(h)))``; then
``Linear(11, 3)`` read as (v_x, v_y).

The hidden state is kept feature-major, (features, batch), for speed: on a CPU the 11-wide
matrix products and batch norms over 10,000 rows run several times faster in that layout.
The parameters are ordinary ``nn.Linear`` / ``nn.BatchNorm1d`` ones and the function is the
same as the row-major network's.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(width)
        self.linear = nn.Linear(width, width)

    def forward(self, h: Tensor) -> Tensor:  # h: (width, batch)
        z = self.norm(h.unsqueeze(0)).squeeze(0)  # statistics per feature over the batch
        return h + torch.relu(torch.addmm(self.linear.bias[:, None], self.linear.weight, z))


class ToyMLP(nn.Module):
    """Velocity field of the toy spiral: ``forward(x (B,2), y (B,1), t (B,)) -> (v_x, v_y)``."""

    def __init__(self, data_dim: int = 2, label_dim: int = 1, frequencies: int = 4, blocks: int = 10):
        super().__init__()
        self.data_dim, self.label_dim = data_dim, label_dim
        width = data_dim + label_dim + 2 * frequencies
        self.register_buffer("freqs", math.pi * torch.arange(1, frequencies + 1, dtype=torch.float32))
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.head = nn.Linear(width, data_dim + label_dim)

    def forward(self, x: Tensor, y: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        angle = self.freqs[:, None] * t[None, :]
        h = torch.cat([x.T, y.T, torch.sin(angle), torch.cos(angle)])
        out = torch.addmm(self.head.bias[:, None], self.head.weight, self.blocks(h)).T
        return out[:, : self.data_dim], out[:, self.data_dim:]
