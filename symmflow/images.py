"""Image tensors in the flow's range [-1, 1] to 8-bit pixels, the one conversion every writer uses."""

from __future__ import annotations

from torch import Tensor


def to_uint8(images: Tensor) -> Tensor:
    """(N, C, H, W) or (C, H, W) in [-1, 1] -> uint8 (N, H, W, C) or (H, W, C), on the CPU."""
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().cpu()
    return pixels.movedim(-3, -1)
