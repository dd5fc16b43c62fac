"""``symmflow import-released``: the authors' released files -- tiny stand-ins in their layouts
(tests/test_released.py's) -- become model folders that ``classify``, ``sample``, ``segment`` and
``synthesise`` use, predicting what the tables' evaluation of the same file predicts for the same
input and seed; bad input is one line, exit 2, nothing written."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from benchmarks import released
from benchmarks.methods import Problem
from benchmarks.methods.symmflow import SymmFlowMethod
from benchmarks.profiles import CLASSIFICATION
from symmflow.cli import main as cli
from symmflow.codecs import CELEBAMASK_COLOURS
from symmflow.data import cocostuff
from symmflow.data.segmentation import read_image
from symmflow.images import to_uint8
from symmflow.method import AUTHORS
from tests.helpers import png
from tests.test_released import tiny_authors_unet
from tests.test_released import latent  # noqa: F401 -- the fixture: a tiny SD folder and a LatFM_celeba file

RUN = ["--steps", "2", "--device", "cpu"]


def main(argv) -> int:
    return cli([str(a) for a in argv])


# ---------------------------------------------------------------- pixel classifiers


@pytest.fixture
def pixel(tmp_path, monkeypatch):
    """The tiny fixture of the authors' U-Net as a released MNIST classifier (2 channels in and out),
    the paper profile's U-Net made that size, and a few bundled MNIST test digits as PNG files."""
    from symmflow.data.mnist import bundled_digits, stratified_split

    tiny, state = tiny_authors_unet()
    monkeypatch.setitem(CLASSIFICATION, "paper",
                        tuple(dataclasses.replace(s, unet=tiny) for s in CLASSIFICATION["paper"]))
    weights = tmp_path / "ema.pt"  # a name that says nothing: the shapes tell MNIST
    torch.save(state, weights)
    digits, labels = bundled_digits()
    picked = digits[stratified_split(labels)[1][:5]]  # the first test digits
    for i, digit in enumerate(picked):
        png(tmp_path / "digits" / f"d{i}.png", digit)
    return {"weights": weights, "unet": tiny, "digits": picked, "root": tmp_path}


