"""Labels <-> continuous tensors, with dequantisation (paper section 3.3, notes section 2).

Each codec turns discrete labels into the continuous ``y`` the flow transports
(``encode``, dequantised with uniform noise) and maps a predicted ``y`` back to labels
(``decode``, nearest code).  ``encode`` draws fresh noise on every call.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import torch
from torch import Tensor


def _uniform(shape: Sequence[int], half_width: float, like: Tensor, generator=None) -> Tensor:
    """U(-half_width, half_width) noise of ``shape`` on ``like``'s device, drawn where
    ``generator`` lives (a CPU generator serves labels on any device)."""
    source = like.device if generator is None else generator.device
    u = torch.rand(tuple(shape), generator=generator, device=source, dtype=torch.float32).to(like.device)
    return (2.0 * u - 1.0) * half_width


class ToyScalarCodec:
    """The toy's label: class A (0) -> -1, class B (1) -> +1, plus U(-0.5, 0.5); decision by sign."""

    half_width = 0.5

    def encode(self, labels: Tensor, generator=None) -> Tensor:
        centre = labels.float().mul(2.0).sub(1.0).unsqueeze(-1)
        return centre + _uniform(centre.shape, self.half_width, centre, generator)

    def decode(self, y: Tensor) -> Tensor:
        return (y.reshape(y.shape[0]) > 0).long()

    def posterior(self, y: Tensor) -> Tensor:
        """The class probabilities (B, 2) a prediction of E[y | x] implies: E[y | x] = 2 p_B - 1
        (the uniform dequantisation has mean 0), so p_B = (y + 1) / 2, clipped to [0, 1]."""
        p_b = ((y.reshape(y.shape[0]).float() + 1) / 2).clamp(0, 1)
        return torch.stack([1 - p_b, p_b], 1)


class ClassImageCodec:
    """Class k of n as one constant channel of the image's size (notes section 2).

    Centre ``(beta/2)(2k/(n-1) - 1)`` (from -beta/2 to beta/2), plus uniform noise of
    ``interval = (beta/2)/(n-1)`` times ``U(-0.5, 0.5)``:

    * ``noise="per-pixel"`` (the authors' ``dequantize_class``: ``rand_like`` of the whole label
      image) draws it independently for every pixel, half-width ``interval / 2``, so neighbouring
      classes keep a margin of half their spacing and the noise averages out over the image;
    * ``noise="per-image"`` draws one offset per image of half-width ``interval``, so neighbouring
      classes touch -- an earlier reading of the authors' code, kept for the records made with it.

    Decoding averages the channel, rescales to [0, n-1], rounds and clamps (their ``quantize_class``).
    """

    channels = 1
    NOISES = ("per-pixel", "per-image")

    def __init__(self, num_classes: int, size: tuple[int, int], beta: float = 4.0, noise: str = "per-pixel"):
        if num_classes < 2:
            raise ValueError(f"need at least 2 classes, got {num_classes}")
        if noise not in self.NOISES:
            raise ValueError(f"noise must be one of {', '.join(self.NOISES)}, got {noise!r}")
        self.num_classes, self.size, self.beta, self.noise = num_classes, tuple(size), beta, noise
        interval = (beta / 2) / (num_classes - 1)
        self.half_width = interval / 2 if noise == "per-pixel" else interval

    def centres(self, device=None) -> Tensor:
        k = torch.arange(self.num_classes, device=device, dtype=torch.float32)
        return (self.beta / 2) * (2 * k / (self.num_classes - 1) - 1)

    def encode(self, labels: Tensor, generator=None) -> Tensor:
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes - 1}]")
        centre = self.centres(labels.device)[labels].reshape(-1, 1, 1, 1)
        shape = (len(centre), 1, *self.size) if self.noise == "per-pixel" else centre.shape
        return (centre + _uniform(shape, self.half_width, centre, generator)).expand(-1, 1, *self.size).contiguous()

    def position(self, y: Tensor) -> Tensor:
        """The mean of each predicted label image on the class axis [0, n-1] (continuous)."""
        mean = y.float().flatten(1).mean(1) / (self.beta / 2)
        return (mean + 1) / 2 * (self.num_classes - 1)

    def decode(self, y: Tensor) -> Tensor:
        return self.position(y).round().clamp(0, self.num_classes - 1).long()

    def scores(self, y: Tensor) -> Tensor:
        """Per-class scores (B, n): minus the distance of the mean to each class position."""
        pos = self.position(y)
        return -(pos[:, None] - torch.arange(self.num_classes, device=y.device)).abs()


