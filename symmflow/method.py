"""SymmFlow, the method: its settings, label code, network and loss in one object (paper section 3).

:class:`SymmFlowSettings` holds every setting only the method reads; :class:`SymmFlow` turns
them into the pieces every caller needs -- the label codec (section 3.3), the pixel network
(:class:`~symmflow.models.pixel_unet.ConcatVelocity` for image-shaped labels,
:class:`~symmflow.models.label_unet.VectorLabelVelocity` for a class vector), the training
times (:class:`~symmflow.timesampling.TimeSampler`) and the loss of eq. 3
(:class:`~symmflow.path.SymmetricPath`).  The ``symmflow`` command, Tables 2/4/5 and Tables
3/11 all train through :meth:`SymmFlow.loss`, so the near-one label-only mask and the label
form reach the loss on every path.

The defaults are the authors' (notes sections 1, 2, 5): the label as an image (a constant
class channel with noise per pixel, or palette colours for masks), t ~ U(0, 1), image weight 0.9, sigma_min 1e-4,
t fed unscaled, the network predicting v_y itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from torch import Tensor, nn

from symmflow.codecs import ClassImageCodec, PaletteCodec, VectorClassCodec
from symmflow.path import LossParts, SymmetricPath
from symmflow.timesampling import TimeSampler

LABEL_CODES = ("image", "image-offset", "per-class")


@dataclass(frozen=True)
class SymmFlowSettings:
    image_weight: float = 0.9
    """Image share of the loss (eq. 3); the label gets 1 - image_weight."""
    sigma_min: float = 1e-4
    label_code: str = "image"
    """``image``: the authors' -- a class as one constant channel with noise per pixel, a mask as
    palette colours; ``image-offset``: the class channel with one noise offset per image (an earlier
    reading of the authors' code, kept for the records made with it; masks as ``image``);
    ``per-class``: one +-code_scale entry per class (a vector, or one channel per class)."""
    beta: float = 4.0
    """Dequantisation spread of the image code (class channel: 4; palettes: grey levels)."""
    code_scale: float = 1.0
    """Scale of the per-class code (:class:`~symmflow.codecs.VectorClassCodec`)."""
    label_form: str = "velocity"
    """What the network's label output is (:func:`~symmflow.models.pixel_unet.label_velocity`)."""
    label_loss: str = "velocity"
    """Where the label term is measured (:attr:`~symmflow.path.SymmetricPath.label_loss`)."""
    near_one: float = 0.0
    """Share of the training times drawn from U(1 - near_one_width, 1)."""
    near_one_width: float = 0.1
    near_one_label_only: bool = False
    """The near-one share trains the label alone (:attr:`TimeSampler.label_only`)."""
    time_scale: float = 1.0
    """t is multiplied by this before the network's time embedding (authors 1, SemFlow 1000)."""

    def __post_init__(self) -> None:
        if self.label_code not in LABEL_CODES:
            raise ValueError(f"label_code must be one of {', '.join(LABEL_CODES)}, got {self.label_code!r}")
        SymmetricPath(self.sigma_min, self.image_weight, self.label_loss)  # checks its own fields
        TimeSampler(self.near_one, self.near_one_width)
        from symmflow.models.pixel_unet import check_label_form

        check_label_form(self.label_form)


AUTHORS = SymmFlowSettings()


class SymmFlow:
    """The method under ``settings``: codecs, network, time sampler and loss."""

    def __init__(self, settings: SymmFlowSettings = AUTHORS):
        self.settings = s = settings
        self.path = SymmetricPath(s.sigma_min, s.image_weight, s.label_loss)
        self.times = TimeSampler(s.near_one, s.near_one_width, s.near_one_label_only)

    # ---- label codes (section 3.3)

    def class_codec(self, num_classes: int, size: int) -> ClassImageCodec | VectorClassCodec:
        """The code of class ids: a constant channel of the image's size, or a class vector."""
        if self.settings.label_code == "per-class":
            return VectorClassCodec(num_classes, self.settings.code_scale)
        noise = "per-image" if self.settings.label_code == "image-offset" else "per-pixel"
        return ClassImageCodec(num_classes, (size, size), beta=self.settings.beta, noise=noise)

    def mask_codec(self, palette: PaletteCodec) -> PaletteCodec | VectorClassCodec:
        """The code of class maps of a data set whose colours are ``palette``'s: those colours
        dequantised by beta grey levels, or one +-code_scale channel per class."""
        if self.settings.label_code == "per-class":
            return VectorClassCodec(palette.num_classes, self.settings.code_scale)
        return palette.with_beta(self.settings.beta)

    @staticmethod
    def label_shape(codec, size: int, dense: bool) -> tuple[int, ...]:
        """The shape of one label state: (n,) for a class vector, else (channels, size, size)."""
        if isinstance(codec, VectorClassCodec) and not dense:
            return (codec.num_classes,)
        return (codec.channels, size, size)

    # ---- network and loss

    def network(self, unet, image_channels: int, label_shape: tuple[int, ...], size: int) -> nn.Module:
        """The pixel network ``(x_t, y_t, t) -> (v_x, v_y)`` on a U-Net of config ``unet``."""
        from symmflow.models.label_unet import VectorLabelVelocity
        from symmflow.models.pixel_unet import pixel_unet

        s = self.settings
        if len(label_shape) == 1:
            return VectorLabelVelocity(unet, image_channels, label_shape[0], size, s.time_scale, s.label_form)
        width = image_channels + label_shape[0]
        return self.velocity(pixel_unet(unet, width, width, size), image_channels)

    def velocity(self, backbone: nn.Module, image_channels: int) -> nn.Module:
        """The network over the channel concatenation [x_t, y_t] on ``backbone`` (a pixel U-Net,
        or latent SymmFlow's conditioned SD U-Net), with the method's time scale and label form."""
        from symmflow.models.pixel_unet import ConcatVelocity

        return ConcatVelocity(backbone, image_channels, self.settings.time_scale, self.settings.label_form)

    def loss_on_labels(self, model: nn.Module, x: Tensor, labels: Tensor, codec) -> LossParts:
        """:meth:`loss` on class ids or class maps, encoded (and dequantised) by ``codec`` afresh."""
        return self.loss(model, x, codec.encode(labels).to(x.device))

    def loss(self, model: nn.Module, x: Tensor, y: Tensor) -> LossParts:
        """Eq. 3 on the data state ``x`` and the encoded label ``y``, at times of the sampler."""
        t, label_only = self.times.draw(len(x), device=x.device)
        return self.path.loss(model, x, y, t, label_only=label_only)
