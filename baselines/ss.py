"""The "SS" row: the pixel U-Net of the same size trained as a plain segmenter with cross-entropy.

A discriminative reference the scene set needs (the paper's tables have no such row on the
scene set): the same U-Net layout as SymmFlow's, image in, one logit per class out, fed a
fixed t = 0 (the time embedding then acts as a learned bias); one network call per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symmflow.models.pixel_unet import UNetConfig, pixel_unet, unet_output


def ss_unet(config: UNetConfig, channels: int, num_classes: int, size: int) -> nn.Module:
    return pixel_unet(config, channels, num_classes, size)


def logits(model: nn.Module, images: Tensor) -> Tensor:
    return unet_output(model(images, torch.zeros(len(images), device=images.device)))


def ss_loss(model: nn.Module, images: Tensor, masks: Tensor, ignore_index: int | None = None) -> Tensor:
    return F.cross_entropy(logits(model, images).float(), masks, ignore_index=-100 if ignore_index is None
                           else ignore_index)


def segment(model: nn.Module, images: Tensor) -> Tensor:
    return logits(model, images).argmax(1)


def bottleneck_features(model: nn.Module, images: Tensor) -> Tensor:
    """The segmenter's image embedding: its U-Net's middle block (diffusers' ``mid_block``, the
    authors' ``middle_block``) averaged over space, as FID reads Inception's pooled features --
    what a network trained on real scenes sees in an image, colours included."""
    middle = model.mid_block if hasattr(model, "mid_block") else model.middle_block
    seen = []
    hook = middle.register_forward_hook(lambda module, inputs, output: seen.append(output))
    try:
        logits(model, images)
    finally:
        hook.remove()
    return seen[0].float().mean((2, 3))
