"""The integrator against velocity fields with known exact solutions."""

import math

import pytest
import torch

from symmflow.solver import SOLVERS, NFECounter, integrate, time_grid


def linear_field(x, y, t):
    """dx/dt = -x, dy/dt = 2 t y: x(t) = x0 exp(-(t - t0)), y(t) = y0 exp(t^2 - t0^2)."""
    return -x, 2 * t[:, None] * y


def exact(x0, y0, t0, t1):
    return x0 * math.exp(-(t1 - t0)), y0 * math.exp(t1 ** 2 - t0 ** 2)


@pytest.mark.parametrize("direction,span", [("generate", (0.0, 1.0)), ("infer", (1.0, 0.0))])
@pytest.mark.parametrize("method,order", [("euler", 1), ("midpoint", 2), ("heun", 2)])
def test_fixed_grid_converges_at_its_order(direction, span, method, order):
    x0, y0 = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    want_x, want_y = exact(x0, y0, *span)
    errors = []
    for steps in (20, 40, 80):
        x, y = integrate(linear_field, x0, y0, direction=direction, steps=steps, solver=method)
        errors.append(max((x - want_x).abs().max().item(), (y - want_y).abs().max().item()))
    rates = [math.log2(a / b) for a, b in zip(errors, errors[1:])]
    assert all(abs(r - order) < 0.15 for r in rates), (errors, rates)


@pytest.mark.parametrize("direction,span", [("generate", (0.0, 1.0)), ("infer", (1.0, 0.0))])
def test_adaptive_solver_is_accurate(direction, span):
    x0, y0 = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    counter = NFECounter(linear_field)
    x, y = integrate(counter, x0, y0, direction=direction, solver="dopri5", rtol=1e-9, atol=1e-9)
    want_x, want_y = exact(x0, y0, *span)
    torch.testing.assert_close(x, want_x, rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(y, want_y, rtol=1e-7, atol=1e-7)
    assert counter.calls > 6 and counter.evaluations == 4 * counter.calls


def test_heun_takes_two_evaluations_per_step_and_a_tolerance_travels_in_the_name():
    x0, y0 = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    counter = NFECounter(linear_field)
    integrate(counter, x0, y0, direction="infer", steps=5, solver="heun")
    assert counter.calls == 10
    loose, tight = NFECounter(linear_field), NFECounter(linear_field)
    integrate(loose, x0, y0, direction="infer", solver="dopri5:1e-2")
    integrate(tight, x0, y0, direction="infer", solver="dopri5:1e-8")
    assert loose.calls < tight.calls
    for bad in ("euler:1e-3", "dopri5:x", "dopri5:2", "rk4"):
        with pytest.raises(ValueError, match="solver"):
            integrate(linear_field, x0, y0, direction="infer", solver=bad)


def test_euler_matches_torchdiffeq_euler_on_the_same_grid():
    from torchdiffeq import odeint

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))

    def field(x, y, t):
        out = net(torch.cat([x, y, t[:, None]], 1))
        return out[:, :2], out[:, 2:]

    x0, y0 = torch.randn(8, 2), torch.randn(8, 1)
    x, y = integrate(field, x0, y0, direction="infer", steps=7, solver="euler")
    with torch.no_grad():
        ref = odeint(lambda t, s: torch.cat(field(s[:, :2], s[:, 2:], t.expand(8)), 1),
                     torch.cat([x0, y0], 1), torch.tensor(time_grid("infer", 7)), method="euler")[-1]
    torch.testing.assert_close(torch.cat([x, y], 1), ref)


def test_field_sees_the_grid_times_in_order():
    seen = []

    def field(x, y, t):
        seen.append(t.clone())
        return torch.zeros_like(x), torch.zeros_like(y)

    integrate(field, torch.zeros(3, 1), torch.zeros(3, 1), direction="infer", steps=4)
    assert [s.tolist() for s in seen] == [[v] * 3 for v in (1.0, 0.75, 0.5, 0.25)]


@pytest.mark.parametrize("method,calls_per_step", [("euler", 1), ("midpoint", 2)])
def test_nfe_is_counted(method, calls_per_step):
    counter = NFECounter(linear_field)
    integrate(counter, torch.ones(5, 2), torch.ones(5, 1), direction="generate", steps=6, solver=method)
    assert counter.calls == 6 * calls_per_step and counter.evaluations == 5 * 6 * calls_per_step
    counter.reset()
    assert counter.calls == counter.evaluations == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        integrate(linear_field, torch.ones(1, 1), torch.ones(1, 1), direction="infer", steps=0)
    with pytest.raises(ValueError, match="unknown solver"):
        integrate(linear_field, torch.ones(1, 1), torch.ones(1, 1), direction="infer", solver="rk45")
    with pytest.raises(ValueError, match="direction"):
        integrate(linear_field, torch.ones(1, 1), torch.ones(1, 1), direction="sideways")
    assert "euler" in SOLVERS and "dopri5" in SOLVERS
