"""The authors' pixel U-Net: guided-diffusion's architecture as their classification models configure
it (reference notes section 10), written here so that their released state dicts load with no
renaming.

Layout (names are the state-dict names):

* ``time_embed``: sinusoidal embedding of t (cos half first) -> Linear -> SiLU -> Linear, to
  4 x ``model_channels``;
* ``input_blocks``: a 3x3 convolution, then per level ``num_res_blocks`` residual blocks (with
  an attention block where the level's downsampling factor is in ``attention_resolutions``) and,
  between levels, a stride-2 convolution (``op``);
* ``middle_block``: residual block, attention block, residual block;
* ``output_blocks``: per level, from the deepest, ``num_res_blocks + 1`` residual blocks on the
  concatenation with the matching input block's output (attention as above), the last of each
  level but the first followed by nearest upsampling and a 3x3 convolution (``conv``);
* ``out``: GroupNorm, SiLU, 3x3 convolution.

A residual block is ``in_layers`` (GroupNorm, SiLU, conv), ``emb_layers`` (SiLU, Linear; twice
the width with scale-shift conditioning), ``out_layers`` (GroupNorm, SiLU, dropout, conv) and
``skip_connection`` (identity, or a 1x1 convolution where the width changes).  An attention block
is ``norm``, ``qkv`` (1-d convolution to 3 x width) and ``proj_out``, with the heads split before
q, k and v (the legacy order).  Every GroupNorm has 32 groups and computes in float32.  The
authors' MNIST model: model_channels 32, num_res_blocks 2, channel_mult (1, 2, 2, 2),
num_head_channels 64, attention_resolutions (16,) -- compared with the downsampling factors 1, 2,
4, 8 of a 32 px input, so attention only in the middle block; CIFAR-10 the same at width 256.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class GuidedUNetConfig:
    model_channels: int = 32
    num_res_blocks: int = 2
    channel_mult: tuple[int, ...] = (1, 2, 2, 2)
    attention_resolutions: tuple[int, ...] = (16,)
    """Downsampling factors (1 at the input, x2 per level) whose blocks get attention."""
    num_head_channels: int = 64
    """Channels per attention head (-1: ``num_heads`` heads instead)."""
    num_heads: int = 4
    dropout: float = 0.0
    use_scale_shift_norm: bool = False


AUTHORS_MNIST = GuidedUNetConfig()
AUTHORS_CIFAR10 = GuidedUNetConfig(model_channels=256)


class GroupNorm32(nn.GroupNorm):
    """32-group normalisation computed in float32 whatever the input's type."""

    def __init__(self, channels: int):
        super().__init__(32, channels)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.float()).type(x.dtype)


def sinusoidal(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """(B,) times -> (B, dim): cosines then sines of t at frequencies max_period^(-k / half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t[:, None].float() * freqs[None]
    out = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    return F.pad(out, (0, dim % 2))


class ResBlock(nn.Module):
    def __init__(self, channels: int, emb_channels: int, out_channels: int, dropout: float, scale_shift: bool):
        super().__init__()
        self.scale_shift = scale_shift
        self.in_layers = nn.Sequential(GroupNorm32(channels), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels * (2 if scale_shift else 1)))
        self.out_layers = nn.Sequential(GroupNorm32(out_channels), nn.SiLU(), nn.Dropout(dropout),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        nn.init.zeros_(self.out_layers[-1].weight)
        nn.init.zeros_(self.out_layers[-1].bias)
        self.skip_connection = (nn.Identity() if out_channels == channels
                                else nn.Conv2d(channels, out_channels, 1))

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.in_layers(x)
        e = self.emb_layers(emb).type(h.dtype)[..., None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Self-attention over the spatial positions, heads split before q, k and v."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, *spatial = x.shape
        flat = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(flat))
        width = c // self.heads
        q, k, v = qkv.reshape(b * self.heads, 3 * width, -1).split(width, dim=1)
        scale = width ** -0.25  # on both q and k, as the reference (steadier in half precision)
        weights = torch.einsum("bct,bcs->bts", q * scale, k * scale)
        weights = weights.float().softmax(dim=-1).type(weights.dtype)
        h = torch.einsum("bts,bcs->bct", weights, v).reshape(b, c, -1)
        return (flat + self.proj_out(h)).reshape(b, c, *spatial)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class EmbeddedSequential(nn.Sequential):
    """A sequence whose residual blocks also take the time embedding."""

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class GuidedUNet(nn.Module):
    """``forward(x (B, in, H, W), t (B,)) -> (B, out, H, W)``, t fed to the embedding as it is."""

    def __init__(self, config: GuidedUNetConfig, in_channels: int, out_channels: int, num_classes: int | None = None):
        super().__init__()
        c = config
        self.config, base, emb = config, c.model_channels, 4 * c.model_channels
        if num_classes is not None:  # class-conditional: an embedding added to the time embedding
            self.label_emb = nn.Embedding(num_classes, emb)

        def heads(width: int) -> int:
            return c.num_heads if c.num_head_channels == -1 else width // c.num_head_channels

        def res(cin: int, cout: int) -> ResBlock:
            return ResBlock(cin, emb, cout, c.dropout, c.use_scale_shift_norm)

        self.time_embed = nn.Sequential(nn.Linear(base, emb), nn.SiLU(), nn.Linear(emb, emb))
        width = base * c.channel_mult[0]
        self.input_blocks = nn.ModuleList([EmbeddedSequential(nn.Conv2d(in_channels, width, 3, padding=1))])
        skips, factor = [width], 1
        for level, mult in enumerate(c.channel_mult):
            for _ in range(c.num_res_blocks):
                layers = [res(width, base * mult)]
                width = base * mult
                if factor in c.attention_resolutions:
                    layers.append(AttentionBlock(width, heads(width)))
                self.input_blocks.append(EmbeddedSequential(*layers))
                skips.append(width)
            if level < len(c.channel_mult) - 1:
                self.input_blocks.append(EmbeddedSequential(Downsample(width)))
                skips.append(width)
                factor *= 2
        self.middle_block = EmbeddedSequential(res(width, width), AttentionBlock(width, heads(width)),
                                               res(width, width))
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.channel_mult))):
            for i in range(c.num_res_blocks + 1):
                layers = [res(width + skips.pop(), base * mult)]
                width = base * mult
                if factor in c.attention_resolutions:
                    layers.append(AttentionBlock(width, heads(width)))
                if level > 0 and i == c.num_res_blocks:
                    layers.append(Upsample(width))
                    factor //= 2
                self.output_blocks.append(EmbeddedSequential(*layers))
        self.out = nn.Sequential(GroupNorm32(width), nn.SiLU(), nn.Conv2d(base * c.channel_mult[0], out_channels, 3,
                                                                           padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def embedding(self, t: Tensor, class_labels: Tensor | None = None) -> Tensor:
        emb = self.time_embed(sinusoidal(t, self.config.model_channels))
        return emb if class_labels is None else emb + self.label_emb(class_labels)

    def encode(self, x: Tensor, emb: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The middle block's output and every input block's (the skips), decoder not run."""
        h, skips = x, []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        return self.middle_block(h, emb), skips

    def forward(self, x: Tensor, t: Tensor, class_labels: Tensor | None = None) -> Tensor:
        emb = self.embedding(t, class_labels)
        h, skips = self.encode(x, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)
