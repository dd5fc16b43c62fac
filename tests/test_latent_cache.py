"""Cached image latents (--cache-latents): stored once, drawn from the same distribution as the
per-step encoding, refused where crops are random, and a paper-profile run that trains from them."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from benchmarks import run
from benchmarks.profiles import SEGSYNTH
from symmflow import latent_cache
from symmflow.data import celebamask, cocostuff
from symmflow.errors import UsageError
from symmflow.models.latent import load_space
from tests.test_datasets import celeba_fixture, coco_fixture
from tests.test_latent import tiny_sd_folder
from tests.test_segsynth_tables import tables_with


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    celeba_fixture(root / "data", ids=(0, 1, 2001), size=16)
    sd = tiny_sd_folder(root / "sd")
    pairs = celebamask.dataset(root / "data", "train", size=16, train=True)
    return {"root": root, "sd": sd, "pairs": pairs, "space": load_space(sd, celebamask.palette())}


def test_the_moments_are_the_vaes_posterior_of_each_training_image_stored_once(world, tmp_path):
    pairs, vae = world["pairs"], world["space"].vae
    path = latent_cache.cache_file(tmp_path, {"vae": "a", "data": "b"})
    assert path != latent_cache.cache_file(tmp_path, {"vae": "another", "data": "b"})
    latent_cache.build(pairs, vae, path, 1, "cpu", progress=False)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # nothing half-written left
    moments = latent_cache.load(path, len(pairs))
    with torch.no_grad():
        expected = torch.cat([vae.encode(pairs[i][0][None]).latent_dist.parameters for i in range(len(pairs))])
    torch.testing.assert_close(torch.from_numpy(np.array(moments)), expected)
    assert json.loads(path.with_suffix(".json").read_text())["pairs"] == len(pairs)


def test_a_damaged_or_short_cache_is_set_aside_and_rebuilt(world, tmp_path):
    pairs, vae = world["pairs"], world["space"].vae
    identity = {"vae": "a"}
    path = latent_cache.cache_file(tmp_path, identity)
    path.write_bytes(b"not an array")
    assert latent_cache.load(path, len(pairs)) is None and not path.exists()
    np.save(path, np.zeros((len(pairs) + 1, 8, 2, 2), np.float32))
    moments = latent_cache.cached_moments(pairs, vae, tmp_path, identity, 2, "cpu", progress=False)
    assert moments.shape[0] == len(pairs) and np.abs(moments).sum() > 0


def test_a_cached_latent_is_drawn_from_the_distribution_the_per_step_encoding_draws_from(world, tmp_path):
    pairs, space = world["pairs"], world["space"]
    path = latent_cache.build(pairs, space.vae, tmp_path / "m.npy", 2, "cpu", progress=False)
    cached = latent_cache.CachedImages(pairs, latent_cache.load(path, len(pairs)), space.scale)
    image, mask = pairs[0]
    posterior, stored_mask = cached[0]
    batches = [(posterior[None].repeat(1500, 1, 1, 1), stored_mask[None])]  # one image, drawn 1500 times
    ((drawn, _),) = latent_cache.drawn(latent_cache.posterior_noise(batches, space.state_shape(16, 16), seed=0))
    encoded = space.encode_image(image[None].repeat(1500, 1, 1, 1), generator=torch.Generator().manual_seed(1))
    assert torch.equal(stored_mask, mask) and drawn.shape == encoded.shape
    spread = encoded.std(0)
    assert ((drawn.mean(0) - encoded.mean(0)).abs() < 5 * spread / 1500 ** 0.5 + 1e-6).all()
    assert torch.allclose(drawn.std(0), spread, rtol=0.15)
    assert torch.equal(space.encode_image(drawn[:2]), drawn[:2])  # latents pass the encoder by


def test_random_training_crops_cannot_be_cached(world, tmp_path):
    coco_fixture(tmp_path)  # non-square COCO-Stuff images: a random crop per epoch
    pairs = cocostuff.dataset(tmp_path, "train", size=8, train=True)
    with pytest.raises(UsageError) as error:
        latent_cache.build(pairs, world["space"].vae, tmp_path / "m.npy", 2, "cpu", progress=False)
    assert "training crop is random" in str(error.value) and not (tmp_path / "m.npy").exists()


def argv(world, out, *extra):
    return ["--table", "5", "--profile", "paper", "--steps", "1", "--out", str(out), "--device", "cpu",
            "--no-progress", "--data-root", str(world["root"] / "data"), "--pretrained", str(world["sd"]), *extra]


def test_a_paper_run_with_cached_latents_trains_from_them_as_its_own_network(world, tmp_path, monkeypatch):
    paper = dataclasses.replace(SEGSYNTH["paper"], datasets=("CelebAMask-HQ",), resolution=16, eval_batch=2,
                                budget=dataclasses.replace(SEGSYNTH["paper"].budget, steps=2, batch_size=1,
                                                           warmup_steps=1, mixed_precision="no"),
                                latent={**SEGSYNTH["paper"].latent, "fid_samples": 0, "gpus": {"CelebAMask-HQ": 1}})
    from symmflow.models.latent import LatentSpace

    encoded = []
    original = LatentSpace.encode

    def counting(space, rgb, sample=True, generator=None, noise=None):
        encoded.append((torch.is_grad_enabled(), sample))
        return original(space, rgb, sample, generator, noise)

    monkeypatch.setattr(LatentSpace, "encode", counting)
    out = tmp_path / "out"
    assert run.main(argv(world, out, "--cache-latents"), tables_with("paper", paper)) == 0
    assert list((out / "latent_cache").glob("latents-*.npy"))
    trained = [p for p in (out / "checkpoints").glob("symmflow-*") if p.suffix != ".run"]
    assert len(trained) == 1 and "cached" in (trained[0] / "settings.json").read_text()
    during_training = [sample for grad, sample in encoded if grad]  # the training steps' encodings
    assert during_training and not any(during_training)  # masks by the mode; no image encoded in training


def test_cache_latents_without_a_latent_table_is_one_line(tmp_path, capsys):
    assert run.main(["--table", "2", "--profile", "cpu", "--out", str(tmp_path / "out"), "--cache-latents"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (err[-1].startswith("error: --cache-latents: none of the chosen tables runs in latent space")
            and len(err) == 1)


def test_the_study_times_both_ways_and_compares_their_losses(tmp_path, capsys):
    from studies import latent_cache as study

    assert study.main(["--out", str(tmp_path), "--scale", "tiny", "--size", "16", "--rounds", "2", "--warmup", "0",
                       "--draws", "6"]) == 0
    record = json.loads((tmp_path / "latent-cache.json").read_text())
    assert set(record["step_s"]) == {"per-step encoding", "cached"} and record["ratio_low"] <= record["ratio_median"]
    assert record["encode_images_s"] > 0 and len(record["loss_mean"]) == 2 and "standard errors" in \
        (tmp_path / "latent-cache.md").read_text()
    assert study.main(["--out", str(tmp_path), "--size", "12"]) == 2
    assert "--size 12: use a multiple of 8" in capsys.readouterr().err
