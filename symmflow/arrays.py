"""Images and masks as a Python caller holds them -- PIL images, numpy arrays, tensors -- as the
flow's tensors at the square a model runs at (:mod:`symmflow.letterbox`).

* An image: a PIL image; a numpy array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of uint8, or of
  floats in [0, 1]; a tensor (C, H, W) of uint8, or of floats in [-1, 1] (the flow's range).  It
  becomes the model's channels: RGB, or for a one-channel model its luminance (PIL's ``L``, as
  :func:`symmflow.user_files.load_image` reads an MNIST digit; resized by PIL's bilinear filter too).
* A mask: a class-id PIL image (L, P, I), a numpy array or tensor (H, W) of integers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from symmflow.errors import UsageError
from symmflow.letterbox import Box, box_of, fit

IMAGE_FORMS = ("a PIL image, a numpy array (H, W), (H, W, 3) or (H, W, 4) of uint8 or floats in [0, 1], or a "
               "tensor (C, H, W) of uint8 or floats in [-1, 1]")


def _uint8(image, where: str) -> np.ndarray | None:
    """``image`` as uint8 (H, W, C) where it is a PIL image or a numpy array (None for a tensor)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
    if not isinstance(image, np.ndarray):
        return None
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise UsageError(f"{where}: an array of shape {image.shape} is not an image; give {IMAGE_FORMS}")
    if image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.floating) or not (np.isfinite(image).all() and 0 <= image.min()
                                                               and image.max() <= 1):
            raise UsageError(f"{where}: a {image.dtype} array is not an image; give uint8, or floats in [0, 1]")
        image = (image * 255).round().astype(np.uint8)
    return image[..., :3]  # the alpha channel is not the model's


def _float(image, where: str) -> Tensor:
    """A tensor image (C, H, W) as floats in [-1, 1]."""
    if not isinstance(image, Tensor):
        raise UsageError(f"{where}: a {type(image).__name__} is not an image; give {IMAGE_FORMS}")
    if image.dim() != 3 or image.shape[0] not in (1, 3, 4) or min(image.shape[1:]) < 1:
        raise UsageError(f"{where}: a tensor of shape {tuple(image.shape)} is not an image; give {IMAGE_FORMS}")
    image = image[:3].detach().cpu()
    if image.dtype == torch.uint8:
        return image.float() / 127.5 - 1
    if not image.is_floating_point() or not torch.isfinite(image).all() or image.abs().max() > 1 + 1e-6:
        raise UsageError(f"{where}: a tensor image of {image.dtype} must be uint8, or floats in [-1, 1]")
    return image.float()


def fitted_image(image, size: int, channels: int, where: str = "image") -> tuple[Tensor, Box]:
    """``image`` (any of the module's forms) as (channels, size, size) in [-1, 1], and its box."""
    pixels = _uint8(image, where)
    if pixels is not None and channels == 1:  # the luminance and the resize of the authors' digits
        from PIL import Image

        grey = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).convert("L")
        box = box_of(grey.height, grey.width, size)
        if (box.rows, box.cols) != (grey.height, grey.width):
            grey = grey.resize((box.cols, box.rows), Image.BILINEAR)
        x = torch.from_numpy(np.array(grey)).float().div(127.5).sub(1)[None]
        pad = (box.left, size - box.cols - box.left, box.top, size - box.rows - box.top)
        return (torch.nn.functional.pad(x[None], pad, mode="replicate")[0] if any(pad) else x), box
    if pixels is None:
        x = _float(image, where)
    else:
        x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1).float() / 127.5 - 1
    if channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114])[: x.shape[0]]
        x = (x * weights[:, None, None]).sum(0, keepdim=True) / weights.sum()
    elif x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return fit(x, size)


def mask_ids(mask, where: str = "mask") -> np.ndarray:
    """``mask`` as int64 class ids (H, W)."""
    from PIL import Image

    if isinstance(mask, Image.Image):
        if mask.mode not in ("1", "L", "P", "I", "I;16"):
            raise UsageError(f"{where}: a {mask.mode} image is not a class-id mask; give a single-channel one "
                             "(L, P or I) of class ids")
        mask = np.asarray(mask)
    if isinstance(mask, Tensor):
        mask = mask.detach().cpu().numpy()
    if not isinstance(mask, np.ndarray) or mask.ndim != 2 or min(mask.shape) < 1:
        shape = getattr(mask, "shape", type(mask).__name__)
        raise UsageError(f"{where}: {shape} is not a class-id mask; give an (H, W) array or tensor of class ids")
    if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
        raise UsageError(f"{where}: a {mask.dtype} mask; class ids are integers")
    return mask.astype(np.int64)
