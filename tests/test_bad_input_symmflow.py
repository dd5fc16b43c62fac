"""The ``symmflow`` commands on the new surface: model folders of another task or codec, image
modes, class folders, links that lead nowhere, an output location that cannot take the outputs
(full, inside an input, claimed by another command) -- one ``error:`` line, exit 2, nothing
written, before any work; or the input accepted with the right result where it is legitimate."""

import json
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from symmflow import outputs
from symmflow.cli import main
from tests.helpers import RUN, TINY, class_folders, earlier_layout, edit_config, png, seg_folders, trained_settings, use

ROOT = Path(__file__).resolve().parent.parent


def accepted(bad_input_log, request, command: str, message: str) -> None:
    """The catalogue's row of an input that is legitimately accepted (or warned about)."""
    bad_input_log.append({"case": request.node.name, "command": command, "exit_status": 0, "message": message,
                          "nothing_written": False})


# ---------------------------------------------------------------- model folders


@pytest.mark.parametrize("command, model, needle", [
    ("segment", "clf", "is a classification model; use symmflow classify"),
    ("synthesise", "clf", "is a classification model; use symmflow sample"),
    ("classify", "seg", "is a segmentation model; use symmflow segment"),
    ("sample", "seg", "is a segmentation model; use symmflow synthesise"),
])
def test_a_model_folder_of_another_task_is_refused(refused, tmp_path, seg_model, clf_model, command, model, needle):
    argv = [*use(command, seg_model, clf_model, tmp_path), *RUN]
    argv[argv.index("--model") + 1] = clf_model if model == "clf" else seg_model
    refused(argv, needle)


@pytest.mark.parametrize("layout", ["diffusers", "earlier"])
@pytest.mark.parametrize("edit, needle", [
    ({"label_code": "jpeg"}, "its symmflow settings are not valid"),
    ({"label_code": 3}, "its symmflow settings are not valid"),
    ({"label_form": "sideways"}, "its symmflow settings are not valid"),
])
def test_a_settings_file_naming_an_unknown_codec_is_refused(refused, tmp_path, seg_model, clf_model, edit, needle,
                                                            layout):
    folder = tmp_path / "model"
    if layout == "diffusers":
        shutil.copytree(seg_model, folder)
        file = edit_config(folder, {"symmflow": {**trained_settings(folder)["symmflow"], **edit}})
    else:
        file = earlier_layout(seg_model, folder) / "settings.json"
        settings = json.loads(file.read_text())
        settings["symmflow"] = {**settings["symmflow"], **edit}
        file.write_text(json.dumps(settings))
    argv = [*use("synthesise", seg_model, clf_model, tmp_path), *RUN]
    argv[argv.index("--model") + 1] = folder
    assert str(file) in refused(argv, needle)


@pytest.mark.parametrize("file", ["diffusion_pytorch_model.safetensors", "config.json"])
def test_a_model_folder_given_as_a_file_is_refused(refused, tmp_path, seg_model, clf_model, file):
    argv = [*use("segment", seg_model, clf_model, tmp_path), *RUN]
    argv[argv.index("--model") + 1] = seg_model / file
    refused(argv, "is not a model folder")


def test_mask_ids_beyond_the_trained_classes_are_refused(refused, tmp_path, seg_model, clf_model):
    argv = [*use("synthesise", seg_model, clf_model, tmp_path), *RUN]
    masks = Path(argv[argv.index("--masks") + 1])
    png(masks / "1.png", np.full((20, 20), 9))  # the model knows 4 classes
    refused(argv, "1.png")


# ---------------------------------------------------------------- image modes, class folders


def image_of_mode(path: Path, mode: str) -> Path:
    rng = np.random.default_rng(3)
    if mode == "I;16":
        Image.fromarray(rng.integers(0, 65535, (20, 20), dtype=np.uint16)).save(path)
    else:
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).convert(mode).save(path)
    return path


@pytest.mark.parametrize("mode, suffix", [("RGBA", ".png"), ("LA", ".png"), ("CMYK", ".jpg"), ("I;16", ".png"),
                                          ("P", ".png"), ("1", ".png")])
