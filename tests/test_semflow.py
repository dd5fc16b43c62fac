"""SemFlow's rectified path, its NFE counting through the shared integrator, and exact transport."""

import torch

from baselines import semflow
from symmflow.codecs import PaletteCodec
from symmflow.path import RectifiedPath
from symmflow.solver import NFECounter

PALETTE = PaletteCodec([(0, 0, 0), (255, 0, 0), (0, 0, 255)], beta=10)


def test_rectified_path_closed_form():
    a, b, s = torch.randn(4, 3), torch.randn(4, 3), torch.rand(4)
    z, v = RectifiedPath().sample(a, b, s)
    torch.testing.assert_close(z, (1 - s[:, None]) * a + s[:, None] * b)
    torch.testing.assert_close(v, b - a)


def test_perturbation_is_semflows_finite_noise():
    codec = semflow.perturbation_codec(PALETTE)
    mask = torch.ones(1, 64, 64, dtype=torch.long)
    noise = codec.encode(mask) - PALETTE.colourise(mask) / 127.5 + 1
    assert noise.abs().max() <= 0.05 + 1e-6 and noise.abs().max() > 0.04  # 0.1 * U(-0.5, 0.5)


class Oracle(torch.nn.Module):
    """The exact velocity b - a of one known pair, fed through SemFlowVelocity's time convention."""

    def __init__(self, a, b):
        super().__init__()
        self.delta, self.times = b - a, []

    def forward(self, z, t):
        self.times.append(t.clone())
        return self.delta.expand_as(z)


def test_segment_and_synthesise_follow_the_straight_path():
    mask = torch.randint(0, 3, (2, 8, 8))
    image = torch.rand(2, 3, 8, 8) * 2 - 1
    z_mask = PALETTE.colourise(mask) / 127.5 - 1
    oracle = Oracle(z_mask, image)
    counter = NFECounter(semflow.SemFlowVelocity(oracle))
    assert torch.equal(semflow.segment(counter, image, PALETTE, steps=3), mask)
    assert counter.evaluations == 3 * 2  # NFE counted per row
    # the network sees SemFlow's own time 1000 t = 1000 (1 - s): image end at t = 0
    torch.testing.assert_close(oracle.times[0], torch.zeros(2))
    codec = semflow.perturbation_codec(PALETTE)
    out = semflow.synthesise(semflow.SemFlowVelocity(oracle), mask, codec, steps=2)
    assert (out - image).abs().max() <= 0.05 + 1e-5  # only the perturbation remains


def test_loss_is_zero_for_the_exact_field():
    mask, image = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    model = semflow.SemFlowVelocity(Oracle(mask, image))
    assert semflow.semflow_loss(model, image, mask).item() < 1e-12
