"""The symmetric probability path and its loss (paper eqs. 1-3, reference notes section 1).

The image flows from noise (t = 0) to data (t = 1) while the label flows from its clean
value (t = 0) to noise (t = 1)::

    x_t = (1 - (1 - sigma) t) eps_x + t x          v_x = x - (1 - sigma) eps_x
    y_t = (1 - (1 - sigma) t) y     + t eps_y      v_y = eps_y - (1 - sigma) y

With ``sigma_min = 0`` this is exactly eq. (1)-(2) of the paper; the authors' image code
uses ``sigma_min = 1e-4`` and their toy notebook none.  The loss is
``w * MSE(x part) + (1 - w) * MSE(y part)`` with the image weight ``w`` (eq. 3).  Since
``v_y = (y_t - y) / t`` on the path, the label part can also be measured on the clean label
the velocity implies, ``y_hat = y_t - t v_y``: ``label_loss="clean"`` regresses y_hat on y,
which is eq. 3's label term weighted by t^2 (the x-prediction weighting of EDM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import Tensor

CLEAN_TIME_FLOOR = 0.05
"""Times below this are floored where a clean label is turned into a velocity or back
(``v_y = (y_t - y_hat) / t`` divides by t)."""

#: A velocity field of the joint state: ``(x_t, y_t, t) -> (v_x, v_y)``; ``t`` has shape (B,).
Velocity = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


def _per_sample(t: Tensor, like: Tensor) -> Tensor:
    """Reshape a (B,) time vector so that it broadcasts against ``like`` (B, ...)."""
    return t.reshape(-1, *([1] * (like.dim() - 1)))


class PathSample(NamedTuple):
    x_t: Tensor
    y_t: Tensor
    v_x: Tensor
    v_y: Tensor


class LossParts(NamedTuple):
    total: Tensor
    x_mse: Tensor
    y_mse: Tensor


@dataclass(frozen=True)
class SymmetricPath:
    """Interpolation, targets and loss of Symmetrical Flow Matching."""

    sigma_min: float = 1e-4
    image_weight: float = 0.9
    label_loss: str = "velocity"
    """``velocity``: eq. 3's MSE on v_y; ``clean``: MSE between y_hat = y_t - max(t, 0.05) v_y
    and y (eq. 3's term x t^2 for t >= 0.05, :data:`CLEAN_TIME_FLOOR`)."""

    def __post_init__(self) -> None:
        if self.label_loss not in ("velocity", "clean"):
            raise ValueError(f"label_loss must be 'velocity' or 'clean', got {self.label_loss!r}")
        if not 0.0 <= self.sigma_min < 1.0:
            raise ValueError(f"sigma_min must lie in [0, 1), got {self.sigma_min}")
        if not 0.0 <= self.image_weight <= 1.0:
            raise ValueError(f"image_weight must lie in [0, 1], got {self.image_weight}")

    def image_part(self, x: Tensor, t: Tensor, eps_x: Tensor) -> tuple[Tensor, Tensor]:
        """``(x_t, v_x)``: the noise-to-data half of the path (eq. 1), alone.

        It is also the path of standard (class-conditional) flow matching, which the
        baselines train with the same convention.
        """
        s, tx = 1.0 - self.sigma_min, _per_sample(t, x)
        return (1.0 - s * tx) * eps_x + tx * x, x - s * eps_x

    def sample(self, x: Tensor, y: Tensor, t: Tensor, eps_x: Tensor, eps_y: Tensor) -> PathSample:
        """Points on the path at times ``t`` (B,) and the velocities to regress (eqs. 1-2)."""
        s = 1.0 - self.sigma_min
        ty = _per_sample(t, y)
        x_t, v_x = self.image_part(x, t, eps_x)
        y_t = (1.0 - s * ty) * y + ty * eps_y
        return PathSample(x_t, y_t, v_x, eps_y - s * y)

    def loss(self, velocity: Velocity, x: Tensor, y: Tensor, t: Tensor | None = None,
             label_only: Tensor | None = None) -> LossParts:
        """The weighted regression loss (eq. 3 with the image weight) on fresh noise.

        ``t`` defaults to U(0, 1), one value per sample, as in the paper.  ``label_only``
        (B,) marks samples whose whole weight goes to the label part (image weight 0, label
        weight 1; :meth:`~symmflow.timesampling.TimeSampler.draw`); ``x_mse`` and ``y_mse``
        stay plain means over the batch.
        """
        if t is None:
            t = torch.rand(x.shape[0], device=x.device)
        p = self.sample(x, y, t, torch.randn_like(x), torch.randn_like(y))
        pred_x, pred_y = velocity(p.x_t, p.y_t, t)
        x_err = ((pred_x.float() - p.v_x.float()) ** 2).flatten(1).mean(1)
        if self.label_loss == "clean":
            y_hat = p.y_t.float() - _per_sample(t.clamp(min=CLEAN_TIME_FLOOR), y) * pred_y.float()
            y_err = ((y_hat - y.float()) ** 2).flatten(1).mean(1)
        else:
            y_err = ((pred_y.float() - p.v_y.float()) ** 2).flatten(1).mean(1)
        w = torch.full_like(x_err, self.image_weight)
        if label_only is not None:
            w = torch.where(label_only.to(w.device), 0.0, w)
        total = torch.mean(w * x_err + (1.0 - w) * y_err)
        return LossParts(total, x_err.mean(), y_err.mean())


@dataclass(frozen=True)
class RectifiedPath:
    """A straight path between two data points, no noise (rectified flow; SemFlow, notes section 7).

    Oriented like :class:`SymmetricPath`'s image: the source ``a`` at s = 0, the target ``b``
    at s = 1: ``z_s = (1 - s) a + s b`` and the velocity to regress is ``b - a``.
    """

    def sample(self, a: Tensor, b: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        s = _per_sample(s, a)
        return (1.0 - s) * a + s * b, b - a

    def loss(self, velocity: Callable[[Tensor, Tensor], Tensor], a: Tensor, b: Tensor,
             s: Tensor | None = None) -> Tensor:
        """MSE between ``velocity(z_s, s)`` and ``b - a`` at s ~ U(0, 1) (one per sample)."""
        if s is None:
            s = torch.rand(a.shape[0], device=a.device)
        z, target = self.sample(a, b, s)
        return torch.mean((velocity(z, s).float() - target.float()) ** 2)
