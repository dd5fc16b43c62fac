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
from symmflow.models.guided_unet import GuidedUNetConfig
from symmflow.models.pixel_unet import pixel_unet


class UNetClassifier(nn.Module):
    def __init__(self, config, channels: int, num_classes: int, size: int):
        super().__init__()
        unet = pixel_unet(config, channels, channels, size)
        self.guided = isinstance(config, GuidedUNetConfig)
        if self.guided:  # the authors' U-Net: its input blocks and middle block
            unet.output_blocks, unet.out = nn.ModuleList(), None
            width, groups = config.model_channels * config.channel_mult[-1], 32
        else:
            unet.up_blocks, unet.conv_norm_out, unet.conv_out = nn.ModuleList(), None, None
            width, groups = config.base_channels * config.multipliers[-1], config.norm_groups
        self.unet = unet
        self.head = PooledHead(width, groups, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Pooled encoder features (B, C): the head before its final linear layer."""
        t = torch.ones(len(x), device=x.device)
        if self.guided:
            return self.head.pool(self.unet.encode(x, self.unet.embedding(t))[0])
        return self.head.pool(encoder_features(self.unet, x, time_embedding(self.unet, t)))

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
