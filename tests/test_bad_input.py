"""Bad input gets one ``error:`` line, exit status 2 and nothing written, before any long work.

The symmflow command in-process on tiny folders, the mIoU metric's ids and the harness's global
batch, parts of a run and per-data-set weights.
"""

import shutil

import numpy as np
import pytest
import torch

from symmflow.cli import build_parser
from tests.helpers import RUN, TINY, png, seg_folders, use


# ---------------------------------------------------------------- train: output folder and settings


def test_train_into_an_existing_model_is_refused_before_training(refused, tmp_path, seg_model):
    images, masks = seg_folders(tmp_path)
    model = tmp_path / "model"
    shutil.copytree(seg_model, model)
    err = refused(["train", "--images", images, "--masks", masks, "--out", model, *TINY], "already exists")
    assert "--overwrite" in err


@pytest.mark.parametrize("out, needle", [
    ("{tmp}/a-file", "is an existing file"),
    ("{tmp}/a-file/model", "cannot write the output folder"),
    ("/proc/x", "cannot write the output folder"),
])
def test_train_out_that_cannot_be_written(refused, tmp_path, out, needle):
    images, masks = seg_folders(tmp_path)
    (tmp_path / "a-file").write_text("")
    refused(["train", "--images", images, "--masks", masks, "--out", out.format(tmp=tmp_path), *TINY], needle)


@pytest.mark.parametrize("option, value", [
    ("--base-channels", "0"), ("--base-channels", "40"), ("--lr", "-1"), ("--lr", "nan"), ("--classes", "0"),
    ("--beta", "-5"), ("--steps", "0"), ("--batch-size", "0"), ("--size", "12"), ("--image-weight", "2"),
])
def test_train_bad_settings(refused, tmp_path, option, value):
    images, masks = seg_folders(tmp_path)
    err = refused(["train", "--images", images, "--masks", masks, "--out", tmp_path / "m", *TINY, option, value],
                  f"argument {option}: '{value}'")
    assert "(see symmflow train --help)" in err


def test_train_refuses_colour_masks(refused, tmp_path):
    images, masks = seg_folders(tmp_path)
    png(masks / "2.png", np.random.default_rng(1).integers(0, 255, (20, 20, 3)))  # an RGB colour mask
    refused(["train", "--images", images, "--masks", masks, "--out", tmp_path / "m", *TINY],
            "masks must be single-channel class-id PNGs")


def test_grey_masks_stored_as_rgb_are_read_as_ids(tmp_path):
    from symmflow.data.segmentation import read_image

    ids = np.random.default_rng(0).integers(0, 5, (6, 6))
    path = png(tmp_path / "m.png", np.repeat(ids[..., None], 3, axis=2))
    np.testing.assert_array_equal(read_image(path, "ids"), ids)


def test_train_refuses_empty_class_folders(refused, tmp_path):
    png(tmp_path / "data" / "cat" / "0.png", np.zeros((16, 16, 3)))
    (tmp_path / "data" / "dog").mkdir()
    (tmp_path / "data" / "dog" / "notes.txt").write_text("no images here")
    refused(["train", "--images", tmp_path / "data", "--out", tmp_path / "m", *TINY], "holds no images")
    shutil.rmtree(tmp_path / "data" / "cat")
    (tmp_path / "data" / "cat").mkdir()  # class folders, none with images
    refused(["train", "--images", tmp_path / "data", "--out", tmp_path / "m", *TINY], "holds no images")


# ---------------------------------------------------------------- segment / synthesise / classify / sample


@pytest.mark.parametrize("command", ["segment", "synthesise", "classify", "sample"])
@pytest.mark.parametrize("option, value, needle", [
    ("--steps", "0", " positive integer"), ("--steps", "-1", " positive integer"),
    ("--seed", "-1", "n integer from 0 to 2^63 - 1"), ("--seed", str(2 ** 64), "n integer from 0 to 2^63 - 1"),
])
def test_bad_steps_and_seed(refused, tmp_path, seg_model, clf_model, command, option, value, needle):
    argv = use(command, seg_model, clf_model, tmp_path)
    refused([*argv, "--device", "cpu", option, value], f"argument {option}: '{value}': use a{needle}")


@pytest.mark.parametrize("command", ["segment", "synthesise", "sample"])
def test_out_an_existing_file(refused, tmp_path, seg_model, clf_model, command):
    argv = use(command, seg_model, clf_model, tmp_path)
    (tmp_path / "o").write_text("a file")
    refused([*argv, *RUN], "is an existing file")


@pytest.mark.parametrize("command", ["segment", "synthesise", "sample"])
def test_out_a_non_empty_folder_needs_overwrite(refused, tmp_path, seg_model, clf_model, command, capsys):
    argv = use(command, seg_model, clf_model, tmp_path)
    png(tmp_path / "o" / "old.png", np.zeros((4, 4)))
    refused([*argv, *RUN], "--overwrite")


@pytest.mark.parametrize("command, option", [("segment", "--images"), ("synthesise", "--masks"),
                                             ("classify", "--images")])
def test_empty_input_folder(refused, tmp_path, seg_model, clf_model, command, option):
    argv = use(command, seg_model, clf_model, tmp_path)
    (tmp_path / "empty").mkdir()
    argv[argv.index(option) + 1] = tmp_path / "empty"
    refused([*argv, *RUN], "holds no images")


def test_out_may_not_replace_an_input(refused, tmp_path, seg_model, clf_model):
    argv = use("segment", seg_model, clf_model, tmp_path)
    argv[argv.index("--out") + 1] = argv[argv.index("--images") + 1]
    refused([*argv, *RUN, "--overwrite"], "would replace the input")


