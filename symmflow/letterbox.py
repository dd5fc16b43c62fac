"""An image of any shape at the square a model runs at, and the model's output back at the image's
shape: resized keeping the aspect ratio (the longer side to the square's), padded by repeating its
edge, and afterwards cropped to that region and resized to the input's exact height and width.

A square input is resized as before (:func:`symmflow.user_files.rgb_tensor`: bilinear with
antialiasing for images, nearest for masks) and its output back to its own size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class Box(NamedTuple):
    """Where an input of ``height`` x ``width`` lies in the square: ``rows`` x ``cols`` from (top, left)."""

    top: int
    left: int
    rows: int
    cols: int
    height: int
    width: int


def box_of(height: int, width: int, size: int) -> Box:
    """The region an input of ``height`` x ``width`` takes in a square of side ``size``."""
    scale = size / max(height, width)
    rows, cols = max(1, min(size, round(height * scale))), max(1, min(size, round(width * scale)))
    return Box((size - rows) // 2, (size - cols) // 2, rows, cols, height, width)


def _resize(x: Tensor, shape: tuple[int, int], nearest: bool) -> Tensor:
    """(C, H, W) to ``shape``: nearest for class ids, else bilinear with antialiasing."""
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    kw = {"mode": "nearest"} if nearest else {"mode": "bilinear", "align_corners": False, "antialias": True}
    return torch.nn.functional.interpolate(x[None].float(), size=shape, **kw)[0]


def fit(x: Tensor, size: int, nearest: bool = False) -> tuple[Tensor, Box]:
    """``x`` (C, H, W) in the square of side ``size`` (float; class ids exact under ``nearest``),
    and the box it takes there."""
    box = box_of(x.shape[-2], x.shape[-1], size)
    inside = _resize(x, (box.rows, box.cols), nearest).float()
    pad = (box.left, size - box.cols - box.left, box.top, size - box.rows - box.top)
    if any(pad):
        inside = torch.nn.functional.pad(inside[None], pad, mode="replicate")[0]
    return inside, box


def unfit(y: Tensor, box: Box, nearest: bool = False) -> Tensor:
    """A model's output ``y`` (C, size, size) for the input of ``box``, back at its height and width."""
    inside = y[..., box.top:box.top + box.rows, box.left:box.left + box.cols]
    return _resize(inside, (box.height, box.width), nearest)
