"""The FID (clean-fid, pytorch-fid) and LPIPS code paths a GPU-cluster user runs, exercised with
STAND-IN weight files of the real formats written here: a TorchScript module shaped like
clean-fid's ``inception-2015-12-05.pt``, pytorch-fid's Inception state dict with random values
as ``pt_inception-2015-12-05-6726825d.pth`` and a torchvision AlexNet state dict with random
values as ``alexnet-owt-7be5be79.pth``.  What these tests compute are not FID or LPIPS values and are
never stored as such; they prove the code paths load, run and reduce.

They need the paper extra (torch 2.14.1, torchvision 0.29.1, clean-fid, lpips), which the
second environment of ``.ci/run`` installs; elsewhere they are skipped with that reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

pytest.importorskip("cleanfid", reason="needs the paper extra: torch==2.14.1 torchvision==0.29.1 and .[paper]")
pytest.importorskip("lpips", reason="needs the paper extra: torch==2.14.1 torchvision==0.29.1 and .[paper]")
pytest.importorskip("pytorch_fid", reason="needs the paper extra: torch==2.14.1 torchvision==0.29.1 and .[paper]")

from symmflow import metrics  # noqa: E402
from symmflow.errors import UsageError  # noqa: E402

pytestmark = pytest.mark.paper


class _StandInInception(nn.Module):
    """clean-fid's interface: ``layers`` maps 299 px images in [-1, 1] to (B, 2048, 1, 1)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.Sequential(nn.AdaptiveAvgPool2d(8), nn.Conv2d(3, 2048, 1), nn.Tanh(), nn.AdaptiveAvgPool2d(1))

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return self.layers(x)


@pytest.fixture(scope="module")
def stand_in_weights(tmp_path_factory) -> Path:
    import torchvision

    folder = tmp_path_factory.mktemp("stand-in-weights")
    torch.jit.save(torch.jit.script(_StandInInception()), str(folder / metrics.INCEPTION_FILE))
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), folder / metrics.ALEXNET_FILE)
    torch.save(random_fid_inception_state(), folder / metrics.PYTORCH_FID_FILE)
    return folder


def random_fid_inception_state() -> dict:
    """The state dict pytorch-fid's ``fid_inception_v3`` loads, with its network's random values:
    the network is built by the package with its weight download stood in, and captured."""
    from unittest import mock

    import torchvision
    from pytorch_fid import inception

    captured = {}

    def capture(network, state, *args, **kwargs):
        captured.update(network.state_dict())

    torch.manual_seed(0)
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(torchvision.models.Inception3, "load_state_dict", capture):
        inception.fid_inception_v3()
    return captured


def test_the_pytorch_fid_features_are_its_activations_of_the_saved_pngs(stand_in_weights, tmp_path):
    from PIL import Image
    from pytorch_fid.fid_score import get_activations

    from symmflow.images import to_uint8

    features = metrics.pytorch_fid_features(stand_in_weights)
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = features(images)
    assert out.shape == (3, 2048) and torch.isfinite(out).all()
    assert not torch.allclose(out[0], out[1])  # it looks at the images
    files = []  # the authors' protocol: the samples saved as PNG files, read back by pytorch-fid
    for i, pixels in enumerate(to_uint8(images).numpy()):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(pixels).save(files[-1])
    theirs = get_activations([str(f) for f in files], metrics.pytorch_fid_network(stand_in_weights), batch_size=3,
                             dims=2048, num_workers=0)
    assert torch.allclose(out, torch.from_numpy(theirs).float(), atol=1e-5)


def test_a_damaged_pytorch_fid_file_is_one_line(tmp_path):
    (tmp_path / metrics.PYTORCH_FID_FILE).write_bytes(b"not a state dict")
    with pytest.raises(UsageError) as error:
        metrics.pytorch_fid_features(tmp_path)
    assert "pytorch-fid" in str(error.value) and "\n" not in str(error.value)


def test_the_inception_path_loads_the_torchscript_file_and_gives_pool_features(stand_in_weights):
    assert metrics.inception_missing(stand_in_weights) is None
    features = metrics.inception_features(stand_in_weights)
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    out = features(images)
    assert out.shape == (3, 2048) and torch.isfinite(out).all()
    assert not torch.allclose(out[0], out[1])  # it looks at the images


def test_the_lpips_path_loads_the_alexnet_file_and_scores_pairs(stand_in_weights):
    net = metrics.LPIPS(stand_in_weights)
    trunk = torchvision_alexnet_features(stand_in_weights)
    assert torch.equal(net.net.net.slice1[0].weight, trunk["features.0.weight"])  # the file's tensors, not random
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(net.paired(a, a), torch.zeros(2), atol=1e-6)
    assert (net.paired(a, b) > 0).all()
    diversity = net.diversity(torch.stack([a, b], 1).repeat(1, 2, 1, 1, 1))  # (2 groups, 4 samples)
    assert diversity.shape == (2,) and torch.isfinite(diversity).all()


def torchvision_alexnet_features(folder: Path) -> dict:
    return torch.load(folder / metrics.ALEXNET_FILE, weights_only=True)


def test_a_damaged_alexnet_file_is_one_line(tmp_path):
    (tmp_path / metrics.ALEXNET_FILE).write_bytes(b"not a state dict")
    with pytest.raises(UsageError) as error:
        metrics.LPIPS(tmp_path)
    assert "alexnet" in str(error.value).lower() and "\n" not in str(error.value)


def test_table_4_computes_its_fid_and_lpips_cells_with_the_stand_ins(stand_in_weights, tmp_path):
    import pandas as pd

    from benchmarks import run

    out = tmp_path / "results"  # the paper's 25 steps: every metric's code path, not the whole step curve
    assert run.main(["--table", "4", "--profile", "smoke", "--steps", "25", "--out", str(out), "--device", "cpu",
                     "--no-progress", "--inception-dir", str(stand_in_weights),
                     "--lpips-dir", str(stand_in_weights)]) == 0
    cells = [json.loads(p.read_text()) for p in out.glob("cells/table*/*.json")]
    assert cells and all(c["status"] == "ok" for c in cells), [c.get("reason") for c in cells]
    # with Inception present the Frechet distance is the FID and the joint distance is in its features;
    # the judge's mIoU of the samples beside them
    assert set(pd.read_csv(out / "table4.csv")["metric"]) == {"FID (clean-fid)", "FID (pytorch-fid)",
                                                              "FJD (clean-fid Inception)", "LPIPS",
                                                              "LPIPS-diversity", "mIoU of samples (SS U-Net)"}