@pytest.mark.parametrize("command", ["segment", "classify"])
def test_a_truncated_image_is_found_before_anything_is_written(refused, tmp_path, seg_model, clf_model, command):
    argv = use(command, seg_model, clf_model, tmp_path)
    fourth = tmp_path / "in" / "img" / "3.png"
    fourth.write_bytes(fourth.read_bytes()[:200])
    refused([*argv, *RUN], "3.png: not a readable image")


def test_synthesise_refuses_a_colour_mask(refused, tmp_path, seg_model, clf_model):
    argv = use("synthesise", seg_model, clf_model, tmp_path)
    png(tmp_path / "in" / "msk" / "3.png", np.random.default_rng(1).integers(0, 255, (20, 20, 3)))
    refused([*argv, *RUN], "masks must be single-channel class-id PNGs")


def test_every_option_shows_its_default():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if action.required or action.dest == "help":
                continue
            assert "default" in formatter._expand_help(action), (name, action.dest)


# ---------------------------------------------------------------- mIoU ids


def test_miou_refuses_ids_that_are_neither_a_class_nor_ignored():
    from symmflow.metrics import miou

    with pytest.raises(ValueError, match="predicted id 19 is neither a class"):
        miou(torch.tensor([[19, 1, 3]]), torch.tensor([[1, 1, 3]]), 19, ignore_index=0)
    with pytest.raises(ValueError, match="target id 25 is neither a class"):
        miou(torch.tensor([[1, 1, 3]]), torch.tensor([[1, 25, 3]]), 19, ignore_index=0)
    with pytest.raises(ValueError, match="predicted id -1"):
        miou(torch.tensor([[-1, 1]]), torch.tensor([[1, 1]]), 2, ignore_index=None)
    # the ignore id itself is fine in both (a palette codec decodes COCO-Stuff's unlabelled to 255)
    assert miou(torch.tensor([[255, 1]]), torch.tensor([[255, 1]]), 2, ignore_index=255) == pytest.approx(1.0)


# ---------------------------------------------------------------- harness: the global batch on this launch


@pytest.mark.parametrize("processes, extra, needle", [
    (7, [], "the global batch of 2000 (table 1, two-spirals, smoke profile) does not divide among 7 processes"),
    (1, ["--batch-size-per-device", "0"], "--batch-size-per-device 0: use a positive number of samples"),
    (1, ["--batch-size-per-device", "-8"], "--batch-size-per-device -8: use a positive number of samples"),
    (1, ["--gradient-accumulation-steps", "0"], "--gradient-accumulation-steps 0: use a positive number"),
    (2, ["--gradient-accumulation-steps", "3"], "does not divide into --gradient-accumulation-steps 3"),
    (2, ["--gradient-accumulation-steps", "2", "--batch-size-per-device", "10"], "leaves 500 samples per device"),
])
def test_a_global_batch_this_launch_cannot_split_is_refused_before_any_network(refused, tmp_path, monkeypatch,
                                                                               processes, extra, needle):
    monkeypatch.setenv("WORLD_SIZE", str(processes))  # as a launcher of that many processes sets it
    monkeypatch.setenv("RANK", "0")
    refused(["--table", "1", "--profile", "smoke", "--out", tmp_path / "out", *extra], needle,
            command="benchmarks.run")


# ---------------------------------------------------------------- harness: a part of a run, per-data-set weights


def guided_mnist_file(path):
    """The authors' U-Net fixture (MNIST shapes: 2 channels in and out) as a released ``.pt``."""
    from safetensors import safe_open

    from tests.test_guided_unet import FIXTURES

    with safe_open(str(FIXTURES / "guided_unet_tiny.safetensors"), "pt") as f:
        torch.save({k.removeprefix("weight."): f.get_tensor(k) for k in f.keys() if k.startswith("weight.")}, path)
    return path


@pytest.mark.parametrize("extra, needle", [
    (["--datasets", "cifar10"], "--datasets 'cifar10': the chosen tables have no data set 'cifar10'; choose from"),
    (["--datasets", ","], "--datasets ',': give a comma-separated list"),
    (["--methods", "semflow"], "--methods 'semflow': the chosen tables have no method 'semflow'; choose from"),
    (["--datasets", "released"], "--datasets released: no --weights given"),
    (["--weights", "symmflow@CIFAR-10={file}"], "the chosen tables have no data set 'CIFAR-10'"),
    (["--weights", "symmflow={file}"], "fits no symmflow network of the chosen tables in the smoke profile"),
    (["--weights", "symmflow@mnist={file}"], "does not fit the symmflow network of MNIST (bundled 4k/1k)"),
    (["--weights", "symmflow@mnist={file}", "--weights", "symmflow@mnist={file}"], "names symmflow@mnist twice"),
    (["--weights", "symmflow={coco}"], "is a COCO-Stuff model (its name says so)"),
])
def test_a_part_or_a_released_file_the_tables_do_not_have_is_refused_before_any_network(refused, tmp_path, extra,
                                                                                       needle):
    file = guided_mnist_file(tmp_path / "mnist_ema.pt")  # the paper's MNIST U-Net, not the smoke profile's
    coco = tmp_path / "LatFM_coco_beta6.0.pt"
    torch.save({"unet.conv_in.weight": torch.zeros(1)}, coco)
    extra = [e.format(file=file, coco=coco) for e in extra]
    refused(["--table", "3", "--profile", "smoke", "--out", tmp_path / "out", *extra], needle,
            command="benchmarks.run")