def test_a_released_pixel_classifier_classifies_as_the_tables_do(pixel, tmp_path, capsys):
    from symmflow.data.mnist import to_tensor_images

    out = tmp_path / "mnist"
    assert main(["import-released", "--weights", pixel["weights"], "--out", out]) == 0
    settings = json.loads((out / "settings.json").read_text())
    assert settings["dataset"] == "MNIST" and settings["space"] == "pixel" and settings["channels"] == 1
    assert settings["symmflow"] == dataclasses.asdict(AUTHORS) and settings["image_fit"] == "resize"
    assert settings["class_names"] == [str(k) for k in range(10)] and settings["size"] == 32
    assert settings["released"]["sha256"] == released.identity(pixel["weights"])
    capsys.readouterr()
    assert main(["classify", "--model", out, "--images", tmp_path / "digits", "--device", "cpu", "--seed", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "file,class" and [line.split(",")[0] for line in lines[1:]] == [f"d{i}.png" for i in range(5)]
    # the tables' path: the same network of the paper profile, the file loaded, the digits resized to 32 px,
    # digit i's noise from its own seed (--seed + i)
    method = SymmFlowMethod(Problem("mnist-full", 1, 32, 10, pixel["unet"]), AUTHORS)
    model = released.load(method.build(), pixel["weights"], "SymmFlow on MNIST").eval()
    images = to_tensor_images(pixel["digits"], fit="resize")
    labels = [int(method.classify(model, images[i:i + 1], 1, "euler", torch.Generator().manual_seed(3 + i))[0])
              for i in range(len(images))]
    assert [line.split(",")[1] for line in lines[1:]] == [str(k) for k in labels]
    assert main(["sample", "--model", out, "--labels", "0,7", "--out", tmp_path / "samples", *RUN]) == 0
    assert read_image(tmp_path / "samples" / "0001_7.png").shape == (32, 32, 3)
    # --overwrite replaces a model folder with a new import
    assert main(["import-released", "--weights", pixel["weights"], "--dataset", "mnist", "--out", out,
                 "--overwrite"]) == 0


# ---------------------------------------------------------------- latent models


def write_pairs(root, classes, count=2, size=16, ignore=None):
    rng = np.random.default_rng(0)
    for i in range(count):
        png(root / "img" / f"{i}.png", rng.integers(0, 255, (size, size, 3)))
        mask = rng.integers(0, classes, (size, size))
        if ignore is not None:
            mask[:4] = ignore
        png(root / "msk" / f"{i}.png", mask)
    return root / "img", root / "msk"


def test_a_released_latent_model_segments_and_synthesises_as_the_tables_do(latent, tmp_path):  # noqa: F811
    from benchmarks.datasets import open_dataset
    from symmflow.models.latent import load_space
    from symmflow.user_files import load_mask, rgb_tensor

    out = tmp_path / "celeba"
    assert main(["import-released", "--weights", latent["weights"], "--pretrained", latent["sd"], "--size", "16",
                 "--out", out]) == 0
    settings = json.loads((out / "settings.json").read_text())
    assert settings["space"] == "latent" and settings["symmflow"]["beta"] == 10.0
    assert settings["symmflow"]["image_weight"] == 0.7 and settings["classes"] == 19
    assert settings["palette"]["colours"] == [list(c) for c in CELEBAMASK_COLOURS]
    assert settings["pretrained"]["path"] == str(latent["sd"].resolve()) and settings["vae"] is None
    assert sorted(p.name for p in out.iterdir()) == [".symmflow-output.json", "empty-prompt.safetensors",
                                                     "model.safetensors", "settings.json"]
    images, masks = write_pairs(tmp_path, 19)
    assert main(["segment", "--model", out, "--images", images, "--out", tmp_path / "seg", *RUN]) == 0
    assert main(["synthesise", "--model", out, "--masks", masks, "--out", tmp_path / "syn", *RUN]) == 0
    # the tables' path (benchmarks/experiments/segsynth.py): the data set's palette, the SD folder's
    # space, the method of the paper profile, the file loaded; image i's noise from its own seed (--seed + i)
    paper = latent["paper"]
    data = open_dataset("CelebAMask-HQ", paper, latent["root"] / "data", 0)
    space = load_space(latent["sd"], data.palette)
    problem = Problem("CelebAMask-HQ", 4, 16, data.num_classes, None, data.palette, data.ignore_index, space,
                      latent["sd"], tmp_path / "empty.safetensors")
    method = SymmFlowMethod(problem, paper.symmflow_for("CelebAMask-HQ"))
    model = released.load(method.build(), latent["weights"], "SymmFlow on CelebAMask-HQ").eval()
    for i in range(2):
        seg, syn = torch.Generator().manual_seed(i), torch.Generator().manual_seed(i)
        x = rgb_tensor(read_image(images / f"{i}.png"), 16)[None]
        expected = method.segment(model, x, 2, "euler", seg)[0]
        assert np.array_equal(read_image(tmp_path / "seg" / f"{i}.png", "L"), expected.numpy())
        mask = load_mask(masks / f"{i}.png", 19, 16)
        image = to_uint8(method.synthesise(model, mask, 2, "euler", syn)[0]).numpy()
        assert np.array_equal(read_image(tmp_path / "syn" / f"{i}.png"), image)


def test_a_released_coco_model_keeps_the_raw_id_colours_and_the_unlabelled_id(latent, tmp_path):  # noqa: F811
    coco = tmp_path / "LatFM_coco_beta6.0.pt"
    shutil.copy(latent["weights"], coco)  # the same shapes: the name tells the data set and beta
    out = tmp_path / "coco"
    assert main(["import-released", "--weights", coco, "--pretrained", latent["sd"], "--size", "16",
                 "--out", out]) == 0
    settings = json.loads((out / "settings.json").read_text())
    raw = cocostuff.palette(colours="raw-id")
    assert settings["palette"]["colours"] == raw.colours.int().tolist()
    assert settings["palette"]["chosen"] == {"colours": "raw-id"} and settings["palette"]["ignore_index"] == 255
    assert settings["palette"]["ignore_colour"] == [250, 250, 250] and settings["symmflow"]["beta"] == 6.0
    assert len(settings["class_names"]) == 171 and settings["class_names"][-1] == "wood"
    _, masks = write_pairs(tmp_path, 171, count=1, ignore=255)
    assert main(["synthesise", "--model", out, "--masks", masks, "--out", tmp_path / "syn", *RUN]) == 0
    assert (tmp_path / "syn" / "0.png").is_file()


# ---------------------------------------------------------------- bad input


def test_bad_released_files_are_one_line_and_nothing_is_written(pixel, latent, tmp_path, refused):  # noqa: F811
    junk = tmp_path / "junk.pt"
    torch.save({"layer.weight": torch.zeros(2, 2)}, junk)
    out = tmp_path / "o"
    refused(["import-released", "--weights", junk, "--out", out], "is not a released SymmFlow model")
    listed = tmp_path / "list.pt"
    torch.save([1, 2, 3], listed)
    refused(["import-released", "--weights", listed, "--out", out], "holds a list, not a state dict of tensors")
    refused(["import-released", "--weights", pixel["weights"], "--dataset", "CIFAR-10", "--out", out],
            "is a MNIST model (its tensor shapes fit the MNIST network), not a CIFAR-10 one")
    refused(["import-released", "--weights", latent["weights"], "--dataset", "COCO-Stuff", "--out", out,
             "--pretrained", latent["sd"]], "is a CelebAMask-HQ model (its name says so), not a COCO-Stuff one")
    refused(["import-released", "--weights", latent["weights"], "--out", out], "pass --pretrained SD_FOLDER")
    refused(["import-released", "--weights", pixel["weights"], "--pretrained", latent["sd"], "--out", out],
            "leave --pretrained out")
    refused(["import-released", "--weights", pixel["weights"], "--dataset", "ImageNet", "--out", out],
            "is not a data set of the authors' released models")
    out.mkdir()
    (out / "kept.txt").write_text("mine")
    refused(["import-released", "--weights", pixel["weights"], "--out", out], "already exists and is not empty")
    refused(["import-released", "--weights", pixel["weights"], "--out", out, "--overwrite"],
            "was not written by symmflow")
    assert (out / "kept.txt").read_text() == "mine"


@pytest.mark.parametrize("change, needle", [
    ("moved", "which is not there any more (moved or deleted?)"),
    ("edited", "whose content changed since the import"),
])
def test_a_latent_model_whose_sd_folder_moved_or_changed_is_refused(latent, tmp_path, refused, change,  # noqa: F811
                                                                    needle):
    sd = tmp_path / "sd"
    shutil.copytree(latent["sd"], sd)
    model = tmp_path / "celeba"
    assert main(["import-released", "--weights", latent["weights"], "--pretrained", sd, "--size", "16",
                 "--out", model]) == 0
    if change == "moved":
        sd.rename(tmp_path / "sd-elsewhere")
    else:
        config = sd / "unet" / "config.json"
        config.write_text(config.read_text().replace("{", '{"edited": 1, ', 1))
    images, _ = write_pairs(tmp_path / "in", 19, count=1)
    err = refused(["segment", "--model", model, "--images", images, "--out", tmp_path / "seg", *RUN], needle)
    assert str(sd) in err
