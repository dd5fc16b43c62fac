"""Plain helpers the test modules share: tiny image folders and command lines, a tree snapshot."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

TINY = ["--size", "16", "--steps", "2", "--batch-size", "4", "--base-channels", "8", "--device", "cpu"]
"""``symmflow train`` options of a model that trains in a second."""
RUN = ["--steps", "2", "--device", "cpu"]
"""Options of a quick inference command."""


def png(path: Path, array) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


def trained_settings(folder: Path) -> dict:
    """The flat settings of a model folder ``symmflow train`` wrote (its ``config.json``)."""
    from symmflow.pretrained import CONFIG, settings_of

    return settings_of(json.loads((Path(folder) / CONFIG).read_text()))


def edit_config(folder: Path, edit: dict | None = None, drop: tuple = ()) -> Path:
    """Change the ``config.json`` of a trained model folder: the settings of ``edit`` set (those that
    build the network at its top level, the others under ``training``), those of ``drop`` removed."""
    from symmflow.pretrained import ARCHITECTURE, CONFIG

    file = Path(folder) / CONFIG
    config = json.loads(file.read_text())
    for key, value in (edit or {}).items():
        (config if key in ARCHITECTURE else config["training"])[key] = value
    for key in drop:
        (config if key in ARCHITECTURE else config["training"]).pop(key, None)
    file.write_text(json.dumps(config))
    return file


def earlier_layout(model: Path, folder: Path) -> Path:
    """The model folder ``model`` written again in the earlier layout (settings.json + model.safetensors)."""
    import symmflow
    from symmflow.checkpoint import save_weights

    opened = symmflow.load(model, device="cpu")
    save_weights(opened.network.velocity, folder, opened.settings)
    return folder


def tree(root: Path) -> list:
    """Every path under ``root`` (hidden ones too) with its size and modification time (a link's
    own, so that a link that leads nowhere is listed too)."""
    import stat

    found = [(p, p.lstat()) for p in root.rglob("*")]
    return sorted((str(p.relative_to(root)), s.st_size if stat.S_ISREG(s.st_mode) else -1, s.st_mtime_ns)
                  for p, s in found)


def seg_folders(root: Path, n: int = 4) -> tuple[Path, Path]:
    """``root/img`` and ``root/msk``: ``n`` random 20 px images and class-id masks of 4 classes."""
    rng = np.random.default_rng(0)
    for i in range(n):
        png(root / "img" / f"{i}.png", rng.integers(0, 255, (20, 20, 3)))
        png(root / "msk" / f"{i}.png", rng.integers(0, 4, (20, 20)))
    return root / "img", root / "msk"


def class_folders(root: Path) -> Path:
    """``root/data/class0``, ``class1``: two classes of two flat 16 px images."""
    for k, value in enumerate((0, 255)):
        for i in range(2):
            png(root / "data" / f"class{k}" / f"{i}.png", np.full((16, 16, 3), value))
    return root / "data"


def use(command: str, seg_model: Path, clf_model: Path, tmp_path: Path) -> list:
    """A valid command line of ``command`` (its inputs made under tmp_path, its output ``tmp_path/o``)."""
    images, masks = seg_folders(tmp_path / "in")
    return {"segment": ["segment", "--model", seg_model, "--images", images, "--out", tmp_path / "o"],
            "synthesise": ["synthesise", "--model", seg_model, "--masks", masks, "--out", tmp_path / "o"],
            "classify": ["classify", "--model", clf_model, "--images", images],
            "sample": ["sample", "--model", clf_model, "--labels", "0,1", "--out", tmp_path / "o"]}[command]


@contextmanager
def registered(registry: dict, register: Callable, declared):
    """``registry`` with ``declared`` added by ``register`` inside the block, and as it was before after it."""
    before = dict(registry)
    register(declared)
    try:
        yield declared
    finally:
        registry.clear()
        registry.update(before)
