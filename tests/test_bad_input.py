"""Bad input gets one ``error:`` line, exit status 2 and nothing written, before any long work.

The symmflow command in-process on tiny folders, damaged model folders (command and harness),
file permissions, the mIoU metric's ids and the harness's skipped cells.
"""

import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.tables.base import Table
from symmflow.cli import build_parser, main
from tests.helpers import RUN, TINY, png, seg_folders, tree, use


# ---------------------------------------------------------------- train: output folder and settings


def test_train_into_an_existing_model_is_refused_before_training(refused, tmp_path, seg_model):
    images, masks = seg_folders(tmp_path)
    model = tmp_path / "model"
    shutil.copytree(seg_model, model)
    err = refused(["train", "--images", images, "--masks", masks, "--out", model, *TINY], "already exists")
    assert "--overwrite" in err


def test_train_overwrite_replaces_the_model_folder(tmp_path, capsys, seg_model):
    images, masks = seg_folders(tmp_path)
    model = tmp_path / "model"
    shutil.copytree(seg_model, model)
    (model / "stale.txt").write_text("old")
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(model), "--overwrite",
                 *TINY]) == 0
    assert sorted(p.name for p in model.iterdir()) == [".symmflow-output.json", "README.md", "config.json",
                                                        "diffusion_pytorch_model.safetensors", "train_stats.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


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


def test_overwrite_replaces_outputs_whole(tmp_path, seg_model, clf_model, capsys):
    argv = [str(a) for a in use("segment", seg_model, clf_model, tmp_path)]
    assert main([*argv, *RUN]) == 0  # a segmentation output of an earlier run
    png(tmp_path / "o" / "old.png", np.zeros((4, 4)))
    assert main([*argv, *RUN, "--overwrite"]) == 0
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == sorted([f"{i}.png" for i in range(4)] + [f"{i}_colour.png" for i in range(4)]
                           + [".symmflow-output.json"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert "segment: 100%" in capsys.readouterr().err  # the progress bar, on stderr


@pytest.mark.parametrize("command", ["synthesise", "sample"])
def test_a_failure_while_writing_leaves_the_old_output(tmp_path, seg_model, clf_model, command, monkeypatch,
                                                      capsys):
    import symmflow.user_files

    argv = [str(a) for a in use(command, seg_model, clf_model, tmp_path)]
    assert main([*argv, *RUN]) == 0  # the output of an earlier run, which --overwrite may replace
    png(tmp_path / "o" / "old.png", np.zeros((4, 4)))
    before = tree(tmp_path / "o")
    saved = []

    def save_then_fail(x, path):
        if saved:
            raise OSError(28, "No space left on device", str(path))
        saved.append(path)
        Image.new("RGB", (2, 2)).save(path)

    monkeypatch.setattr(symmflow.user_files, "save_rgb", save_then_fail)  # the commands write through it
    capsys.readouterr()
    assert main([*argv, *RUN, "--overwrite"]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if "image/s]" not in line and "s/image]" not in line]  # progress bars, fast or slow
    assert len(err) == 1 and "No space left on device" in err[0] and str(tmp_path) in err[0]
    assert saved and tree(tmp_path / "o") == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_staged_folder_is_all_or_nothing(tmp_path):
    from symmflow.outputs import staged_folder

    (tmp_path / "empty").mkdir()
    with staged_folder(tmp_path / "empty") as staged:  # an empty folder needs no --overwrite
        (staged / "a.txt").write_text("a")
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == [".symmflow-output.json", "a.txt"]
    with pytest.raises(RuntimeError), staged_folder(tmp_path / "new") as staged:
        (staged / "half.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_every_option_shows_its_default():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if action.required or action.dest == "help":
                continue
            assert "default" in formatter._expand_help(action), (name, action.dest)


# ---------------------------------------------------------------- permissions from the umask


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_saved_weights_and_atomic_files_follow_the_umask(tmp_path, umask_022, seg_model):
    import symmflow
    from symmflow.outputs import write_atomic
    from symmflow.checkpoint import save_weights

    save_weights(torch.nn.Linear(2, 2), tmp_path / "model", {"a": 1})
    assert _mode(tmp_path / "model") == 0o755
    assert _mode(tmp_path / "model" / "model.safetensors") == 0o644
    assert _mode(tmp_path / "model" / "settings.json") == 0o644
    symmflow.load(seg_model, device="cpu").save(tmp_path / "saved")  # diffusers' layout (symmflow.save_model)
    assert _mode(tmp_path / "saved") == 0o755
    assert {p.name: _mode(p) for p in (tmp_path / "saved").iterdir() if not p.name.startswith(".")} == {
        "README.md": 0o644, "config.json": 0o644, "diffusion_pytorch_model.safetensors": 0o644,
        "train_stats.json": 0o644}
    write_atomic(tmp_path / "cell.json", "{}")
    assert _mode(tmp_path / "cell.json") == 0o644


def test_command_outputs_follow_the_umask(tmp_path, seg_model, clf_model, umask_022, capsys):
    argv = [str(a) for a in use("sample", seg_model, clf_model, tmp_path)]
    assert main([*argv, *RUN]) == 0
    assert _mode(tmp_path / "o") == 0o755 and _mode(tmp_path / "o" / "0000_class0.png") == 0o644


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


# ---------------------------------------------------------------- harness: skipped cells are retried


class DataTable(Table):
    """A stand-in table whose cells are skipped until ``data`` is true."""

    def __init__(self):
        from benchmarks.cells import PlotSpec

        self.name, self.title, self.plot = "1", "stand-in", PlotSpec(metrics=("accuracy",))
        self.data, self.computed = False, []

    def cells(self, options):
        from benchmarks.cells import Cell

        return [Cell.make("1", "two-spirals", "classification", "SymmFlow", s, "accuracy",
                          profile=options.profile, seed=options.seed) for s in (1, 2)]

    def needs(self, options):
        return ["data"]

    def compute(self, todo, options, finish, experiments):
        for cell in todo:
            if not self.data:
                finish(cell, {"status": "skipped", "reason": "data missing"})
                continue
            self.computed.append(cell.steps)
            finish(cell, {"value": 10.0 * cell.steps, "nfe_per_sample": cell.steps, "wall_s": 0.5, "samples": 1})


def test_skipped_cells_are_retried_on_every_run(tmp_path, capsys):
    import pandas as pd

    from benchmarks import run

    spec = DataTable()
    args = ["--table", "1", "--out", str(tmp_path), "--no-progress"]
    assert run.main(args, {"1": spec}) == 0 and spec.computed == []
    capsys.readouterr()
    assert run.main(args + ["--dry-run"], {"1": spec}) == 0
    out = capsys.readouterr().out
    assert out.count("skipped earlier: data missing; will retry") == 2 and ": stored" not in out  # retried, not kept
    spec.data = True  # the data appear
    assert run.main(args, {"1": spec}) == 0 and spec.computed == [1, 2]
    assert "2 to compute" in capsys.readouterr().err
    assert list(pd.read_csv(tmp_path / "table1.csv")["value"]) == [10.0, 20.0]
    assert run.main(args, {"1": spec}) == 0 and spec.computed == [1, 2]  # now finished: nothing recomputed


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
