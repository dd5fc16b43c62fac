"""The Python API (``symmflow.load`` -> segment, classify, synthesise, sample) on tiny model folders in
diffusers' layout: the folder and its model card, batches equal to one image at a time, images of
any shape at their own size, every input form, the earlier layout loading and converted."""

import json
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest
import torch
from PIL import Image

import symmflow
from symmflow.letterbox import box_of, fit, unfit
from tests.helpers import RUN, png


def settings_of(task: str) -> dict:
    from symmflow.model_folder import symmflow_of

    settings = {"task": task, "size": 16, "base_channels": 8, "seed": 3, "steps": 2, "lr": 5e-4,
                "validation": {"metric": "mIoU", "value": 0.5, "step": 2}, "symmflow": {"beta": 10.0}}
    settings.update({"classes": 4} if task == "segmentation" else {"class_names": ["cat", "dog", "eel"]})
    settings["symmflow"] = asdict(symmflow_of(settings).settings)
    return settings


def saved(folder, task: str = "segmentation", layout: str = "diffusers"):
    """A model folder of an untrained tiny network (seeded), in diffusers' layout or the earlier one."""
    from symmflow.checkpoint import save_weights
    from symmflow.model_folder import pixel_network

    torch.manual_seed(0)
    settings = settings_of(task)
    network = pixel_network(settings)
    (symmflow.save_model if layout == "diffusers" else save_weights)(network, folder, settings)
    return folder


@pytest.fixture(scope="module")
def seg(tmp_path_factory):
    return symmflow.load(saved(tmp_path_factory.mktemp("api") / "seg"), device="cpu")


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    return symmflow.load(saved(tmp_path_factory.mktemp("api") / "clf", "classification"), device="cpu")


def images(shapes=((20, 20), (13, 31), (40, 9), (16, 16), (7, 7))):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]


def test_a_model_folder_is_diffusers_config_weights_and_a_model_card(tmp_path):
    from huggingface_hub import ModelCard

    folder = saved(tmp_path / "m")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "diffusion_pytorch_model.safetensors", "README.md"}
    config = json.loads((folder / "config.json").read_text())
    assert config["_class_name"] == "SymmFlowModel" and config["classes"] == 4 and config["training"]["seed"] == 3
    network = symmflow.SymmFlowModel.from_pretrained(folder)  # diffusers' own loader
    assert network.velocity.unet.__class__.__name__ == "UNet2DModel" and network.settings["classes"] == 4
    card = ModelCard.load(folder / "README.md").data.to_dict()
    assert card["library_name"] == "diffusers" and card["pipeline_tag"] == "image-segmentation"
    meta = card["symmflow"]
    assert meta["task"] == "segmentation" and meta["classes"] == [0, 1, 2, 3] and meta["seed"] == 3
    assert meta["validation"] == {"metric": "mIoU", "value": 0.5, "step": 2} and meta["training"]["steps"] == 2
    assert meta["code_version"].startswith(symmflow.__version__)
    assert "Held-out mIoU: 0.5 at step 2" in (folder / "README.md").read_text()


