"""Every input of a run checked before its first network trains, everything wrong listed at
once; stored and supplied state validated by shape; a failure to read an input never reported as
one to write; no lock left behind."""

import dataclasses
import functools
import json
import shutil
import threading

import numpy as np
import pytest
import torch

from benchmarks import run
from benchmarks.profiles import SEGSYNTH
from benchmarks.store import locked
from symmflow import latent_cache
from symmflow.digests import folder_digest
from symmflow.errors import UsageError
from symmflow.models import latent
from tests.test_datasets import celeba_fixture, coco_fixture
from tests.test_latent import tiny_sd_folder
from tests.test_segsynth_tables import tables_with

PAPER = SEGSYNTH["paper"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """CelebAMask-HQ in its layout, a tiny SD folder, and the paper profile of Table 5 on both
    latent data sets (COCO-Stuff present only where a test writes it)."""
    root = tmp_path_factory.mktemp("checks")
    celeba_fixture(root / "data", ids=(0, 1, 2001), size=16)
    paper = dataclasses.replace(
        PAPER, datasets=("CelebAMask-HQ", "COCO-Stuff"), resolution=16, eval_batch=2,
        budget=dataclasses.replace(PAPER.budget, steps=2, batch_size=1, warmup_steps=1, mixed_precision="no"),
        latent={**PAPER.latent, "fid_samples": 0, "gpus": {"CelebAMask-HQ": 1, "COCO-Stuff": 1}})
    return {"root": root, "sd": tiny_sd_folder(root / "sd"), "tables": tables_with("paper", paper)}


def argv(world, out, data=None, sd=None, *extra):
    return ["--table", "5", "--profile", "paper", "--steps", "1", "--out", out, "--device", "cpu", "--no-progress",
            "--data-root", data or world["root"] / "data", "--pretrained", sd or world["sd"], *extra]


@pytest.fixture
def harness(world, monkeypatch):
    """``benchmarks.run.main`` on the world's tables (what ``refused`` calls)."""
    monkeypatch.setattr(run, "main", functools.partial(run.main, available=world["tables"]))


def damaged_sd(world, tmp_path, sub: str, keep: int | None = None, config: dict | None = None):
    """A copy of the SD folder with ``sub``'s weights cut to ``keep`` bytes or its config changed."""
    sd = tmp_path / "sd"
    shutil.copytree(world["sd"], sd)
    if keep is not None:
        for file in (sd / sub).glob("*.safetensors"):
            file.write_bytes(file.read_bytes()[:keep])
    if config:
        path = sd / sub / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **config}))
    folder_digest(sd)  # the digests' records beside the weights: a cache of the input, not an output
    return sd


def with_coco(world, tmp_path):
    """The world's data with COCO-Stuff beside it (non-square images: random training crops)."""
    data = tmp_path / "data"
    shutil.copytree(world["root"] / "data", data)
    coco_fixture(data)
    return data


@pytest.mark.parametrize("case, needle", [
    ("a zero-byte U-Net", "unet/diffusion_pytorch_model.safetensors is truncated (0 bytes"),
    ("a truncated text encoder", "text_encoder/model.safetensors is truncated"),
    ("a VAE of 8 latent channels", "the VAE makes latents of 8 channels, the U-Net"),
    ("the second data set missing", "COCO-Stuff: expected images/"),
    ("--cache-latents with random crops", "so its 16 px training crop is random"),
])
def test_each_late_problem_is_found_before_any_training(world, tmp_path, harness, refused, case, needle):
    data = sd = None
    extra = []
    if case == "a zero-byte U-Net":
        sd = damaged_sd(world, tmp_path, "unet", keep=0)
    elif case == "a truncated text encoder":
        sd = damaged_sd(world, tmp_path, "text_encoder", keep=100)
    elif case == "a VAE of 8 latent channels":
        sd = damaged_sd(world, tmp_path, "vae", config={"latent_channels": 8})
    if case != "the second data set missing":
        data = with_coco(world, tmp_path)
    if case == "--cache-latents with random crops":
        extra = ["--cache-latents"]
    refused(argv(world, tmp_path / "out", data, sd, *extra), needle, command="benchmarks.run")


def test_every_problem_is_listed_at_once_and_the_dry_run_finds_the_same(world, tmp_path, capsys, no_work):
    sd = damaged_sd(world, tmp_path, "text_encoder", keep=100)
    out = tmp_path / "out"
    lines = {}
    for dry in (False, True):
        capsys.readouterr()
        assert run.main([str(a) for a in argv(world, out, None, sd, *["--dry-run"] * dry)], world["tables"]) == 2
        lines[dry] = [line for line in capsys.readouterr().err.splitlines() if "%|" not in line]
    errors = [line for line in lines[False] if line.startswith("error:")]
    assert len(errors) == len(lines[False]) == 2, lines[False]  # one line each, nothing else
    assert "COCO-Stuff" in errors[0] and "text_encoder/model.safetensors is truncated" in errors[1]
    assert "2 problems, listed above: nothing was trained or written" in errors[1]
    missing = [line for line in lines[True] if line.startswith("missing (table 5)")]
    assert len(missing) == 2 and "COCO-Stuff" in missing[0] and "text_encoder" in missing[1], lines[True]
    assert not out.exists()  # no checkpoint, cell, cache or lock


