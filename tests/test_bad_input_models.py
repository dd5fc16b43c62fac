"""A damaged model folder -- truncated weights, a pickle where safetensors belong, a config or settings
file that is not JSON or lacks what the network needs -- is one line and exit 2 for the command (no
code in the file runs), in diffusers' layout and the earlier one, and is moved aside and retrained
by the harness's model cache."""

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from tests.helpers import RUN, earlier_layout, edit_config, seg_folders


class Boom:
    """Unpickling this creates the file ``marker``: a renamed pickle must never be unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _weights(model: Path) -> Path:
    """The weights file of a model folder: diffusers' layout, or the earlier one (the harness's cache)."""
    return model / ("diffusion_pytorch_model.safetensors" if (model / "config.json").exists() else "model.safetensors")


def _settings(model: Path) -> Path:
    return model / ("config.json" if (model / "config.json").exists() else "settings.json")


def _break_weights_truncated(model: Path, tmp_path: Path) -> None:
    data = _weights(model).read_bytes()
    _weights(model).write_bytes(data[: len(data) // 2])


def _break_weights_pickle(model: Path, tmp_path: Path) -> None:
    _weights(model).write_bytes(pickle.dumps({"weight": Boom(tmp_path / "ran")}))


def _break_weights_torch_save(model: Path, tmp_path: Path) -> None:
    torch.save({"weight": Boom(tmp_path / "ran")}, _weights(model))


def _break_settings_json(model: Path, tmp_path: Path) -> None:
    _settings(model).write_text('{"task": "segmentation", ')


def _break_settings_binary(model: Path, tmp_path: Path) -> None:
    _settings(model).write_bytes(b"\xff\xfe\x00garbage")


def _break_settings_list(model: Path, tmp_path: Path) -> None:
    _settings(model).write_text("[1, 2]")


def _drop(key):
    def drop(model: Path, tmp_path: Path) -> None:
        if _settings(model).name == "config.json":
            edit_config(model, drop=(key,))
            return
        settings = json.loads((model / "settings.json").read_text())
        del settings[key]
        (model / "settings.json").write_text(json.dumps(settings))
    return drop


@pytest.mark.parametrize("layout", ["diffusers", "earlier"])
@pytest.mark.parametrize("damage, files, needle", [
    (_break_weights_truncated, ("diffusion_pytorch_model.safetensors", "model.safetensors"), "is damaged"),
    (_break_weights_pickle, ("diffusion_pytorch_model.safetensors", "model.safetensors"), "is damaged"),
    (_break_weights_torch_save, ("diffusion_pytorch_model.safetensors", "model.safetensors"), "is damaged"),
    (_break_settings_json, ("config.json", "settings.json"), "is damaged"),
    (_break_settings_binary, ("config.json", "settings.json"), "is damaged"),
    (_break_settings_list, ("config.json", "settings.json"), "is damaged"),
    (_drop("classes"), ("config.json", "settings.json"), "lacks the setting 'classes'"),
    (_drop("size"), ("config.json", "settings.json"), "lacks the setting 'size'"),
    (_drop("symmflow"), ("config.json", "settings.json"), "lacks the setting 'symmflow'"),
    (_drop("task"), ("config.json", "settings.json"), "names no known task"),
])
def test_segment_with_a_damaged_model_folder(refused, tmp_path, seg_model, damage, files, needle, layout):
    model = tmp_path / "model"
    if layout == "diffusers":
        shutil.copytree(seg_model, model)
    else:
        earlier_layout(seg_model, model)
    damage(model, tmp_path)
    seg_folders(tmp_path / "in")
    err = refused(["segment", "--model", model, "--images", tmp_path / "in" / "img", "--out", tmp_path / "o", *RUN],
                  needle)
    assert str(model / files[layout != "diffusers"]) in err and ("retrain" in err)
    assert not (tmp_path / "ran").exists()  # no code in the file ran


@pytest.mark.parametrize("damage", [_break_weights_truncated, _break_weights_pickle, _break_settings_json,
                                    _break_settings_list])
def test_harness_model_cache_with_a_damaged_folder(tmp_path, damage, capsys):
    """A damaged entry of the model cache is moved aside under a name that says so, reported in
    one line, and the network retrained -- never loaded, never a traceback."""
    from benchmarks.trained import trained_model
    from symmflow.train import TrainConfig

    def batches():
        while True:
            yield torch.randn(4, 2)

    def train():
        return trained_model("lin", {"net": "linear"}, lambda: torch.nn.Linear(2, 2),
                             lambda m, b: m(b).pow(2).mean(), batches, TrainConfig(steps=2, lr=1e-3, batch_size=4),
                             tmp_path, seed=0, progress=False)

    first = train()
    (folder,) = [p for p in (tmp_path / "checkpoints").iterdir()
                 if not p.name.endswith(".run") and not p.name.startswith(".")]
    damage(folder, tmp_path)
    capsys.readouterr()
    again = train()
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and str(folder) in warning[0] and "damaged" in warning[0]
    aside = [p for p in (tmp_path / "checkpoints").iterdir() if ".damaged-" in p.name]
    assert len(aside) == 1 and aside[0].name.startswith(folder.name)
    assert torch.equal(again.model.weight, first.model.weight)  # retrained the same way
    assert train().train_s == again.train_s  # and stored again: loaded now
    assert not (tmp_path / "ran").exists()
