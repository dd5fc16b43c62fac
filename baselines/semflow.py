"""SemFlow, retrained: a rectified flow between the image and its mask (notes section 7).

SemFlow transports the image (latent) straight to the mask (latent) and back; there is no
noise anywhere except its "finite perturbation" of the mask: uniform noise of
0.1 * U(-0.5, 0.5) in [-1, 1] units, i.e. +-6.375 grey levels, which is a
:class:`~symmflow.codecs.PaletteCodec` with ``beta = 12.75``.

Orientation: SemFlow writes ``x_t = t z_mask + (1 - t) z_img``.  Here the shared
:class:`~symmflow.path.RectifiedPath` runs with s = 1 - t, the mask at s = 0 and the image at
s = 1, so that synthesis integrates s from 0 to 1 and segmentation from 1 to 0 exactly like
SymmFlow's ``generate`` / ``infer`` directions and the shared integrator and NFE counter
serve both methods.  The network is still fed SemFlow's own time, ``1000 t = 1000 (1 - s)``.

The single state rides in the integrator's ``x`` slot with an empty ``y``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from symmflow.codecs import PaletteCodec
from symmflow.models.pixel_unet import unet_output
from symmflow.path import RectifiedPath
from symmflow.solver import integrate

#: SemFlow's finite perturbation as a palette dequantisation width, in grey levels.
PERTURBATION_BETA = 0.1 * 127.5
TIME_SCALE = 1000.0


def perturbation_codec(palette: PaletteCodec) -> PaletteCodec:
    """The palette of ``palette`` with SemFlow's finite perturbation instead of its beta."""
    return palette.with_beta(PERTURBATION_BETA)


class SemFlowVelocity(nn.Module):
    """A U-Net over the state alone (channels in = out), in the integrator's signature.

    ``forward(z, empty, s)`` returns ``(dz/ds, empty)``; the network sees ``time_scale * (1 - s)``.
    """

    def __init__(self, unet: nn.Module, time_scale: float = TIME_SCALE):
        super().__init__()
        self.unet, self.time_scale = unet, time_scale

    def field(self, z: Tensor, s: Tensor) -> Tensor:
        return unet_output(self.unet(z, (1.0 - s) * self.time_scale))

    def forward(self, z: Tensor, empty: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        return self.field(z, s), empty


def semflow_loss(model: SemFlowVelocity, image: Tensor, mask: Tensor) -> Tensor:
    """Rectified-flow regression from the (perturbed) mask at s = 0 to the image at s = 1."""
    return RectifiedPath().loss(model.field, mask, image)


def segment(velocity, image: Tensor, codec, *, steps: int = 25, solver: str = "euler") -> Tensor:
    """Image (or its latent) at s = 1 -> mask state at s = 0 -> class map via ``codec.decode``."""
    z, _ = integrate(velocity, image, image[:, :0], direction="infer", steps=steps, solver=solver)
    return codec.decode(z)


def synthesise(velocity, masks: Tensor, codec, *, steps: int = 25, solver: str = "euler",
               generator: torch.Generator | None = None) -> Tensor:
    """Class maps -> perturbed mask state (``codec.encode``) at s = 0 -> image state at s = 1."""
    z = codec.encode(masks, generator=generator)
    z, _ = integrate(velocity, z, z[:, :0], direction="generate", steps=steps, solver=solver)
    return z


def latent_semflow(folder: Path, palette: PaletteCodec, cache: Path | None = None):
    """SemFlow's velocity on the unchanged 4-channel SD U-Net (t scaled by 1000) and its space."""
    from symmflow.models.latent import (ConditionedUNet, check_folder, empty_prompt_embedding, load_space,
                                        load_unet, widen_conv_io)

    folder = check_folder(folder)
    space = load_space(folder, palette)
    unet = load_unet(folder)
    if unet.config.in_channels != 4:
        widen_conv_io(unet)  # raises the one-line error
    return SemFlowVelocity(ConditionedUNet(unet, empty_prompt_embedding(folder, cache))), space