def test_a_refused_run_leaves_no_lock_and_a_waiting_run_takes_it_afterwards(tmp_path):
    path = tmp_path / "checkpoints" / ".net.lock"
    with pytest.raises(UsageError):
        with locked(path):
            assert path.is_file()
            raise UsageError("refused inside the lock")
    assert not path.exists()
    order = []
    with locked(path):
        waiter = threading.Thread(target=lambda: locked(path).__enter__() and None or order.append("second"))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # it waits while the first holds the lock
        order.append("first")
    waiter.join(5)
    assert order == ["first", "second"]


def test_a_latent_cache_of_the_right_count_but_another_shape_is_set_aside_and_rebuilt(world, tmp_path, capsys):
    from symmflow.data import celebamask

    pairs = celebamask.dataset(world["root"] / "data", "train", size=16, train=True)
    space = latent.load_space(world["sd"], celebamask.palette())
    shape = space.state_shape(16, 16)
    identity = {"vae": "tiny", "data": "celeba"}
    path = latent_cache.cache_file(tmp_path, identity)
    np.save(path, np.zeros((len(pairs), 2 * shape[0], 4, 4), np.float32))  # the count right, the latent size not
    capsys.readouterr()
    moments = latent_cache.cached_moments(pairs, space.vae, tmp_path, identity, 2, "cpu", progress=False, shape=shape)
    assert moments.shape == (len(pairs), 2 * shape[0], *shape[1:])
    warning = capsys.readouterr().err.strip()
    assert warning.startswith("warning:") and "moments of shape (8, 4, 4) stored" in warning, warning
    assert len(list(tmp_path.glob("*.damaged-*"))) == 1


def test_a_checkpoint_of_another_network_is_set_aside_and_training_starts_again(tmp_path, capsys):
    from symmflow.train import TrainConfig, fit

    def batches():
        generator = torch.Generator().manual_seed(0)
        while True:
            yield torch.randn(4, 3, generator=generator)

    def loss(model, x):
        return model(x).pow(2).mean()

    config = TrainConfig(steps=4, batch_size=4, lr=1e-2, checkpoint_every=2, ema_decay=None)
    run_dir = tmp_path / "run"
    fit(torch.nn.Linear(3, 5), loss, batches(), config, device="cpu", run_dir=run_dir, progress=False)
    assert (run_dir / "checkpoint-4").is_dir()
    capsys.readouterr()
    torch.manual_seed(0)
    result = fit(torch.nn.Linear(3, 2), loss, batches(), config, device="cpu", run_dir=run_dir, progress=False)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and all("weight" in w and "not this network's" in w for w in warnings), warnings
    assert result.model.weight.shape == (2, 3) and len(list(run_dir.glob("*.damaged-*"))) == 2


def test_weights_that_do_not_load_are_a_read_failure_named_with_the_file(world, tmp_path):
    from safetensors.torch import load_file, save_file

    sd = damaged_sd(world, tmp_path, "unet")
    file = sd / "unet" / "diffusion_pytorch_model.safetensors"
    state = load_file(str(file))
    key = next(k for k in state if k.endswith("conv_in.weight"))
    state[key] = torch.zeros(1)  # a whole file whose tensor does not fit the config
    save_file(state, str(file))
    assert latent.folder_problems(sd) == []  # whole and of the right width: only loading finds it
    with pytest.raises(UsageError) as error:
        latent.load_unet(sd)
    assert str(error.value).startswith(f"the U-Net of {sd} does not load") and "\n" not in str(error.value)


def test_metric_weights_that_cannot_load_are_found_without_loading_them(tmp_path):
    from symmflow.metrics import torch_file_problem

    whole = tmp_path / "whole.pt"
    torch.save({"w": torch.zeros(64)}, whole)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole.read_bytes()[:-30])
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert torch_file_problem(whole, "LPIPS") is None
    assert "do not read (damaged or truncated)" in torch_file_problem(cut, "LPIPS")
    assert "do not read (empty)" in torch_file_problem(empty, "LPIPS")


def test_a_damaged_metric_file_is_refused_before_any_work_in_any_profile(tmp_path, refused):
    from symmflow.metrics import ALEXNET_FILE

    weights = tmp_path / "lpips"
    weights.mkdir()
    (weights / ALEXNET_FILE).write_bytes(b"")
    folder_digest(weights)  # its digest's record: a cache of the input, not an output
    refused(["--table", "4", "--profile", "smoke", "--out", tmp_path / "out", "--lpips-dir", weights],
            f"{ALEXNET_FILE} do not read (empty); download them again", command="benchmarks.run")