def test_images_of_every_mode_are_segmented_and_classified_as_rgb(tmp_path, seg_model, clf_model, capsys, mode,
                                                                   suffix, bad_input_log, request):
    image = image_of_mode(tmp_path / f"x{suffix}", mode)
    with Image.open(image) as im:
        assert im.mode == mode
    assert main(["segment", "--model", str(seg_model), "--images", str(image), "--out", str(tmp_path / "o"),
                 *RUN]) == 0
    with Image.open(tmp_path / "o" / "x.png") as ids:
        assert ids.size == (20, 20) and np.asarray(ids).max() < 4
    capsys.readouterr()
    assert main(["classify", "--model", str(clf_model), "--images", str(image), *RUN]) == 0
    assert capsys.readouterr().out.splitlines()[1].split(",")[1] in ("class0", "class1")
    accepted(bad_input_log, request, f"symmflow segment / classify --images <a {mode} {suffix}>",
             "accepted: read as RGB, segmented at its own size, classified")


def test_a_16_bit_mask_is_read_as_its_ids(tmp_path, seg_model, capsys, bad_input_log, request):
    mask = tmp_path / "m" / "a.png"
    mask.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 4, (20, 20)).astype(np.uint16)).save(mask)
    with Image.open(mask) as im:
        assert im.mode.startswith("I")
    assert main(["synthesise", "--model", str(seg_model), "--masks", str(mask.parent), "--out", str(tmp_path / "o"),
                 *RUN]) == 0
    assert (tmp_path / "o" / "a.png").is_file()
    accepted(bad_input_log, request, "symmflow synthesise --masks <16-bit ids>", "accepted: its ids read as they are")


def test_one_image_per_class_and_non_ascii_class_names_train_and_classify(tmp_path, capsys, bad_input_log, request):
    data = tmp_path / "data"
    names = ["chat noir", "狗", "Ümlaut"]
    for k, name in enumerate(names):
        png(data / name / "only.png", np.full((16, 16, 3), 100 * k))
    model = tmp_path / "model"
    assert main(["train", "--images", str(data), "--out", str(model), *TINY]) == 0
    assert trained_settings(model)["class_names"] == sorted(names)
    capsys.readouterr()
    assert main(["classify", "--model", str(model), "--images", str(data / "狗"), *RUN]) == 0
    assert capsys.readouterr().out.splitlines()[1].split(",")[1] in names
    accepted(bad_input_log, request, "symmflow train --images <one image in each of 'chat noir', '狗', 'Ümlaut'>",
             "accepted: three classes named as their folders, kept in config.json and printed by classify")


# ---------------------------------------------------------------- links that cannot be followed


