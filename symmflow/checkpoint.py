"""Trained weights on disk: ``model.safetensors`` beside the ``settings.json`` that made them."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from symmflow.errors import UsageError


def save_weights(model: nn.Module, folder: Path, settings: dict) -> None:
    """Write the weights and settings atomically: the folder appears complete or not at all."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"))
    (tmp / "settings.json").write_text(json.dumps(settings, indent=2, sort_keys=True))
    os.replace(tmp, folder)


def load_weights(model: nn.Module, folder: Path) -> nn.Module:
    """Load weights saved by :func:`save_weights`; a mismatch is a one-line :class:`UsageError`."""
    file = folder / "model.safetensors"
    if not file.is_file():
        raise UsageError(f"no weights at {file}; train first or pass the folder of a trained model")
    state = load_file(str(file))
    expected = model.state_dict()
    wrong = sorted(set(state) ^ set(expected)) or [
        k for k in state if state[k].shape != expected[k].shape]
    if wrong:
        raise UsageError(f"{file} holds weights of another architecture (first mismatch: {wrong[0]}); "
                         "retrain, or pass the settings it was trained with")
    model.load_state_dict(state)
    return model


def saved_settings(folder: Path) -> dict | None:
    file = folder / "settings.json"
    return json.loads(file.read_text()) if file.is_file() else None
