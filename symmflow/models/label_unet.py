"""A pixel U-Net whose label Y is a vector, with its own input projection and output head.

The paper lets Y take any shape (section 3: "Y is not restricted to having the same
dimensionality as X").  Here y_t (B, n) enters through a linear projection added to the
U-Net's time embedding, and v_y leaves through a head on the middle block (GroupNorm,
SiLU, global average pool, linear), while v_x is the U-Net's ordinary output.  The head
reads the deepest features, so predicting the label from a nearly clean image (t near 1)
is a global-pooling classifier on the U-Net's encoder, the same backbone the
discriminative reference row uses (:func:`encoder_features`).
"""

from __future__ import annotations

from torch import Tensor, nn

from symmflow.models.pixel_unet import UNetConfig, check_label_form, label_velocity, pixel_unet


def time_embedding(unet: nn.Module, t: Tensor) -> Tensor:
    """The U-Net's own sinusoidal + MLP embedding of ``t`` (B,)."""
    return unet.time_embedding(unet.time_proj(t).to(unet.dtype))


def encoder_features(unet: nn.Module, sample: Tensor, emb: Tensor) -> Tensor:
    """The output of the U-Net's down path and middle block (the decoder is not run)."""
    h = unet.conv_in(sample)
    for block in unet.down_blocks:
        h, _ = block(hidden_states=h, temb=emb)
    return unet.mid_block(h, emb)


class PooledHead(nn.Module):
    """GroupNorm -> SiLU -> global average pool -> Linear: a feature map to a vector."""

    def __init__(self, channels: int, groups: int, out_features: int):
        super().__init__()
        self.norm, self.linear = nn.GroupNorm(groups, channels), nn.Linear(channels, out_features)

    def pool(self, h: Tensor) -> Tensor:
        """The pooled features (B, channels) the linear layer reads."""
        return nn.functional.silu(self.norm(h)).mean((2, 3))

    def forward(self, h: Tensor) -> Tensor:
        return self.linear(self.pool(h))


class VectorLabelVelocity(nn.Module):
    """SymmFlow velocity ``(x_t, y_t, t) -> (v_x, v_y)`` for an image x and a vector label y."""

    def __init__(self, config: UNetConfig, image_channels: int, label_dim: int, sample_size: int,
                 time_scale: float = 1.0, label_form: str = "velocity"):
        super().__init__()
        check_label_form(label_form)
        self.unet = pixel_unet(config, image_channels, image_channels, sample_size,
                               class_embed_type="identity")
        width = config.base_channels * config.multipliers[-1]
        self.label_in = nn.Linear(label_dim, 4 * config.base_channels)
        self.label_out = PooledHead(width, config.norm_groups, label_dim)
        self.time_scale, self.label_form = time_scale, label_form
        self._mid: Tensor | None = None
        self.unet.mid_block.register_forward_hook(self._keep_mid)

    def _keep_mid(self, module, inputs, output) -> None:
        self._mid = output

    def forward(self, x: Tensor, y: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        v_x = self.unet(x, t * self.time_scale, class_labels=self.label_in(y)).sample
        v_y, self._mid = self.label_out(self._mid), None
        return v_x, label_velocity(v_y, y, t, self.label_form)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
