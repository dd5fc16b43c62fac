"""``precision`` of the Python API and ``--precision`` of ``symmflow segment | synthesise | classify |
sample | evaluate``: bf16 autocast of the network's evaluations where the device has native bf16,
fp32 by default and for ``auto`` elsewhere; bf16 where it is not native refused in one line before
the model is read or anything written."""

import json

import numpy as np
import pytest
import torch

import symmflow
from symmflow.cli import main
from symmflow.errors import UsageError
from tests.helpers import RUN, png, seg_folders
from tests.test_api import images, saved


@pytest.fixture(scope="module")
def seg(tmp_path_factory):
    return symmflow.load(saved(tmp_path_factory.mktemp("precision") / "seg"), device="cpu")


def masks_of(pictures):
    return [np.random.default_rng(i).integers(0, 4, p.shape[:2]) for i, p in enumerate(pictures)]


def test_bf16_evaluates_the_network_under_autocast(seg, native):
    pictures = images()
    fp32 = seg.synthesise(masks_of(pictures), steps=2)
    bf16 = seg.synthesise(masks_of(pictures), steps=2, precision="bf16")
    gaps = [float((a - b).abs().max()) for a, b in zip(fp32, bf16)]
    assert all(a.dtype == b.dtype == torch.float32 for a, b in zip(fp32, bf16))
    assert max(gaps) > 0  # the network ran at bf16 ...
    assert max(gaps) < 0.1  # ... and the images are the fp32 ones to bf16's rounding
    masks = seg.segment(pictures, steps=2, precision="bf16")
    assert [m.shape for m in masks] == [p.shape[:2] for p in pictures]


def test_fp32_is_the_default_and_auto_is_fp32_where_bf16_is_not_native(seg, not_native):
    pictures = images()
    fp32 = seg.segment(pictures, steps=2)
    assert all(torch.equal(a, b) for a, b in zip(fp32, seg.segment(pictures, steps=2, precision="auto")))
    assert all(torch.equal(a, b) for a, b in zip(fp32, seg.segment(pictures, steps=2, precision="fp32")))


@pytest.mark.parametrize("precision, expected", [("bf16", "has no native bf16"), ("fp16", "is not a precision")])
def test_the_api_refuses_bf16_where_it_is_not_native_and_an_unknown_precision(seg, not_native, precision, expected):
    with pytest.raises(UsageError, match=expected):
        seg.segment(images()[:1], steps=2, precision=precision)


@pytest.mark.parametrize("command", ["segment", "synthesise", "evaluate"])
def test_the_commands_refuse_bf16_where_it_is_not_native_before_anything(seg, not_native, tmp_path, capsys, command):
    pictures, masks = seg_folders(tmp_path / "in", n=2)
    given = {"segment": ["--images", str(pictures), "--out", str(tmp_path / "out")],
             "synthesise": ["--masks", str(masks), "--out", str(tmp_path / "out")],
             "evaluate": ["--images", str(pictures), "--masks", str(masks), "--out", str(tmp_path / "out.json")]}
    assert main([command, "--model", str(seg.folder), *given[command], "--precision", "bf16", *RUN]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --precision bf16:") and "--precision auto chooses fp32 here" in err
    assert "\n" not in err and not (tmp_path / "out").exists() and not (tmp_path / "out.json").exists()


def test_an_unknown_precision_is_one_line_with_the_choices(seg, tmp_path, capsys):
    assert main(["classify", "--model", str(seg.folder), "--images", str(tmp_path), "--precision", "fp16"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "fp32" in err and "auto" in err and "\n" not in err


def test_the_commands_at_bf16_write_what_the_api_gives_and_evaluate_records_it(seg, native, tmp_path, capsys):
    pictures = images()
    for i, picture in enumerate(pictures):
        png(tmp_path / "img" / f"{i}.png", picture)
    assert main(["segment", "--model", str(seg.folder), "--images", str(tmp_path / "img"),
                 "--out", str(tmp_path / "seg"), "--precision", "bf16", *RUN]) == 0
    from PIL import Image

    expected = seg.segment([np.asarray(Image.open(tmp_path / "img" / f"{i}.png")) for i in range(len(pictures))],
                           steps=2, precision="bf16")
    for i, mask in enumerate(expected):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "seg" / f"{i}.png")), mask.byte().numpy())
    images_folder, masks_folder = seg_folders(tmp_path / "labelled", n=3)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(seg.folder), "--images", str(images_folder), "--masks",
                 str(masks_folder), "--precision", "auto", *RUN]) == 0
    assert json.loads(capsys.readouterr().out)["precision"] == "bf16"
