"""Where the training times t are drawn.

The paper and the authors' code draw t ~ U(0, 1) (notes section 1).  For classification
the label is read from the state at t = 1 (one Euler step from [image, noise], eq. 8),
but y_t = (1 - t) y + t eps_y still shows the label for all but t close to 1, so under
uniform t the network learns to *recognise* the digit only from the few samples near 1.
:class:`TimeSampler` keeps a uniform share and draws the rest from U(1 - width, 1): the
generative half of the path is still trained everywhere, and recognition gets its share.
``near_one=0`` is the paper's sampler.

With ``label_only``, :meth:`TimeSampler.draw` also says which times came from the near-one
share, so that the loss spends those samples on the label alone (``label_only`` of
:meth:`~symmflow.path.SymmetricPath.loss`): near t = 1 the image state is the clean image,
the image target x - (1 - sigma) eps_x holds noise the state does not show, and the image
loss there is mostly that noise (about Var eps_x = 1 per entry at t = 1) sent through the
U-Net that also has to recognise the label.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class TimeSampler:
    near_one: float = 0.0
    """Fraction of the batch drawn from U(1 - width, 1) instead of U(0, 1)."""
    width: float = 0.1
    label_only: bool = False
    """Whether the near-one share trains the label alone (see :meth:`draw`)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.near_one <= 1.0 or not 0.0 < self.width <= 1.0:
            raise ValueError(f"need 0 <= near_one <= 1 and 0 < width <= 1, got {self}")

    def __call__(self, n: int, device=None, generator: torch.Generator | None = None) -> Tensor:
        return self.draw(n, device, generator)[0]

    def draw(self, n: int, device=None,
             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        """``(t, label_only)``: the times and, with :attr:`label_only`, which of them came from
        the near-one share (the ``label_only`` argument of the loss; ``None`` otherwise)."""
        t = torch.rand(n, generator=generator, device=device)
        if self.near_one == 0:  # the paper's sampler: one draw, nothing near one
            return t, torch.zeros(n, dtype=torch.bool, device=t.device) if self.label_only else None
        near = torch.rand(n, generator=generator, device=device) < self.near_one
        return torch.where(near, 1.0 - self.width * t, t), near if self.label_only else None
