"""The Inception features of the two FIDs: ``FID (clean-fid)``'s, clean-fid's Inception
(``inception-2015-12-05.pt``) after its clean resize to 299 px, and ``FID (pytorch-fid)``'s, the
authors' protocol (reference notes section 6): pytorch-fid's Inception
(``pt_inception-2015-12-05-6726825d.pth``) on the samples as their PNG files hold them (8 bits per
channel).  Each runs where its package imports and its weights file lies in the folder given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from symmflow.images import to_uint8
from symmflow.judge_weights import INCEPTION_FILE, PYTORCH_FID_FILE, MetricUnavailable, judge_missing


def inception_missing(weights_dir: Path | None) -> str | None:
    """None when clean-fid's Inception can run; else the reason it cannot."""
    return judge_missing("clean-fid", "cleanfid", INCEPTION_FILE, "Inception", weights_dir)


def inception_features(weights_dir: Path, device: str = "cpu") -> Callable[[Tensor], Tensor]:
    """clean-fid's Inception pool features of images in [-1, 1] (clean resize to 299 px)."""
    reason = inception_missing(weights_dir)
    if reason:
        raise MetricUnavailable(reason)
    from cleanfid.inception_torchscript import InceptionV3W
    from cleanfid.resize import make_resizer

    model = InceptionV3W(str(weights_dir), download=False, resize_inside=False).to(device).eval()
    resize = make_resizer("PIL", False, "bicubic", (299, 299))

    @torch.no_grad()
    def features(images: Tensor) -> Tensor:
        rgb = to_uint8(images).numpy()
        batch = np.stack([resize(im) for im in rgb]).transpose(0, 3, 1, 2)
        return model(torch.from_numpy(batch).float().to(device))

    return features


def pytorch_fid_missing(weights_dir: Path | None) -> str | None:
    """None when pytorch-fid's Inception can run; else the reason it cannot."""
    return judge_missing("pytorch-fid", "pytorch_fid", PYTORCH_FID_FILE, "pytorch-fid Inception", weights_dir)


def pytorch_fid_network(weights_dir: Path) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3`` (2,048 pool features) with the weights file of ``weights_dir``.
    The package fetches its weights by URL; its loader is pointed at the local file while the
    network is built, and a file that is not its state dict is one line."""
    from unittest import mock

    from symmflow.errors import UsageError

    reason = pytorch_fid_missing(weights_dir)
    if reason:
        raise MetricUnavailable(reason)
    from pytorch_fid import inception

    file = Path(weights_dir) / PYTORCH_FID_FILE

    def local(url, *args, **kwargs):
        return torch.load(file, map_location="cpu", weights_only=True)

    try:
        with mock.patch.object(inception, "load_state_dict_from_url", local):
            model = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    except Exception as error:  # a truncated or foreign file: one line, nothing of it executed
        raise UsageError(f"{file} is not pytorch-fid's Inception state dict ({' '.join(str(error).split())[:200]}); "
                         f"pass the folder of the original {PYTORCH_FID_FILE}") from None
    return model.eval()


def pytorch_fid_features(weights_dir: Path, device: str = "cpu", quantise: str = "round") -> Callable[[Tensor], Tensor]:
    """pytorch-fid's 2,048 pool features of images in [-1, 1], each first quantised to 8 bits as
    the PNG files pytorch-fid reads (its ``ToTensor``: uint8 / 255) -- rounded, or truncated as the
    authors write them (:func:`symmflow.images.to_uint8`) -- then its own resize and scaling: the
    activations its ``get_activations`` computes from those files."""
    model = pytorch_fid_network(weights_dir).to(device)

    @torch.no_grad()
    def features(images: Tensor) -> Tensor:
        pixels = to_uint8(images, quantise).permute(0, 3, 1, 2).float().div(255).to(device)
        return model(pixels)[0].flatten(1)

    return features
