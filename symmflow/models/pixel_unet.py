"""Pixel-space U-Nets: from diffusers, configured like the authors' guided-diffusion nets, or the
authors' own (:mod:`symmflow.models.guided_unet`), whose released weights load as they are.

Notes section 5: GroupNorm(32), SiLU, time embedding 4x the base width, no dropout, two
residual blocks per level, channel multipliers (1, 2, 2, 2), attention only in the middle
block with 64 channels per head; MNIST base 32, CIFAR-10 base 256.  Residual blocks use
scale-shift time conditioning, guided-diffusion's default.

:class:`ConcatVelocity` adapts such a U-Net to the SymmFlow signature: it sees the channel
concatenation [x_t, y_t] and returns both velocities in the same channel order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from symmflow.path import CLEAN_TIME_FLOOR


@dataclass(frozen=True)
class UNetConfig:
    base_channels: int = 32
    multipliers: tuple[int, ...] = (1, 2, 2, 2)
    layers_per_block: int = 2
    head_channels: int = 64
    norm_groups: int = 32
    mid_attention: bool = True


MNIST_UNET = UNetConfig(base_channels=32)
CIFAR10_UNET = UNetConfig(base_channels=256)


def pixel_unet(config, in_channels: int, out_channels: int, sample_size: int,
               num_class_embeds: int | None = None, class_embed_type: str | None = None) -> nn.Module:
    """A U-Net of ``config``: a diffusers ``UNet2DModel`` with a :class:`UNetConfig`'s layout, or
    the authors' guided-diffusion U-Net for a :class:`~symmflow.models.guided_unet.GuidedUNetConfig`
    (a class embedding if asked, in either).  Called as ``net(x, t, class_labels=None)``; read its
    output with :func:`unet_output`.

    ``class_embed_type="identity"`` (diffusers only) lets the caller add its own (B, 4 x base)
    vector to the time embedding through ``class_labels``.
    """
    from diffusers import UNet2DModel  # here, not at import: the label checks of every method import this module

    from symmflow.models.guided_unet import GuidedUNet, GuidedUNetConfig

    if isinstance(config, GuidedUNetConfig):
        if class_embed_type is not None:
            raise ValueError("the authors' U-Net takes a label as channels or as a class id, not as a vector; "
                             "use the per-class code with a diffusers UNetConfig")
        return GuidedUNet(config, in_channels, out_channels, num_classes=num_class_embeds)
    levels = len(config.multipliers)
    widths = tuple(config.base_channels * m for m in config.multipliers)
    return UNet2DModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=out_channels,
        block_out_channels=widths,
        down_block_types=("DownBlock2D",) * levels, up_block_types=("UpBlock2D",) * levels,
        layers_per_block=config.layers_per_block,
        attention_head_dim=min(config.head_channels, widths[-1]),  # one head when narrower than 64
        add_attention=config.mid_attention, norm_num_groups=config.norm_groups, dropout=0.0,
        resnet_time_scale_shift="scale_shift", num_class_embeds=num_class_embeds,
        class_embed_type=class_embed_type,
    )


class ConcatVelocity(nn.Module):
    """SymmFlow velocity from one U-Net over the channel concatenation [x_t, y_t].

    ``time_scale`` multiplies t before the U-Net's sinusoidal embedding: the authors feed t
    in [0, 1] unscaled (1.0), SemFlow scales by 1000 (notes section 1).  ``label_form`` says
    what the label output is (:func:`label_velocity`).
    """

    def __init__(self, unet: nn.Module, x_channels: int, time_scale: float = 1.0,
                 label_form: str = "velocity"):
        super().__init__()
        check_label_form(label_form)
        self.unet, self.x_channels, self.time_scale = unet, x_channels, time_scale
        self.label_form = label_form

    def forward(self, x: Tensor, y: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        out = unet_output(self.unet(torch.cat([x, y], 1), t * self.time_scale))
        return out[:, : self.x_channels], label_velocity(out[:, self.x_channels:], y, t, self.label_form)


def unet_output(out) -> Tensor:
    """The prediction of a U-Net call: diffusers' ``.sample``, or the tensor itself."""
    return out.sample if hasattr(out, "sample") else out


LABEL_FORMS = ("velocity", "residual", "clean")


def check_label_form(form: str) -> None:
    if form not in LABEL_FORMS:
        raise ValueError(f"label form must be one of {', '.join(LABEL_FORMS)}, got {form!r}")


def label_velocity(output: Tensor, y_t: Tensor, t: Tensor, form: str) -> Tensor:
    """The label velocity v_y from the network's label output, by the output's ``form``.

    * ``velocity`` -- the output is v_y itself (the authors').
    * ``residual`` -- ``v_y = y_t + output``.  At t = 1 the target of eq. (2) is
      ``eps_y - (1 - sigma) y = y_t - (1 - sigma) y``: the output then only has to predict
      ``-(1 - sigma) y`` from the image, not copy the input noise through the network.
    * ``clean`` -- the output is the clean label y_hat and ``v_y = (y_t - y_hat) / t``
      (t floored at :data:`CLEAN_TIME_FLOOR`), which is eq. (2)'s target exactly when
      y_hat = y, since ``(y_t - y) / t = eps_y - (1 - sigma) y``.

    The flow and the path are the same for all three; only what the network learns differs.
    """
    if form == "velocity":
        return output
    if form == "residual":
        return y_t + output
    tau = t.clamp(min=CLEAN_TIME_FLOOR).reshape(-1, *([1] * (y_t.dim() - 1)))
    return (y_t - output) / tau
