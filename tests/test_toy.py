"""The toy MLP and the smoke-profile regression of Table 1 (paper section 3.4)."""

import copy

import pytest
import torch
from torch import nn

from benchmarks.experiments.toy import toy_accuracy, train_toy
from benchmarks.profiles import TOY
from symmflow.models.mlp import ToyMLP


def row_major_reference(model: ToyMLP) -> nn.Module:
    """The same network written the usual way (rows = samples), sharing the parameters."""
    blocks = [nn.Sequential(b.norm, b.linear, nn.ReLU()) for b in model.blocks]

    class Reference(nn.Module):
        def forward(self, x, y, t):
            angle = t[:, None] * model.freqs[None, :]
            h = torch.cat([x, y, torch.sin(angle), torch.cos(angle)], 1)
            for block in blocks:
                h = h + block(h)
            out = model.head(h)
            return out[:, :2], out[:, 2:]

    return Reference()


@pytest.mark.parametrize("train_mode", [True, False])
def test_feature_major_layout_is_the_same_function(train_mode):
    torch.manual_seed(0)
    model = ToyMLP()
    with torch.no_grad():  # give the norms non-trivial running statistics
        for b in model.blocks:
            b.norm.running_mean.uniform_(-1, 1)
            b.norm.running_var.uniform_(0.5, 2)
    twin = copy.deepcopy(model)
    reference = row_major_reference(twin)
    model.train(train_mode), twin.train(train_mode)
    x, y, t = torch.randn(256, 2), torch.randn(256, 1), torch.rand(256)
    for a, b in zip(model(x, y, t), reference(x, y, t)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert sum(p.numel() for p in model.parameters()) == 10 * (2 * 11 + 11 * 11 + 11) + 11 * 3 + 3


def test_toy_shapes_follow_the_reference():
    model = ToyMLP()
    assert model.head.in_features == 11 and len(model.blocks) == 10
    vx, vy = model(torch.randn(5, 2), torch.randn(5, 1), torch.rand(5))
    assert vx.shape == (5, 2) and vy.shape == (5, 1)


@pytest.fixture(scope="module")
def smoke_model(tmp_path_factory):
    trained = train_toy(TOY["smoke"], seed=0, out=tmp_path_factory.mktemp("toy"), progress=False)
    assert [r["step"] for r in trained.stats][-1] == TOY["smoke"].train_steps
    assert all({"x_mse", "y_mse"} <= set(r) for r in trained.stats)  # eq. 3's two terms, logged apart
    return trained.model


def test_smoke_toy_classifies_in_one_step_and_degrades_with_more(smoke_model):
    settings = TOY["smoke"]
    one = toy_accuracy(smoke_model, settings, steps=1, seed=0)
    fifty = toy_accuracy(smoke_model, settings, steps=50, seed=0)
    assert one["value"] >= 97.0
    assert fifty["value"] < one["value"]  # the paper's finding: more steps blur the classes
    assert one["nfe_per_sample"] == 1 and fifty["nfe_per_sample"] == 50
