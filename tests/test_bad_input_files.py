"""What users' folders hold: 1-bit masks read as their ids, hidden files and folders ignored, an image
too large to decode refused, an edited config.json (or settings.json of the earlier layout) checked
field by field before inference, and messages that name files as paths."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from symmflow.cli import main
from tests.helpers import RUN, TINY, class_folders, earlier_layout, edit_config, png, seg_folders, trained_settings, use


def test_one_bit_masks_are_read_as_their_ids(tmp_path):
    from symmflow.data.segmentation import read_image

    ids = np.random.default_rng(0).integers(0, 2, (8, 8)).astype(bool)
    Image.fromarray(ids).save(tmp_path / "m.png")  # what Image.fromarray(bool array).save writes: mode "1"
    assert Image.open(tmp_path / "m.png").mode == "1"
    np.testing.assert_array_equal(read_image(tmp_path / "m.png", "ids"), ids.astype(np.int64))


def test_train_on_one_bit_masks(tmp_path, capsys):
    images, masks = seg_folders(tmp_path / "in")
    for mask in masks.iterdir():
        Image.fromarray(np.asarray(Image.open(mask)) > 1).save(mask)
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "m"), *TINY]) == 0
    assert trained_settings(tmp_path / "m")["classes"] == 2


def test_hidden_files_and_folders_are_ignored(tmp_path):
    """A thumbnail cache or a system file beside the data is not a class and not an image."""
    images = class_folders(tmp_path)
    png(images / ".thumbnails" / "0.png", np.zeros((16, 16, 3)))
    (images / ".DS_Store").write_bytes(b"\x00\x01")
    png(images / "class0" / "._0.png", np.zeros((16, 16, 3)))  # a resource fork named like an image
    assert main(["train", "--images", str(images), "--out", str(tmp_path / "m"), *TINY]) == 0
    assert trained_settings(tmp_path / "m")["class_names"] == ["class0", "class1"]


@pytest.mark.parametrize("command", ["segment", "classify", "train"])
def test_an_image_past_the_decompression_limit_is_refused_in_one_line(refused, tmp_path, seg_model, clf_model,
                                                                      monkeypatch, command):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # the 20 x 20 test images now count as too large
    if command == "train":
        images, masks = seg_folders(tmp_path / "in")
        argv = ["train", "--images", images, "--masks", masks, "--out", tmp_path / "m", *TINY]
    else:
        argv = [*use(command, seg_model, clf_model, tmp_path), *RUN]
    refused(argv, "too large to read safely (400 pixels")


def test_a_mask_of_another_size_is_named_by_its_paths(refused, tmp_path):
    images, masks = seg_folders(tmp_path / "in")
    png(masks / "1.png", np.zeros((10, 10)))
    err = refused(["train", "--images", images, "--masks", masks, "--out", tmp_path / "m", *TINY],
                  f"image {images / '1.png'} with mask {masks / '1.png'}: image is 20x20 but its mask is 10x10")
    assert "PosixPath" not in err and "(" not in err.split(":")[1]


def _edited(original, folder, layout: str, edit: dict):
    """A copy of the model folder ``original`` in ``layout``, its settings changed by ``edit``; its settings file."""
    if layout == "diffusers":
        shutil.copytree(original, folder)
        settings = trained_settings(folder)
    else:
        earlier_layout(original, folder)
        settings = json.loads((folder / "settings.json").read_text())
    if isinstance(edit.get("symmflow"), dict):
        edit = {"symmflow": {**settings["symmflow"], **edit["symmflow"]}}
    if layout == "diffusers":
        return edit_config(folder, edit)
    (folder / "settings.json").write_text(json.dumps({**settings, **edit}))
    return folder / "settings.json"


@pytest.mark.parametrize("model, edit, needle", [
    ("seg", {"size": 18}, "size 18 is not a multiple of 8"),
    ("seg", {"size": "16"}, "size '16' is not a multiple of 8"),
    ("seg", {"size": 0}, "size 0 is not a multiple of 8"),
    ("seg", {"classes": 0}, "classes 0 is not a number of classes"),
    ("seg", {"classes": 1000}, "classes 1000 is not a number of classes"),
    ("seg", {"base_channels": 40}, "base_channels 40 is not 1 to 32"),
    ("seg", {"base_channels": True}, "base_channels True is not 1 to 32"),
    ("seg", {"symmflow": {"image_weight": 2.0}}, "its symmflow settings are not valid"),
    ("seg", {"symmflow": {"colour": "red"}}, "its symmflow settings are not valid"),
    ("seg", {"symmflow": [1, 2]}, "is not a set of settings"),
    ("clf", {"class_names": ["a", "a"]}, "is not a list of two or more distinct names"),
    ("clf", {"class_names": "ab"}, "is not a list of two or more distinct names"),
])
@pytest.mark.parametrize("layout", ["diffusers", "earlier"])
def test_an_edited_settings_file_is_checked_field_by_field(refused, tmp_path, seg_model, clf_model, model, edit,
                                                           needle, layout):
    folder = tmp_path / "model"
    file = _edited(seg_model if model == "seg" else clf_model, folder, layout, edit)
    argv = [*use("segment" if model == "seg" else "classify", seg_model, clf_model, tmp_path), *RUN]
    argv[argv.index("--model") + 1] = folder
    err = refused(argv, needle)
    assert str(file) in err and "retrain" in err


@pytest.mark.parametrize("layout, needle", [
    ("diffusers", "do not load into the network its config.json describes"),
    ("earlier", "holds weights of another architecture"),
])
def test_settings_that_disagree_with_the_weights_are_refused(refused, tmp_path, seg_model, clf_model, layout, needle):
    folder = tmp_path / "model"
    base = trained_settings(seg_model)["base_channels"]
    _edited(seg_model, folder, layout, {"base_channels": 2 * base})
    argv = [*use("segment", seg_model, clf_model, tmp_path), *RUN]
    argv[argv.index("--model") + 1] = folder
    err = refused(argv, needle)
    assert str(folder) in err and "retrain" in err
