"""Image tensors in the flow's range [-1, 1] to 8-bit pixels, the one conversion every writer uses."""

from __future__ import annotations

from torch import Tensor


QUANTISE = ("round", "truncate")
"""To the nearest 8-bit level, or down to it as the authors' PNGs are written (``(x * 255).astype(uint8)``)."""

TRUNCATE_SLACK = 1e-3
"""Added before truncating, so that a pixel that came from 8 bits (a real image) maps back to its own
level despite float rounding; 1/1000 of a level, nothing to a continuous sample."""


def to_uint8(images: Tensor, quantise: str = "round") -> Tensor:
    """(N, C, H, W) or (C, H, W) in [-1, 1] -> uint8 (N, H, W, C) or (H, W, C), on the CPU,
    rounded or truncated (:data:`QUANTISE`)."""
    if quantise not in QUANTISE:
        raise ValueError(f"quantise must be one of {', '.join(QUANTISE)}, got {quantise!r}")
    levels = (images.detach().float().clamp(-1, 1) + 1) * 127.5
    pixels = levels.round() if quantise == "round" else (levels + TRUNCATE_SLACK).floor().clamp(max=255)
    return pixels.byte().cpu().movedim(-3, -1)
