"""Saved weights, atomic files, model folders and the commands' outputs take their permissions from the umask."""

import os
import stat
from pathlib import Path

import pytest
import torch

from symmflow.cli import main
from tests.helpers import RUN, use


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