class VectorClassCodec:
    """Class k of n as a vector label: +1 at k, -1 elsewhere, each entry plus U(-0.5, 0.5) (x scale).

    The paper lets Y be of any shape (section 3, "Y is not restricted to having the same
    dimensionality as X"); this is the toy's +-1 code with its dequantisation, one entry per
    class.  Decision: the largest entry.  A one-step prediction from t = 1 estimates
    E[y | x], so the entries rank the classes by their posterior and serve as AUC scores.

    Labels of any shape (B, ...) get the class axis second: class ids (B,) -> (B, n), class
    maps (B, H, W) -> (B, n, H, W), one +-1 channel per class.  For segmentation this is the
    per-pixel counterpart of the palette image, and its decision differs in kind: the largest
    entry of E[y | x] is the most probable class, while the palette colour nearest to an
    average of colours need not be any of the likely ones (it drifts to the mid colours).

    ``scale`` multiplies the code and its dequantisation (+-scale, U(-scale/2, scale/2)), the
    counterpart of the class-image code's beta: the larger it is, the earlier on the path from
    t = 1 the label state y_t = (1 - t) y + t eps_y settles the class.
    """

    def __init__(self, num_classes: int, scale: float = 1.0):
        if num_classes < 2:
            raise ValueError(f"need at least 2 classes, got {num_classes}")
        if not scale > 0:
            raise ValueError(f"the code's scale must be positive, got {scale}")
        self.num_classes, self.scale = num_classes, scale
        self.half_width = 0.5 * scale

    @property
    def channels(self) -> int:
        """Entries of the code per label (per pixel for a class map)."""
        return self.num_classes

    def encode(self, labels: Tensor, generator=None) -> Tensor:
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes - 1}]")
        code = 2.0 * torch.nn.functional.one_hot(labels.long(), self.num_classes).float().movedim(-1, 1) - 1.0
        code = code * self.scale
        return code + _uniform(code.shape, self.half_width, code, generator)

    def decode(self, y: Tensor) -> Tensor:
        return y.argmax(1)

    def scores(self, y: Tensor) -> Tensor:
        return y.float()

    def posterior(self, y: Tensor) -> Tensor:
        """The class probabilities a prediction of E[y | x] implies, on the class axis (dim 1).

        Entry c of the code is +scale with probability p_c and -scale otherwise, plus noise of
        mean 0, so E[y_c | x] = scale (2 p_c - 1) and p_c = (y_c / scale + 1) / 2.  A network's
        estimate need not lie in [-scale, scale] nor sum to a distribution: each entry is clipped
        to [0, 1] and the entries normalised to sum 1 (uniform where all are 0)."""
        p = ((y.float() / self.scale + 1) / 2).clamp(0, 1)
        total = p.sum(1, keepdim=True)
        return torch.where(total > 0, p / total.clamp(min=1e-12), torch.full_like(p, 1 / self.num_classes))


class NearestColour:
    """The exact nearest colour of a table (Euclidean, first index on ties) for any RGB points.

    Searching every colour for every pixel costs pixels x colours (171 for COCO-Stuff) and
    grows with the palette.  Here each axis is cut into ``cells`` intervals of [0, 256) plus the
    two unbounded ones outside it, so that the boxes they make cover all of space, and each box
    keeps only the colours no other colour beats everywhere in it: colour c loses to c' on a box
    when |p - c|^2 - |p - c'|^2 = |c|^2 - |c'|^2 - 2 p.(c - c'), linear in p, is positive at its
    minimum over the box.  A point then compares only its box's candidates -- a few, whatever
    the palette's size and however far the prediction left [0, 255].
    """

    def __init__(self, table: Tensor, cells: int = 16):
        self.table, self.cells, self.width = table.float(), cells, 256.0 / cells
        colour = table.double()
        inner = torch.arange(cells + 1, dtype=torch.float64) * self.width
        inf = torch.tensor([math.inf], dtype=torch.float64)
        low, high = torch.cat([-inf, inner]), torch.cat([inner, inf])  # per axis: (-inf, 0), ..., [256, inf)
        square = colour.square().sum(1)
        gap = square[:, None] - square[None, :]  # |c|^2 - |c'|^2: (colours, colours)
        slope = -2 * (colour[:, None, :] - colour[None, :, :])  # d/dp of the difference: (colours, colours, 3)
        # the least of slope * p_axis over each interval of each axis: (3, intervals, colours, colours)
        least = torch.where(slope > 0, slope * low[:, None, None, None],
                            torch.where(slope < 0, slope * high[:, None, None, None], 0.0)).permute(3, 0, 1, 2)
        beaten = torch.stack([((gap + least[0][r, None, None] + least[1][:, None] + least[2][None]) > 0).any(-1)
                              for r in range(len(low))])  # (intervals^3 as r, g, b, colours)
        candidate = ~beaten.reshape(-1, len(colour))
        count = int(candidate.sum(1).max())
        # each box's candidates in ascending colour order, padded with its first one
        order = torch.sort((~candidate).to(torch.uint8), dim=1, stable=True).indices[:, :count]
        first = order[:, :1].expand(-1, count)
        self.candidates = torch.where(torch.arange(count) < candidate.sum(1, keepdim=True), order, first)
        self.planes = self.table[self.candidates].permute(2, 0, 1).contiguous()  # (3, boxes, count)

    def __call__(self, points: Tensor) -> Tensor:
        """Index into the table of the nearest colour of each row of ``points`` (N, 3)."""
        channels = points.T
        sides = self.cells + 2
        cell = ((channels / self.width).floor().clamp_(-1, self.cells) + 1).long().clamp_(0, sides - 1)
        box = (cell[0] * sides + cell[1]) * sides + cell[2]
        planes = self.planes.to(points.device)
        distance = None
        for colour, value in zip(planes, channels):  # one channel at a time: (n, count) each
            difference = colour[box] - value.unsqueeze(1)
            distance = difference.square_() if distance is None else distance.addcmul_(difference, difference)
        return self.candidates.to(points.device)[box].gather(1, distance.argmin(1, keepdim=True)).squeeze(1)


