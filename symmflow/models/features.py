"""A small image network whose pooled features serve as a local Frechet-distance space.

Where Inception weights are not on disk, the synthesis metric is a Frechet distance in the
features of this network, trained on the scene set's training images to say which digits a
scene holds (multi-label), and reported as ``FD-scenenet`` -- never as FID.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

NAME = "scenenet"


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(8, cout), nn.SiLU())


class SceneFeatureNet(nn.Module):
    """Four conv blocks, global average pooling to ``width`` features, a linear head."""

    def __init__(self, outputs: int = 10, width: int = 128):
        super().__init__()
        self.body = nn.Sequential(_block(3, 32, 1), _block(32, 64, 2), _block(64, width, 2),
                                  _block(width, width, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(width, outputs)

    def features(self, images: Tensor) -> Tensor:
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


def presence(masks: Tensor, classes: int = 10) -> Tensor:
    """Multi-label targets (B, classes): which digit classes (mask ids 1..classes) a scene holds."""
    ids = torch.arange(1, classes + 1, device=masks.device)
    return (masks.flatten(1)[:, :, None] == ids).any(1).float()
