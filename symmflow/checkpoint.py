"""Trained weights on disk: ``model.safetensors`` beside the ``settings.json`` that made them.

Model folders are written all-or-nothing (:func:`symmflow.outputs.staged_folder`): into a hidden
sibling that is renamed into place once complete.  Loading never unpickles anything (safetensors and JSON
only), and a damaged or foreign file is a one-line :class:`UsageError` naming it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from symmflow.errors import UsageError
from symmflow.outputs import staged_folder

_REMEDY = "retrain the model (into a new folder, or delete this one first), or pass the folder of an intact model"


# ---------------------------------------------------------------- writing folders


def save_weights(model: nn.Module, folder: Path, settings: dict, overwrite: bool = False,
                 inputs: tuple[Path, ...] = ()) -> None:
    """Write the weights and settings atomically: the folder appears complete or not at all.
    An existing non-empty ``folder`` is replaced only with ``overwrite``, and only when it is a
    model folder (:func:`~symmflow.outputs.check_destination`)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with staged_folder(Path(folder), overwrite, "model", inputs) as staged:
        (staged / "settings.json").write_text(json.dumps(settings, indent=2, sort_keys=True))
        try:
            save_file(state, str(staged / "model.safetensors"))
        except SafetensorError as error:  # a full disk while writing: an OSError, one line, nothing left
            raise OSError(f"safetensors: {error}") from None
        # safetensors creates its file 0600; give it the mode of any new file (umask applied)
        shutil.copymode(staged / "settings.json", staged / "model.safetensors")


# ---------------------------------------------------------------- reading folders


def _damaged(file: Path, why: object) -> UsageError:
    reason = " ".join(str(why).split())  # one line, whatever the library said
    return UsageError(f"{file} is damaged or not what symmflow writes ({reason}); {_REMEDY}")


def load_weights(model: nn.Module, folder: Path) -> nn.Module:
    """Load weights saved by :func:`save_weights`; a damaged file or a mismatch is a one-line
    :class:`UsageError`.  Only safetensors is read: no pickle, so no code in the file runs."""
    file = Path(folder) / "model.safetensors"
    if not file.is_file():
        raise UsageError(f"no weights at {file}; train first or pass the folder of a trained model")
    try:
        state = load_file(str(file))
    except (SafetensorError, OSError) as error:
        raise _damaged(file, error) from None
    expected = model.state_dict()
    wrong = sorted(set(state) ^ set(expected)) or [
        k for k in state if state[k].shape != expected[k].shape]
    if wrong:
        raise UsageError(f"{file} holds weights of another architecture (first mismatch: {wrong[0]}); "
                         "retrain, or pass the settings it was trained with")
    model.load_state_dict(state)
    return model


def saved_settings(folder: Path) -> dict | None:
    """The ``settings.json`` of ``folder`` (None when there is none); a damaged one is a
    one-line :class:`UsageError`."""
    file = Path(folder) / "settings.json"
    if not file.is_file():
        return None
    try:
        settings = json.loads(file.read_text())
    except (ValueError, OSError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _damaged(file, error) from None
    if not isinstance(settings, dict):
        raise _damaged(file, f"a JSON {type(settings).__name__}, not an object")
    return settings
