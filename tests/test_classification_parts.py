"""Vector labels, time sampling, the label U-Net, flow matching and the Diffusion Classifier."""

import pytest
import torch

from baselines.diffusion_classifier import PUBLISHED, Schedule, classify, stage_indices
from baselines.discriminative import UNetClassifier
from baselines.flow_matching import ClassConditionalVelocity, FlowMatching
from symmflow.checkpoint import load_weights, save_weights
from benchmarks.methods import Problem
from benchmarks.methods.symmflow import SymmFlowMethod
from symmflow.method import SymmFlowSettings
from symmflow.codecs import VectorClassCodec
from symmflow.errors import UsageError
from symmflow.models.pixel_unet import UNetConfig, label_velocity
from symmflow.path import SymmetricPath
from symmflow.solver import NFECounter
from symmflow.timesampling import TimeSampler

TINY = UNetConfig(base_channels=8, multipliers=(1, 2), layers_per_block=1, head_channels=8, norm_groups=4)


def test_vector_codec_round_trip_and_range():
    codec = VectorClassCodec(10)
    labels = torch.arange(10).repeat(5)
    y = codec.encode(labels)
    assert y.shape == (50, 10) and codec.decode(y).tolist() == labels.tolist()
    assert y.max() <= 1.5 and y.min() >= -1.5 and (y > 0).sum(1).eq(1).all()
    with pytest.raises(ValueError):
        codec.encode(torch.tensor([10]))


def test_time_sampler_share_near_one():
    t = TimeSampler(near_one=0.5, width=0.1)(100_000, generator=torch.Generator().manual_seed(0))
    assert 0 <= t.min() and t.max() <= 1
    # half from U(0.9, 1) plus a tenth of the uniform half: 0.55 of the mass above 0.9
    assert abs((t > 0.9).float().mean().item() - 0.55) < 0.01
    u = TimeSampler()(100_000, generator=torch.Generator().manual_seed(0))
    assert abs((u > 0.9).float().mean().item() - 0.1) < 0.01


def test_time_sampler_marks_the_near_one_share():
    sampler = TimeSampler(near_one=0.3, width=0.05, label_only=True)
    t, near = sampler.draw(20_000, generator=torch.Generator().manual_seed(1))
    assert abs(near.float().mean().item() - 0.3) < 0.015
    assert (t[near] >= 0.95).all() and abs((t[~near] < 0.95).float().mean().item() - 0.95) < 0.01


def test_image_part_is_the_symmetric_path_image_half():
    g = torch.Generator().manual_seed(0)
    x, eps, y, ey = (torch.randn(4, 1, 3, 3, generator=g) for _ in range(4))
    t = torch.rand(4, generator=g)
    path = SymmetricPath(sigma_min=0.01)
    full = path.sample(x, y, t, eps, ey)
    x_t, v = path.image_part(x, t, eps)
    torch.testing.assert_close(x_t, full.x_t)
    torch.testing.assert_close(v, full.v_x)


def classifier(label: str, **settings) -> SymmFlowMethod:
    """SymmFlow for 10 classes of 1 x 16 x 16 images on the tiny U-Net, with the model built."""
    code = "per-class" if label == "vector" else "image"
    method = SymmFlowMethod(Problem("tiny", 1, 16, 10, TINY), SymmFlowSettings(label_code=code, **settings))
    method.model = method.build()
    return method


def test_vector_label_model_shapes_and_gradients():
    clf = classifier("vector", near_one=0.5, image_weight=0.5)
    x, labels = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([0, 3, 5, 9])
    parts = clf.loss(clf.model, (x, labels))
    parts.total.backward()
    assert parts.x_mse > 0 and parts.y_mse > 0
    assert clf.model.label_in.weight.grad.abs().sum() > 0 and clf.model.label_out.linear.weight.grad.abs().sum() > 0
    v_x, v_y = clf.model(x, clf.codec.encode(labels), torch.rand(4))
    assert v_x.shape == x.shape and v_y.shape == (4, 10)


def test_near_one_label_only_reaches_the_classifier_loss():
    """Every sample near t = 1 on the label alone: the image term carries no weight."""
    clf = classifier("vector", near_one=1.0, near_one_label_only=True, image_weight=0.9)
    x, labels = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([0, 3, 5, 9])
    parts = clf.loss(clf.model, (x, labels))
    torch.testing.assert_close(parts.total, parts.y_mse)


def _without_label_output(model, label: str):
    """``model`` with its label output head zeroed: the network's label output is exactly 0."""
    head = model.label_out.linear if label == "vector" else model.unet.conv_out
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    return model


@pytest.mark.parametrize("label", ["vector", "channel"])
def test_label_residual_leaves_only_the_label_to_predict_at_t_1(label):
    """With the residual, a network whose label output is -(1 - sigma) y gives the exact
    target of eq. (2) at t = 1, and one Euler step from [image, noise] lands on y."""
    clf = classifier(label, label_form="residual", sigma_min=0.0)
    x, labels = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([0, 3, 5, 9])
    y, noise, t = clf.codec.encode(labels), torch.randn(4, *clf.label_shape), torch.ones(4)
    _, v_y = _without_label_output(clf.model, label)(x, noise, t)
    torch.testing.assert_close(v_y, noise)  # y_t passed through untouched
    target = SymmetricPath(sigma_min=0.0).sample(x, y, t, torch.randn_like(x), noise).v_y
    torch.testing.assert_close(target - v_y, -y)  # what is left to predict: the label alone
    plain = classifier(label, sigma_min=0.0).model
    plain = _without_label_output(plain, label)
    assert plain(x, noise, t)[1].abs().max() == 0  # without it the network must copy the noise


