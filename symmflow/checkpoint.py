"""Trained weights on disk: ``model.safetensors`` beside the ``settings.json`` that made them.

Output folders are written all-or-nothing (:func:`staged_folder`): into a hidden sibling that
is renamed into place once complete.  Loading never unpickles anything (safetensors and JSON
only), and a damaged or foreign file is a one-line :class:`UsageError` naming it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from symmflow.errors import UsageError

_REMEDY = "retrain the model (into a new folder, or delete this one first), or pass the folder of an intact model"


# ---------------------------------------------------------------- writing folders


def check_destination(folder: Path, overwrite: bool = False) -> None:
    """Refuse, before any work, an output folder that cannot be written all-or-nothing:
    a file, a non-empty folder (unless ``overwrite``), or a place where nothing can be created."""
    folder = Path(os.path.abspath(folder))
    if not folder.name:
        raise UsageError(f"cannot write the output folder {folder}; pass a sub-folder with --out")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output folder {folder} is an existing file; pass a folder path with --out")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise UsageError(f"output folder {folder} already exists and is not empty; pass --overwrite to replace it, "
                         "or choose a new folder")
    parent = next(p for p in folder.parents if p.exists())  # the root always exists
    if not parent.is_dir():
        raise UsageError(f"cannot write the output folder {folder}: {parent} is a file; pass a folder path with --out")
    try:
        with tempfile.TemporaryFile(dir=parent):  # leaves nothing behind
            pass
    except OSError as error:
        raise UsageError(f"cannot write the output folder {folder} (creating a file in {parent}: {error.strerror}); "
                         "pass a writable place with --out") from None


@contextmanager
def staged_folder(folder: Path, overwrite: bool = False) -> Iterator[Path]:
    """An empty hidden sibling of ``folder`` to fill; when the block ends without error it
    replaces ``folder``, else it is removed and ``folder`` is left as it was."""
    folder = Path(os.path.abspath(folder))
    check_destination(folder, overwrite)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staged = _new_sibling(folder, "new")
    try:
        yield staged
        _move_into_place(staged, folder)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _new_sibling(folder: Path, tag: str) -> Path:
    """A new empty folder ``.<name>-<tag>-<random>`` beside ``folder`` (permissions from the umask)."""
    while True:
        path = folder.with_name(f".{folder.name}-{tag}-{secrets.token_hex(4)}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _move_into_place(staged: Path, folder: Path) -> None:
    """Rename ``staged`` to ``folder``; an existing ``folder`` is first renamed aside, and
    removed only once the new one is in place (restored if that rename fails)."""
    if not folder.is_dir() or not any(folder.iterdir()):
        os.replace(staged, folder)  # an empty folder is replaced in one rename
        return
    old = _new_sibling(folder, "old")
    os.replace(folder, old)
    try:
        os.replace(staged, folder)
    except BaseException:
        os.replace(old, folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


def save_weights(model: nn.Module, folder: Path, settings: dict, overwrite: bool = False) -> None:
    """Write the weights and settings atomically: the folder appears complete or not at all.
    An existing non-empty ``folder`` is replaced only with ``overwrite``."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with staged_folder(Path(folder), overwrite) as staged:
        (staged / "settings.json").write_text(json.dumps(settings, indent=2, sort_keys=True))
        save_file(state, str(staged / "model.safetensors"))
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
