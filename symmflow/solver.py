"""Integrate the joint state [x, y] through a learned velocity field (paper eq. 8, notes section 3).

Two directions share one integrator:

* ``generate``: t from 0 to 1, starting at [noise, dequantised label]; keep x.
* ``infer`` (segmentation / classification): t from 1 to 0, starting at [data, noise]; keep y.

Fixed-grid methods (``euler``, the reference's choice; ``midpoint``; ``heun``, the explicit
trapezoid rule EDM samples with, 2 NFE per step) step on ``linspace(t0, t1, steps + 1)`` and
are written out here so that the loop adds nothing beyond the network calls; adaptive methods
(``dopri5``, ``bosh3``, ...) are torchdiffeq's, with rtol = atol = 1e-5 unless the name carries
its tolerance (``dopri5:1e-3``).
Every network evaluation goes through :class:`NFECounter`, so the NFE a benchmark reports
is counted, never derived from the step count.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from symmflow.device import as_fp32, evaluation_autocast
from symmflow.path import Velocity

FIXED_SOLVERS = ("euler", "midpoint", "heun")
ADAPTIVE_SOLVERS = ("dopri5", "bosh3", "adaptive_heun", "dopri8")
SOLVERS = FIXED_SOLVERS + ADAPTIVE_SOLVERS
MIN_TOLERANCE = 1e-12
"""The smallest tolerance an adaptive solver is given: below it float32 steps underflow."""


def parse_solver(name: str) -> tuple[str, float | None]:
    """(scheme, tolerance) of a solver name: ``euler``, ``dopri5`` or ``dopri5:1e-3`` (an
    adaptive scheme at rtol = atol = 1e-3); a ``ValueError`` naming the choices otherwise."""
    scheme, colon, tolerance = name.partition(":")
    if colon and not tolerance.strip():
        raise ValueError(f"solver {name!r}: nothing after ':'; give the tolerance, e.g. dopri5:1e-3, or leave "
                         "the ':' out")
    if scheme not in SOLVERS or (tolerance and scheme not in ADAPTIVE_SOLVERS):
        raise ValueError(f"unknown solver {name!r}; choose from {', '.join(SOLVERS)} "
                         "(an adaptive one may carry its tolerance, e.g. dopri5:1e-3)")
    try:
        value = float(tolerance) if tolerance else None
    except ValueError:
        value = -1.0
    if value is not None and not MIN_TOLERANCE <= value < 1:
        raise ValueError(f"solver {name!r}: the tolerance must be a number in [{MIN_TOLERANCE:g}, 1), e.g. dopri5:1e-3")
    return scheme, value
Direction = Literal["generate", "infer"]
_SPAN = {"generate": (0.0, 1.0), "infer": (1.0, 0.0)}


class NFECounter:
    """Wraps a velocity field and counts its evaluations.

    ``calls`` counts network invocations; ``evaluations`` counts rows evaluated (a call on a
    batch of B rows adds B), so ``evaluations / n`` is the NFE per sample for n samples even
    when a caller batches several evaluations of one sample into a call.
    """

    def __init__(self, velocity: Velocity):
        self.velocity = velocity
        self.calls = 0
        self.evaluations = 0

    def __call__(self, x: Tensor, *rest, **named):
        """Evaluate the wrapped network on a batch whose first argument has one row per sample, at
        the evaluation precision of the enclosing block (:func:`symmflow.device.evaluation_precision`;
        fp32 outside one)."""
        self.calls += 1
        self.evaluations += x.shape[0]
        autocast = evaluation_autocast()
        if autocast is None:
            return self.velocity(x, *rest, **named)
        with autocast:
            output = self.velocity(x, *rest, **named)
        return as_fp32(output)

    def reset(self) -> None:
        self.calls = self.evaluations = 0


def time_grid(direction: Direction, steps: int) -> list[float]:
    """The fixed grid ``linspace(t0, t1, steps + 1)`` of a direction, as Python floats."""
    if steps <= 0:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    t0, t1 = _SPAN[direction]
    return [t0 + (t1 - t0) * i / steps for i in range(steps + 1)]


@torch.no_grad()
def integrate(velocity: Velocity, x: Tensor, y: Tensor, *, direction: Direction,
              steps: int = 25, solver: str = "euler", rtol: float = 1e-5,
              atol: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Integrate [x, y] from one end of the path to the other with ``solver`` (a name of
    :func:`parse_solver`) and return the final state.

    ``steps`` sets the grid of the fixed schemes; the adaptive ones choose their own steps
    within ``rtol`` / ``atol`` (wrap ``velocity`` in :class:`NFECounter` to see how many).
    """
    if direction not in _SPAN:
        raise ValueError(f"direction must be 'generate' or 'infer', got {direction!r}")
    scheme, tolerance = parse_solver(solver)
    if scheme in FIXED_SOLVERS:
        return _fixed_grid(velocity, x, y, time_grid(direction, steps), scheme)
    rtol, atol = (tolerance, tolerance) if tolerance is not None else (rtol, atol)
    return _adaptive(velocity, x, y, direction, scheme, rtol, atol)


def _fixed_grid(velocity: Velocity, x: Tensor, y: Tensor, grid: list[float], scheme: str):
    n = x.shape[0]
    for t, t_next in zip(grid, grid[1:]):
        dt = t_next - t
        vx, vy = velocity(x, y, x.new_full((n,), t))
        if scheme == "midpoint":
            vx, vy = velocity(torch.add(x, vx, alpha=dt / 2), torch.add(y, vy, alpha=dt / 2),
                              x.new_full((n,), t + dt / 2))
        elif scheme == "heun":  # the average of the slopes at both ends of the step
            ex, ey = velocity(torch.add(x, vx, alpha=dt), torch.add(y, vy, alpha=dt), x.new_full((n,), t_next))
            vx, vy = (vx + ex) / 2, (vy + ey) / 2
        x, y = torch.add(x, vx, alpha=dt), torch.add(y, vy, alpha=dt)
    return x, y


def _adaptive(velocity: Velocity, x: Tensor, y: Tensor, direction: Direction,
              scheme: str, rtol: float, atol: float):
    from torchdiffeq import odeint

    n = x.shape[0]

    def field(t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        return velocity(state[0], state[1], t.reshape(1).expand(n))

    span = torch.tensor(_SPAN[direction], device=x.device, dtype=x.dtype)
    xs, ys = odeint(field, (x, y), span, method=scheme, rtol=rtol, atol=atol)
    return xs[-1], ys[-1]