def test_discriminative_has_no_decoder():
    model = UNetClassifier(TINY, 1, 10, 16)
    assert len(model.unet.up_blocks) == 0 and model(torch.zeros(3, 1, 16, 16)).shape == (3, 10)


def test_checkpoint_of_another_architecture_is_a_usage_error(tmp_path):
    save_weights(UNetClassifier(TINY, 1, 10, 16), tmp_path / "clf", {})
    with pytest.raises(UsageError, match="another architecture"):
        load_weights(ClassConditionalVelocity(TINY, 1, 10, 16), tmp_path / "clf")


def test_flow_matching_generation_counts_nfe():
    model = ClassConditionalVelocity(TINY, 1, 10, 16)
    counter = NFECounter(model)
    with torch.no_grad():
        x = FlowMatching().generate(counter, torch.tensor([1, 2, 3]), (1, 16, 16), steps=4)
    assert x.shape == (3, 1, 16, 16) and counter.evaluations == 12


def test_published_schedule_costs_2750_nfe_for_10_classes():
    assert PUBLISHED.nfe(10) == 2750
    assert Schedule((10,), (1,)).nfe(10) == 100
    assert stage_indices(500, 50)[:3] == [5, 15, 25] and len(stage_indices(500, 50)) == 50


class Oracle(torch.nn.Module):
    """Predicts the exact velocity for the true class and a wrong one otherwise; records inputs."""

    def __init__(self, truth, images, path, index):
        super().__init__()
        self.truth, self.images, self.path, self.index, self.seen = truth, images, path, index, []

    def forward(self, x_t, labels, t):
        self.seen.append((x_t.clone(), labels.clone(), t.clone()))
        # recover eps from x_t for the known image, then the exact target
        s, tt = 1 - self.path.sigma_min, t.reshape(-1, 1, 1, 1)
        eps = (x_t - tt * self.images[self.index]) / (1 - s * tt)
        v = self.images[self.index] - s * eps
        wrong = (labels != self.truth[self.index]).float().reshape(-1, 1, 1, 1)
        return v + wrong * (1 + labels.float().reshape(-1, 1, 1, 1))


def test_diffusion_classifier_picks_smallest_error_and_shares_noise():
    path = SymmetricPath()
    images = torch.rand(3, 1, 8, 8) * 2 - 1
    truth = torch.tensor([4, 0, 7])
    predicted = []
    seen = []
    schedule = Schedule((4, 8), (3, 1))
    for i in range(3):
        oracle = Oracle(truth, images, path, i)
        counter = NFECounter(oracle)
        p, scores = classify(counter, images[i:i + 1], 10, schedule, path=path, seed=1)
        predicted.append(p.item())
        assert counter.evaluations == schedule.nfe(10)
        seen.append(oracle.seen)
    assert predicted == truth.tolist()
    # the same x_t (same noise) for every class at a given time
    x_t, labels, t = (torch.cat(z) for z in zip(*seen[0]))
    first = t == t[0]
    assert labels[first].unique().numel() == 10 and torch.allclose(x_t[first], x_t[first][:1].expand_as(x_t[first]))


def test_clean_label_form_gives_the_path_velocity_and_its_loss_is_the_clean_error():
    """v_y = (y_t - y_hat) / t is eq. (2)'s target when y_hat = y, and the clean label loss is
    the squared error of y_hat (eq. 3's label term x t^2)."""
    path = SymmetricPath(sigma_min=1e-4, image_weight=0.0, label_loss="clean")
    x, y = torch.randn(6, 1, 4, 4), torch.randn(6, 10)
    t, eps_x, eps_y = torch.rand(6) * 0.9 + 0.1, torch.randn(6, 1, 4, 4), torch.randn(6, 10)
    p = path.sample(x, y, t, eps_x, eps_y)
    torch.testing.assert_close(label_velocity(y, p.y_t, t, "clean"), p.v_y)
    y_hat = y + 0.1

    def field(x_t, y_t, tt):
        return torch.zeros_like(x_t), label_velocity(y_hat, y_t, tt, "clean")

    torch.manual_seed(0)
    loss = path.loss(field, x, y, t)
    torch.testing.assert_close(loss.y_mse, torch.tensor(0.01), rtol=1e-4, atol=1e-6)
    torch.manual_seed(0)
    velocity_loss = SymmetricPath(sigma_min=1e-4, image_weight=0.0).loss(field, x, y, t)
    torch.testing.assert_close(velocity_loss.y_mse, (0.01 / t ** 2).mean(), rtol=1e-4, atol=1e-6)


def test_vector_code_scale_multiplies_code_and_dequantisation():
    labels = torch.tensor([0, 2, 1])
    g = torch.Generator().manual_seed(0)
    plain = VectorClassCodec(3).encode(labels, generator=g)
    g = torch.Generator().manual_seed(0)
    scaled = VectorClassCodec(3, scale=4.0).encode(labels, generator=g)
    torch.testing.assert_close(scaled, 4.0 * plain)
    assert (VectorClassCodec(3, scale=4.0).decode(scaled) == labels).all()
    with pytest.raises(ValueError):
        VectorClassCodec(3, scale=0.0)
