"""Where the flow runs: pixels, or a VAE's latent space (notes section 6).

A space turns images into the flow's ``x`` state and back, and wraps a palette codec so that
masks become the ``y`` state (``encode``) and states become class maps (``decode``) -- the
interface :func:`symmflow.tasks.predict` and :func:`symmflow.tasks.generate` expect of a codec.
:class:`PixelSpace` is the identity; :class:`symmflow.models.latent.LatentSpace` goes
through Stable Diffusion's VAE.
"""

from __future__ import annotations

from torch import Tensor

from symmflow.codecs import PaletteCodec, VectorClassCodec


class PixelSpace:
    """Images as they are, (B, 3, H, W) in [-1, 1]; masks as palette images, or as one +-1
    channel per class when ``mask_codec`` is a :class:`~symmflow.codecs.VectorClassCodec`."""

    def __init__(self, palette: PaletteCodec, mask_codec: PaletteCodec | VectorClassCodec | None = None):
        self.palette = palette
        self.mask_codec = palette if mask_codec is None else mask_codec

    def state_shape(self, height: int, width: int) -> tuple[int, int, int]:
        return (3, height, width)

    def label_shape(self, height: int, width: int) -> tuple[int, int, int]:
        return (self.mask_codec.channels, height, width)

    def encode_image(self, images: Tensor, generator=None, noise: Tensor | None = None) -> Tensor:
        return images

    def decode_image(self, x: Tensor) -> Tensor:
        return x.clamp(-1, 1)

    def to(self, device) -> "PixelSpace":
        return self

    def with_palette(self, palette: PaletteCodec) -> "PixelSpace":
        return PixelSpace(palette)
