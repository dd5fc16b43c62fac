"""A folder that is not a model folder in diffusers' layout, holds another diffusers model or another
task, or whose weights do not fit its config: ``symmflow.load`` and ``SymmFlowModel.from_pretrained``
raise one :class:`~symmflow.errors.UsageError` naming the folder and the remedy; the commands turn it
into one ``error:`` line, exit 2, nothing written."""

import json
import pickle
import shutil
from pathlib import Path

import pytest

import symmflow
from tests.helpers import RUN, seg_folders
from tests.test_api import saved
from tests.test_bad_input_models import Boom


def _config(model: Path, **edit) -> None:
    config = json.loads((model / "config.json").read_text())
    config.update(edit)
    (model / "config.json").write_text(json.dumps({k: v for k, v in config.items() if v != "drop"}))


def _not_a_model(model: Path, tmp_path: Path) -> None:
    shutil.rmtree(model)
    model.mkdir()
    (model / "notes.txt").write_text("no model here")


def _another_diffusers_model(model: Path, tmp_path: Path) -> None:
    _config(model, _class_name="AutoencoderKL")


def _weights_of_another_width(model: Path, tmp_path: Path) -> None:
    _config(model, base_channels=16)


def _weights_of_another_size(model: Path, tmp_path: Path) -> None:
    _config(model, symmflow={**json.loads((model / "config.json").read_text())["symmflow"], "label_code": "per-class"})


def _weights_truncated(model: Path, tmp_path: Path) -> None:
    weights = model / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])


def _weights_a_pickle(model: Path, tmp_path: Path) -> None:
    (model / "diffusion_pytorch_model.safetensors").write_bytes(pickle.dumps({"w": Boom(tmp_path / "ran")}))


def _weights_missing(model: Path, tmp_path: Path) -> None:
    (model / "diffusion_pytorch_model.safetensors").unlink()


def _config_not_json(model: Path, tmp_path: Path) -> None:
    (model / "config.json").write_text('{"_class_name": "SymmFlowModel", ')


def _config_without_classes(model: Path, tmp_path: Path) -> None:
    _config(model, classes="drop")


def _config_of_no_task(model: Path, tmp_path: Path) -> None:
    _config(model, task="detection")


CASES = [
    (_not_a_model, "is not a model folder (no config.json or settings.json)", "symmflow train"),
    (_another_diffusers_model, "holds a diffusers AutoencoderKL folder, not a SymmFlow model", "retrain"),
    (_weights_of_another_width, "do not load into the network its config.json describes", "retrain"),
    (_weights_of_another_size, "do not load into the network its config.json describes", "retrain"),
    (_weights_truncated, "diffusion_pytorch_model.safetensors is damaged", "retrain"),
    (_weights_a_pickle, "diffusion_pytorch_model.safetensors is damaged", "retrain"),
    (_weights_missing, "no weights at", "retrain"),
    (_config_not_json, "config.json is damaged", "retrain"),
    (_config_without_classes, "config.json lacks the setting 'classes'", "retrain"),
    (_config_of_no_task, "config.json names no known task", "retrain"),
]


@pytest.mark.parametrize("damage, needle, remedy", CASES, ids=[c[0].__name__.strip("_") for c in CASES])
def test_a_bad_model_folder_is_one_usage_error_for_the_api_and_one_line_for_the_command(
        refused, tmp_path, damage, needle, remedy):
    model = saved(tmp_path / "model")
    damage(model, tmp_path)
    with pytest.raises(symmflow.UsageError) as raised:
        symmflow.load(model, device="cpu")
    message = str(raised.value)
    assert needle in message and str(model) in message and remedy in message and "\n" not in message
    if damage is not _not_a_model:  # diffusers' loader itself, checked the same way
        with pytest.raises(symmflow.UsageError, match="retrain"):
            symmflow.SymmFlowModel.from_pretrained(model)
    images, _ = seg_folders(tmp_path / "in")
    err = refused(["segment", "--model", model, "--images", images, "--out", tmp_path / "o", *RUN], needle)
    assert str(model) in err
    assert not (tmp_path / "ran").exists()  # no code in the file ran


def test_a_model_of_another_task_is_refused_with_the_call_that_fits(refused, tmp_path):
    model = saved(tmp_path / "clf", "classification")
    with pytest.raises(symmflow.UsageError, match="is a classification model; pass the folder of a segmentation"):
        symmflow.load(model, task="segmentation", device="cpu")
    loaded = symmflow.load(model, device="cpu")
    with pytest.raises(symmflow.UsageError, match="cannot segment; call classify or sample"):
        loaded.segment(Path(tmp_path / "x.png"))
    images, masks = seg_folders(tmp_path / "in")
    refused(["segment", "--model", model, "--images", images, "--out", tmp_path / "o", *RUN],
            "is a classification model; use symmflow classify")
    refused(["synthesise", "--model", model, "--masks", masks, "--out", tmp_path / "o", *RUN],
            "is a classification model; use symmflow sample")


def test_a_missing_folder_and_bad_arguments_are_one_usage_error(tmp_path):
    with pytest.raises(symmflow.UsageError, match="no such folder"):
        symmflow.SymmFlowModel.from_pretrained(tmp_path / "nowhere")
    seg = symmflow.load(saved(tmp_path / "seg"), device="cpu")
    for call, needle in [(lambda: seg.segment([], steps=2), "no inputs"),
                         (lambda: seg.segment(seg, steps=2), "is not an image"),
                         (lambda: seg.segment([[1, 2]], steps=2), "is not an image"),
                         (lambda: seg.segment(images_of(-2.0), steps=2), "floats in [-1, 1]"),
                         (lambda: seg.segment(images_of(0.0), steps=0), "steps 0: use a positive integer"),
                         (lambda: seg.segment(images_of(0.0), solver="rk4"), "unknown solver 'rk4'"),
                         (lambda: seg.segment(images_of(0.0), batch_size=0), "batch_size 0"),
                         (lambda: seg.segment(images_of(0.0), seed=-1), "seed -1"),
                         (lambda: seg.synthesise(images_of(0.0)[0].long() + 9), "mask id 9 is outside"),
                         (lambda: seg.synthesise(images_of(0.5)[0]), "class ids are integers")]:
        with pytest.raises(symmflow.UsageError, match=needle.replace("[", r"\[").replace("]", r"\]")):
            call()
    with pytest.raises(symmflow.UsageError, match="is a segmentation model, which cannot sample"):
        seg.sample([0])


def images_of(value: float):
    import torch

    return torch.full((3, 8, 8), value)