def dangling(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(path.parent / "gone-elsewhere.png")
    return path


def loop(path: Path) -> Path:
    other = path.with_name(f"{path.stem}-other{path.suffix}")
    path.symlink_to(other)
    other.symlink_to(path)
    return path


@pytest.mark.parametrize("where", ["a dangling image", "a looping image", "a dangling mask"])
def test_train_refuses_a_link_that_cannot_be_followed_among_its_images_and_masks(refused, tmp_path, where):
    images, masks = seg_folders(tmp_path / "in")
    if where == "a dangling image":
        broken = dangling(images / "9.png")
    elif where == "a looping image":
        broken = loop(images / "9.png")
    else:
        (masks / "3.png").unlink()
        broken = dangling(masks / "3.png")
    err = refused(["train", "--images", images, "--masks", masks, "--out", tmp_path / "m", *TINY],
                  "is a symbolic link that cannot be followed")
    assert str(broken.with_suffix("")) in err  # the link, or the other link of its loop


@pytest.mark.parametrize("where", ["an image in a class folder", "a class folder", "a looping class folder"])
def test_classification_training_refuses_a_link_that_cannot_be_followed(refused, tmp_path, where):
    data = class_folders(tmp_path)
    if where == "an image in a class folder":
        broken = dangling(data / "class1" / "7.png")
    elif where == "a class folder":
        broken = data / "class2"
        broken.symlink_to(tmp_path / "moved-away")
    else:
        broken = data / "class2"
        broken.symlink_to(data / "class3")
        (data / "class3").symlink_to(broken)
    err = refused(["train", "--images", data, "--out", tmp_path / "m", *TINY], "cannot be followed")
    assert str(broken) in err


@pytest.mark.parametrize("command", ["segment", "classify", "synthesise"])
def test_inference_refuses_a_link_that_cannot_be_followed(refused, tmp_path, seg_model, clf_model, command):
    argv = [*use(command, seg_model, clf_model, tmp_path), *RUN]
    option = "--masks" if command == "synthesise" else "--images"
    broken = loop(Path(argv[argv.index(option) + 1]) / "8.png")
    assert str(broken.with_suffix("")) in refused(argv, "cannot be followed")  # the link or its loop's other


def test_a_single_input_file_that_is_a_dangling_link_is_refused(refused, tmp_path, seg_model, clf_model):
    broken = dangling(tmp_path / "in" / "one.png")
    assert str(broken) in refused(["classify", "--model", clf_model, "--images", broken, *RUN], "cannot be followed")


# ---------------------------------------------------------------- the output location


COMMANDS = ("train", "segment", "synthesise", "sample")


def command_line(command, seg_model, clf_model, tmp_path):
    if command == "train":
        images, masks = seg_folders(tmp_path / "in")
        return ["train", "--images", images, "--masks", masks, "--out", tmp_path / "o", *TINY]
    return [*use(command, seg_model, clf_model, tmp_path), *RUN]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_disk_that_cannot_take_the_outputs_is_refused_before_any_work(refused, tmp_path, seg_model, clf_model,
                                                                        monkeypatch, command):
    argv = command_line(command, seg_model, clf_model, tmp_path)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(outputs.shutil, "disk_usage", lambda path: usage(10 ** 9, 10 ** 9 - 2 ** 19, 2 ** 19))
    refused(argv, "only 0 MiB free where --out")


@pytest.mark.parametrize("command", ["segment", "synthesise"])
def test_an_out_inside_an_input_folder_is_refused(refused, tmp_path, seg_model, clf_model, command):
    argv = command_line(command, seg_model, clf_model, tmp_path)
    option = "--masks" if command == "synthesise" else "--images"
    inputs = Path(argv[argv.index(option) + 1])
    argv[argv.index("--out") + 1] = inputs / "predicted"
    refused(argv, "lies inside the input folder")


def test_segmentation_training_into_its_own_image_folder_is_refused(refused, tmp_path):
    images, masks = seg_folders(tmp_path / "in")
    refused(["train", "--images", images, "--masks", masks, "--out", images / "model", *TINY],
            "lies inside the input folder")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_second_command_writing_the_same_out_at_once_is_refused(refused, tmp_path, seg_model, clf_model, command):
    argv = command_line(command, seg_model, clf_model, tmp_path)
    (tmp_path / ".o.writing").write_text(str(os.getppid()))  # a live process holds it: the first run, training
    err = refused(argv, "is being written by another symmflow command")
    assert f"process {os.getppid()}" in err


def test_a_claim_left_by_a_process_that_died_is_taken_over(tmp_path, seg_model, clf_model, capsys, bad_input_log,
                                                           request):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".o.writing").write_text(str(dead.pid))
    argv = command_line("segment", seg_model, clf_model, tmp_path)
    assert main([str(a) for a in argv]) == 0
    assert (tmp_path / "o").is_dir() and not (tmp_path / ".o.writing").exists()
    accepted(bad_input_log, request, "symmflow segment ... --out <a folder a dead process claimed>",
             "accepted: the stale claim taken over and removed")


def test_two_trainings_into_one_out_at_once_leave_one_model_and_one_line(tmp_path):
    """Two real processes: the one that starts second is refused in one line while the first trains."""
    images, masks = seg_folders(tmp_path / "in")
    argv = [sys.executable, "-m", "symmflow.cli", "train", "--images", str(images), "--masks", str(masks), "--out",
            str(tmp_path / "model"), "--size", "16", "--steps", "400", "--batch-size", "4", "--base-channels", "8",
            "--device", "cpu", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = ""
    while "train:" not in seen and first.poll() is None:
        seen += first.stderr.read(1)
    second = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    first.communicate(timeout=300)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2 and len(lines) == 1 and "is being written by another symmflow command" in lines[0]
    assert first.returncode == 0 and (tmp_path / "model" / "diffusion_pytorch_model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "model"]


def test_a_disk_that_fills_while_the_model_is_saved_is_one_line_and_nothing_is_left(tmp_path, monkeypatch, capsys,
                                                                                    bad_input_log, request):
    import safetensors.torch
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull })")

    monkeypatch.setattr(safetensors.torch, "save_file", full)  # what diffusers' save_pretrained writes with
    images, masks = seg_folders(tmp_path / "in")
    capsys.readouterr()
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "m"), *TINY]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "%|" not in line]  # bars
    assert len(err) == 1 and err[0].startswith("error: could not write") and "StorageFull" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    bad_input_log.append({"case": request.node.name, "command": "symmflow train ... (the disk fills while saving)",
                          "exit_status": 2, "message": err[0].replace(str(tmp_path), "<tmp>"),
                          "nothing_written": True})