def test_batches_give_what_one_image_at_a_time_gives(seg, clf):
    pictures = images()
    masks = seg.segment(pictures, steps=2, batch_size=3)
    alone = seg.segment(pictures, steps=2, batch_size=1)
    assert all(torch.equal(a, b) for a, b in zip(masks, alone))
    assert len(torch.cat([m.flatten() for m in masks]).unique()) > 1  # not a constant answer
    synthesised, single = seg.synthesise(masks, steps=2, batch_size=4), seg.synthesise(masks, steps=2, batch_size=1)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(synthesised, single))  # float rounding of batching
    labels = clf.classify(pictures, steps=2, batch_size=4)
    assert torch.equal(labels, clf.classify(pictures, steps=2, batch_size=1)) and labels.shape == (5,)
    drawn = clf.sample([0, 2, "dog"], steps=2, batch_size=2)
    assert drawn.shape == (3, 3, 16, 16) and torch.allclose(drawn, clf.sample([0, 2, 1], steps=2, batch_size=1),
                                                             atol=1e-5)
    # the seed or a generator decides the noise
    assert not torch.allclose(seg.synthesise(masks[0], steps=2, seed=1), synthesised[0])
    a, b = (seg.synthesise(masks[:2], steps=2, generator=torch.Generator().manual_seed(7)) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_an_image_of_any_shape_gets_its_mask_and_its_synthesis_at_its_own_size(seg):
    pictures = images()
    masks = seg.segment(pictures, steps=2)
    assert [tuple(m.shape) for m in masks] == [p.shape[:2] for p in pictures] and masks[0].dtype == torch.long
    assert [tuple(x.shape) for x in seg.synthesise(masks, steps=2)] == [(3, *p.shape[:2]) for p in pictures]
    assert box_of(13, 31, 16) == (4, 0, 7, 16, 13, 31) and box_of(40, 9, 16) == (0, 6, 16, 4, 40, 9)
    ramp = torch.linspace(-1, 1, 30).expand(3, 12, 30)  # a smooth image survives the square and back
    square, box = fit(ramp, 16)
    assert square.shape == (3, 16, 16) and torch.equal(square[:, 0], square[:, box.top])  # edge repeated
    assert unfit(square, box).shape == (3, 12, 30) and (unfit(square, box) - ramp).abs().max() < 0.1


def test_every_image_form_gives_the_same_masks(seg):
    picture = images([(12, 20)])[0]
    forms = [picture, Image.fromarray(picture), picture.astype(np.float32) / 255,
             torch.from_numpy(picture).permute(2, 0, 1), torch.from_numpy(picture).permute(2, 0, 1) / 127.5 - 1]
    masks = [seg.segment(form, steps=2) for form in forms]
    assert all(torch.equal(m, masks[0]) for m in masks) and masks[0].shape == (12, 20)
    batch = torch.stack([forms[-1]] * 2)
    assert seg.segment(batch, steps=2).shape == (2, 12, 20)  # a batch tensor in, a batch tensor out


def test_solvers_of_the_solver_module_run(seg):
    picture = images([(16, 16)])
    for solver in ("euler", "midpoint", "heun", "dopri5:1e-2"):
        assert seg.segment(picture, steps=2, solver=solver)[0].shape == (16, 16)


def test_a_folder_of_the_earlier_layout_loads_and_converts(tmp_path, seg):
    legacy = saved(tmp_path / "legacy", layout="settings.json")
    assert (legacy / "settings.json").is_file() and not (legacy / "config.json").exists()
    model = symmflow.load(legacy, device="cpu")
    pictures = images()
    expected = seg.segment(pictures, steps=2)  # the same seeded network, in diffusers' layout
    assert all(torch.equal(a, b) for a, b in zip(model.segment(pictures, steps=2), expected))
    converted = symmflow.load(model.save(tmp_path / "converted"), device="cpu")
    assert (tmp_path / "converted" / "config.json").is_file() and converted.settings["seed"] == 3
    assert all(torch.equal(a, b) for a, b in zip(converted.segment(pictures, steps=2), expected))


def test_the_commands_batch_size_does_not_change_the_files(tmp_path, seg):
    from symmflow.cli import main

    for i, picture in enumerate(images()):
        png(tmp_path / "img" / f"{i}.png", picture)
        png(tmp_path / "msk" / f"{i}.png", np.random.default_rng(i).integers(0, 4, picture.shape[:2]))
    for size in ("1", "4"):
        assert main(["segment", "--model", str(seg.folder), "--images", str(tmp_path / "img"),
                     "--out", str(tmp_path / f"seg{size}"), "--batch-size", size, *RUN]) == 0
        assert main(["synthesise", "--model", str(seg.folder), "--masks", str(tmp_path / "msk"),
                     "--out", str(tmp_path / f"syn{size}"), "--batch-size", size, "--solver", "heun", *RUN]) == 0
    for i, picture in enumerate(images()):
        one, four = (np.asarray(Image.open(tmp_path / f"seg{s}" / f"{i}.png")) for s in ("1", "4"))
        assert one.shape == picture.shape[:2] and np.array_equal(one, four)
        one, four = (np.asarray(Image.open(tmp_path / f"syn{s}" / f"{i}.png")).astype(int) for s in ("1", "4"))
        assert one.shape == picture.shape and np.abs(one - four).max() <= 1  # 8-bit rounding of float noise


def test_import_symmflow_loads_nothing_heavy():
    code = "import sys, symmflow; assert 'torch' not in sys.modules; print(sorted(symmflow.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "load" in out and "SymmFlowModel" in out
