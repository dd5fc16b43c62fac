"""The four uses of an opened model on square batches, with noise drawn per image.

Image ``i`` of a call with seed ``s`` draws all its noise from a generator of its own, seeded
:func:`image_seeds` ``(s + i)`` (NVlabs/edm's per-sample seeds), in the order the tables' method
draws it from one generator (:class:`benchmarks.methods.symmflow.SymmFlowMethod`): a latent
image's posterior sample, then the label noise; for synthesis the label's dequantisation, then the
image noise.  A batch therefore gives each image what it gets alone, whatever the batch size; only
the network's arithmetic is batched.  The flows are paper section 3.2's, run by :mod:`symmflow.tasks`:
recognition integrates [data, noise] from t = 1 to 0 and decodes the label (eq. 8), generation
[noise, label] from t = 0 to 1.  The network is called through :class:`symmflow.solver.NFECounter`,
so a call inside :func:`symmflow.device.evaluation_precision` evaluates it at that block's precision.
"""

from __future__ import annotations

import torch
from torch import Tensor

from symmflow import tasks
from symmflow.solver import NFECounter


def image_seeds(seed: int, count: int, start: int = 0) -> list[int]:
    """The seeds of images ``start`` to ``start + count - 1`` of a call with ``seed``."""
    return [(seed + start + i) % 2 ** 63 for i in range(count)]


def _draw(generators: list[torch.Generator], shape: tuple[int, ...], device) -> Tensor:
    """One standard-normal state of ``shape`` per generator, stacked, on ``device``."""
    return torch.cat([torch.randn((1, *shape), generator=g) for g in generators]).to(device)


def _generators(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def _encode(codec, labels: Tensor, generators: list[torch.Generator]) -> Tensor:
    """Each label's code dequantised by its own image's generator."""
    return torch.cat([codec.encode(labels[i:i + 1], generator=g) for i, g in enumerate(generators)])


def recognise(opened, x: Tensor, seeds: list[int], steps: int, solver: str = "euler") -> Tensor:
    """Labels of images ``x`` (B, C, size, size) in [-1, 1]: class maps (B, size, size) of a
    segmentation model, class ids (B,) of a classifier."""
    flow, generators = opened.flow(), _generators(seeds)
    if getattr(flow.space, "vae", None) is not None:  # a latent model: the image's posterior sample first
        x = flow.space.encode_image(x, noise=_draw(generators, flow.data_shape, x.device))
    noise = _draw(generators, flow.label_shape, x.device)
    return tasks.predict(NFECounter(opened.model), x, flow.codec, flow.label_shape, steps=steps, solver=solver,
                         noise=noise)


def generate(opened, labels: Tensor, seeds: list[int], steps: int, solver: str = "euler") -> Tensor:
    """Images (B, C, size, size) in [-1, 1] of ``labels``: class maps (B, size, size) of a
    segmentation model, class ids (B,) of a classifier."""
    flow, generators = opened.flow(), _generators(seeds)
    code = _encode(flow.codec, labels, generators)
    noise = _draw(generators, flow.data_shape, code.device)
    x = tasks.generate(NFECounter(opened.model), labels, flow.codec, flow.data_shape, steps=steps, solver=solver,
                       code=code, noise=noise)
    return x if flow.space is None else flow.space.decode_image(x)
