"""The three uses of one trained SymmFlow model (paper section 3.2, notes section 3).

* :func:`predict` -- classification and segmentation: start at [data, N(0, I)] at t = 1,
  integrate to t = 0 and decode the label part (eq. 8).
* :func:`generate` -- synthesis: start at [N(0, I), dequantised label] at t = 0, integrate
  the whole state to t = 1 and keep the data part.
"""

from __future__ import annotations

import torch
from torch import Tensor

from symmflow.path import Velocity
from symmflow.solver import integrate


def predict(velocity: Velocity, x: Tensor, codec, label_shape: tuple[int, ...], *,
            steps: int = 1, solver: str = "euler", generator: torch.Generator | None = None,
            return_state: bool = False, noise: Tensor | None = None):
    """Labels of ``x`` (decoded by ``codec``); with ``return_state`` also the final y.  The label
    noise is ``noise`` where given, else drawn from ``generator``."""
    if noise is None:
        noise = torch.randn((x.shape[0], *label_shape), generator=generator).to(x.device)
    _, y = integrate(velocity, x, noise, direction="infer", steps=steps, solver=solver)
    labels = codec.decode(y)
    return (labels, y) if return_state else labels


def generate(velocity: Velocity, labels: Tensor, codec, data_shape: tuple[int, ...], *,
             steps: int = 25, solver: str = "euler", generator: torch.Generator | None = None,
             code: Tensor | None = None, noise: Tensor | None = None) -> Tensor:
    """Samples conditioned on ``labels`` (class ids or class maps, as ``codec`` expects).  The
    dequantised label is ``code`` and the data noise ``noise`` where given, else drawn from
    ``generator`` in that order."""
    y = codec.encode(labels, generator=generator) if code is None else code
    if noise is None:
        noise = torch.randn((labels.shape[0], *data_shape), generator=generator).to(y.device)
    x, _ = integrate(velocity, noise, y, direction="generate", steps=steps, solver=solver)
    return x
