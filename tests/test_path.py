"""The symmetric path and loss against closed forms written out here (notes section 1)."""

import pytest
import torch

from symmflow.path import SymmetricPath


def closed_form(x, y, t, ex, ey, s):
    """Eqs. 1-2 with sigma_min s, written independently for one scalar sample."""
    return ((1 - (1 - s) * t) * ex + t * x, (1 - (1 - s) * t) * y + t * ey,
            x - (1 - s) * ex, ey - (1 - s) * y)


@pytest.mark.parametrize("sigma", [0.0, 1e-4, 0.1])
def test_sample_matches_closed_form(sigma):
    g = torch.Generator().manual_seed(0)
    x, y, ex, ey = (torch.randn(5, 3, 4, 4, generator=g) for _ in range(4))
    t = torch.rand(5, generator=g)
    got = SymmetricPath(sigma_min=sigma).sample(x, y, t, ex, ey)
    for i in range(5):
        want = closed_form(x[i], y[i], t[i].item(), ex[i], ey[i], sigma)
        for a, b in zip(got, want):
            torch.testing.assert_close(a[i], b)


def test_ends_of_the_path():
    x, y, ex, ey = torch.ones(2, 2), 2 * torch.ones(2, 1), 3 * torch.ones(2, 2), 4 * torch.ones(2, 1)
    p0 = SymmetricPath(sigma_min=0.0).sample(x, y, torch.zeros(2), ex, ey)
    p1 = SymmetricPath(sigma_min=0.0).sample(x, y, torch.ones(2), ex, ey)
    assert torch.equal(p0.x_t, ex) and torch.equal(p0.y_t, y)  # image noise, label clean
    assert torch.equal(p1.x_t, x) and torch.equal(p1.y_t, ey)  # image clean, label noise


def test_targets_are_the_time_derivative():
    g = torch.Generator().manual_seed(1)
    x, y, ex, ey = (torch.randn(4, 2, generator=g, dtype=torch.float64) for _ in range(4))
    path, t, h = SymmetricPath(sigma_min=1e-2), torch.full((4,), 0.3, dtype=torch.float64), 1e-6
    hi, lo = path.sample(x, y, t + h, ex, ey), path.sample(x, y, t - h, ex, ey)
    torch.testing.assert_close((hi.x_t - lo.x_t) / (2 * h), path.sample(x, y, t, ex, ey).v_x)
    torch.testing.assert_close((hi.y_t - lo.y_t) / (2 * h), path.sample(x, y, t, ex, ey).v_y)


def test_loss_weights_the_two_parts():
    torch.manual_seed(0)
    x, y = torch.randn(64, 3), torch.randn(64, 1)
    path = SymmetricPath(sigma_min=0.0, image_weight=0.7)
    zero = lambda xt, yt, t: (torch.zeros_like(xt), torch.zeros_like(yt))  # noqa: E731
    t = torch.rand(64)
    torch.manual_seed(1)
    parts = path.loss(zero, x, y, t)
    torch.manual_seed(1)
    ex, ey = torch.randn_like(x), torch.randn_like(y)
    vx, vy = x - ex, ey - y
    torch.testing.assert_close(parts.x_mse, (vx ** 2).mean())
    torch.testing.assert_close(parts.y_mse, (vy ** 2).mean())
    torch.testing.assert_close(parts.total, 0.7 * (vx ** 2).mean() + 0.3 * (vy ** 2).mean())


def test_label_only_samples_weigh_the_label_alone():
    torch.manual_seed(0)
    x, y, t = torch.randn(6, 3), torch.randn(6, 1), torch.rand(6)
    path = SymmetricPath(sigma_min=0.0, image_weight=0.7)
    zero = lambda xt, yt, t: (torch.zeros_like(xt), torch.zeros_like(yt))  # noqa: E731
    only = torch.tensor([True, False, True, False, False, True])
    torch.manual_seed(1)
    parts = path.loss(zero, x, y, t, label_only=only)
    torch.manual_seed(1)
    ex, ey = torch.randn_like(x), torch.randn_like(y)
    x_err, y_err = ((x - ex) ** 2).mean(1), ((ey - y) ** 2).mean(1)
    w = torch.where(only, 0.0, 0.7)
    torch.testing.assert_close(parts.total, (w * x_err + (1 - w) * y_err).mean())
    torch.testing.assert_close(parts.x_mse, x_err.mean())  # the logged parts stay plain means
    torch.manual_seed(1)
    none = path.loss(zero, x, y, t, label_only=torch.zeros(6, dtype=torch.bool)).total
    torch.manual_seed(1)
    torch.testing.assert_close(none, path.loss(zero, x, y, t).total)


def test_exact_velocity_has_zero_loss():
    torch.manual_seed(0)
    x, y, t = torch.randn(8, 2), torch.randn(8, 1), torch.rand(8)
    path = SymmetricPath(sigma_min=0.0)
    torch.manual_seed(5)
    ex, ey = torch.randn_like(x), torch.randn_like(y)

    def oracle(xt, yt, tt):  # recovers the noise from x_t, y_t and knows x, y
        return x - ex, ey - y

    torch.manual_seed(5)
    assert path.loss(oracle, x, y, t).total.item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("bad", [dict(sigma_min=-0.1), dict(sigma_min=1.0), dict(image_weight=1.5)])
def test_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        SymmetricPath(**bad)
