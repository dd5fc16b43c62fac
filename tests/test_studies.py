"""The studies beside the tables: the step-curve test tells a sampler of the posterior from a reader
of its mean, through the label codes' posterior map; the reliability study's training worker runs
as its kills start it."""

import pytest
import torch

from studies import step_curve
from symmflow.codecs import ToyScalarCodec, VectorClassCodec


# ---------------------------------------------------------------- the posterior map of the label codes


def test_the_posterior_of_a_code_inverts_its_mean():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]])
    codec = VectorClassCodec(3, scale=3.0)
    mean = codec.scale * (2 * p - 1)  # E[y | x]: +scale with probability p_c, -scale otherwise, noise of mean 0
    assert torch.allclose(codec.posterior(mean), p)
    assert torch.allclose(codec.posterior(torch.full((1, 3), -9.0)), torch.full((1, 3), 1 / 3))  # all clipped to 0
    empirical = codec.encode(torch.multinomial(p[:1], 20_000, replacement=True)[0]).mean(0, keepdim=True)
    assert torch.allclose(codec.posterior(empirical), p[:1], atol=0.02)
    toy = ToyScalarCodec()
    assert torch.allclose(toy.posterior(torch.tensor([[0.4], [-3.0]])), torch.tensor([[0.3, 0.7], [1.0, 0.0]]))


# ---------------------------------------------------------------- the step-curve test on known fields


class PosteriorFlow(torch.nn.Module):
    """The exact label velocity of the two-point label y in {-1, +1} with p(+1 | x) = sigmoid(4 x_0):
    y_t = (1 - t) y + t eps, v_y = E[eps - y | x, y_t].  Integrated from t = 1 it draws y from p(. | x);
    one Euler step reads E[y | x] = 2 p - 1."""

    def forward(self, x, y, t):
        p = torch.sigmoid(4 * x[:, :1])
        tt = t[:, None].clamp(min=1e-4)
        log_plus = torch.log(p) - (y - (1 - tt)) ** 2 / (2 * tt ** 2)
        log_minus = torch.log1p(-p) - (y + (1 - tt)) ** 2 / (2 * tt ** 2)
        mean_y = torch.tanh((log_plus - log_minus) / 2)
        mean_eps = (y - (1 - tt) * mean_y) / tt
        return torch.zeros_like(x), mean_eps - mean_y


class MeanReader(PosteriorFlow):
    """A field whose every Euler path ends at E[y | x]: the label state is pulled straight to it."""

    def forward(self, x, y, t):
        target = 2 * torch.sigmoid(4 * x[:, :1]) - 1
        return torch.zeros_like(x), (y - target) / t[:, None].clamp(min=1e-4)


def toy_model(field) -> step_curve.Model:
    generator = torch.Generator().manual_seed(0)
    points = torch.randn(4_000, 2, generator=generator)
    labels = torch.bernoulli(torch.sigmoid(4 * points[:, 0]), generator=generator).long()
    return step_curve.Model("known field", field, ToyScalarCodec(), (1,), points, labels, 4_000)


def test_the_step_curve_test_recognises_a_sampler_of_the_posterior():
    r = step_curve.test(toy_model(PosteriorFlow()), seed=0)
    assert r["accuracy_25"] == pytest.approx(r["expected_accuracy_of_a_sample"], abs=2.0)
    assert r["share_of_the_fall_a_sample_explains"] == pytest.approx(1.0, abs=0.3)
    assert r["tv_frequencies_to_p"] == pytest.approx(r["tv_floor"], abs=0.02) and r["tv_permuted"] > 4 * r["tv_floor"]
    assert r["accuracy_1"] > r["accuracy_25"] + 5  # reading the mean beats drawing a sample


def test_the_step_curve_test_recognises_a_reader_of_the_mean():
    r = step_curve.test(toy_model(MeanReader()), seed=0)
    assert r["accuracy_25"] == pytest.approx(r["accuracy_1"], abs=0.5)
    assert r["accuracy_25"] > r["expected_accuracy_of_a_sample"] + 5  # no fall for a sample to explain
    assert r["tv_frequencies_to_p"] > 1.8 * r["tv_floor"]  # the draws do not follow p


# ---------------------------------------------------------------- the reliability study


@pytest.mark.slow
def test_the_reliability_studys_training_worker_runs_as_the_kills_start_it(tmp_path):
    """The kills start this same command; it must train and leave the final weights (no other
    option of the study is asked of it), and the study itself refuses to start without its catalogue."""
    import subprocess
    import sys

    from studies import reliability

    done = subprocess.run([sys.executable, *reliability.TRAIN, str(tmp_path / "run")], cwd=reliability.ROOT,
                          capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert done.returncode == 0, done.stderr[-500:]
    assert (tmp_path / "run" / "final.pt").is_file()
    assert reliability.main(["--out", str(tmp_path / "out")]) == 2 and not (tmp_path / "out").exists()