class PaletteCodec:
    """Segmentation masks as palette-colour RGB images in [-1, 1] (notes section 2).

    A class map (B, H, W) becomes its palette colours plus U(-beta/2, beta/2) grey levels of
    noise per pixel and channel, scaled from [0, 255] to [-1, 1].  Decoding maps predicted RGB
    back to [0, 255] and takes the nearest palette colour (Euclidean).  Pixels equal to
    ``ignore_index`` get ``ignore_colour`` and decode back to ``ignore_index``.
    """

    channels = 3
    """RGB, whatever the number of classes."""

    def __init__(self, colours: Sequence[Sequence[int]], beta: float,
                 ignore_index: int | None = None, ignore_colour: Sequence[int] | None = None):
        self.colours = torch.as_tensor(colours, dtype=torch.float32).reshape(-1, 3)
        self.num_classes, self.beta = len(self.colours), beta
        if (ignore_index is None) != (ignore_colour is None):
            raise ValueError("ignore_index and ignore_colour go together")
        self.ignore_index = ignore_index
        table = [self.colours]
        if ignore_colour is not None:
            table.append(torch.as_tensor(ignore_colour, dtype=torch.float32).reshape(1, 3))
        self._table = torch.cat(table)  # class colours, then the ignore colour if any
        self._nearest = NearestColour(self._table)

    def with_beta(self, beta: float) -> "PaletteCodec":
        """The same colours and ignore colour with another dequantisation width."""
        out = copy.copy(self)  # shares the colour table and its nearest-colour grid
        out.beta = beta
        return out

    def _table_index(self, mask: Tensor) -> Tensor:
        index = mask.long()
        bad = (index < 0) | (index >= self.num_classes)
        if self.ignore_index is not None:
            ignored = index == self.ignore_index
            bad &= ~ignored
            index = torch.where(ignored, self.num_classes, index)
        if bad.any():
            raise ValueError(f"mask ids outside [0, {self.num_classes - 1}]"
                             + (f" and {self.ignore_index}" if self.ignore_index is not None else ""))
        return index

    def colourise(self, mask: Tensor) -> Tensor:
        """Class map (B, H, W) -> palette RGB (B, 3, H, W) in [0, 255], without noise."""
        return self._table.to(mask.device)[self._table_index(mask)].permute(0, 3, 1, 2)

    def colour_pixels(self, mask: Tensor) -> Tensor:
        """Class map (B, H, W) -> uint8 pixels (B, H, W, 3) in the palette's colours."""
        return self.colourise(mask).byte().permute(0, 2, 3, 1)

    def encode(self, mask: Tensor, generator=None) -> Tensor:
        rgb = self.colourise(mask)
        rgb = rgb + _uniform(rgb.shape, self.beta / 2, rgb, generator)
        return rgb / 127.5 - 1.0

    def decode(self, rgb: Tensor, chunk: int = 1 << 18) -> Tensor:
        b, _, h, w = rgb.shape
        pixels = ((rgb.float() + 1.0) * 127.5).permute(0, 2, 3, 1).reshape(-1, 3)
        index = torch.cat([self._nearest(p) for p in pixels.split(chunk)])
        if self.ignore_index is not None:
            index = torch.where(index == self.num_classes, self.ignore_index, index)
        return index.reshape(b, h, w)


#: CelebAMask-HQ's 19 colours, background first (notes section 2).
CELEBAMASK_COLOURS = (
    (0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204),
    (0, 255, 255), (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0),
    (0, 0, 153), (0, 0, 204), (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51),
    (0, 204, 0),
)


def cocostuff_colours(num_classes: int = 171) -> list[tuple[int, int, int]]:
    """The first ``num_classes`` entries of the 6x6x6 grid over {0, 50, ..., 250}, R-major."""
    levels = range(0, 251, 50)
    grid = [(r, g, b) for r in levels for g in levels for b in levels]
    return grid[:num_classes]


#: COCO-Stuff's unlabelled pixels (raw id 255) are drawn in this colour.
COCOSTUFF_IGNORE_COLOUR = (250, 250, 250)
