"""The discriminative reference: the same U-Net backbone trained with cross-entropy.

The encoder of the pixel U-Net (down path and middle block, :func:`encoder_features`) and
the same pooled head SymmFlow's vector label uses, fed the clean image at a fixed t = 1
(the time embedding then acts as a learned bias).  The decoder is dropped: a classifier
does not need it.  Its pooled features also serve as the feature space of the Frechet
distance between generated and held-out images (:class:`Features`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symmflow.models.label_unet import PooledHead, encoder_features, time_embedding
from symmflow.models.pixel_unet import UNetConfig, pixel_unet


class UNetClassifier(nn.Module):
    def __init__(self, config: UNetConfig, channels: int, num_classes: int, size: int):
        super().__init__()
        unet = pixel_unet(config, channels, channels, size)
        unet.up_blocks, unet.conv_norm_out, unet.conv_out = nn.ModuleList(), None, None
        self.unet = unet
        self.head = PooledHead(config.base_channels * config.multipliers[-1], config.norm_groups, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Pooled encoder features (B, C): the head before its final linear layer."""
        emb = time_embedding(self.unet, torch.ones(len(x), device=x.device))
        return self.head.pool(encoder_features(self.unet, x, emb))

    def forward(self, x: Tensor) -> Tensor:
        return self.head.linear(self.features(x))


def cross_entropy_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    images, labels = batch
    return F.cross_entropy(model(images).float(), labels)


class Features(nn.Module):
    """A trained classifier's pooled features, shaped for torchmetrics' Frechet distance."""

    def __init__(self, classifier: UNetClassifier):
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = classifier.head.linear.in_features

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        return self.classifier.features(images.float())
