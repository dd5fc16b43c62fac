"""An output replaced whole with --overwrite, kept as it was when writing fails; a staged folder all or nothing."""

import shutil

import numpy as np
import pytest
from PIL import Image

from symmflow.cli import main
from tests.helpers import RUN, TINY, png, seg_folders, tree, use


def test_train_overwrite_replaces_the_model_folder(tmp_path, capsys, seg_model):
    images, masks = seg_folders(tmp_path)
    model = tmp_path / "model"
    shutil.copytree(seg_model, model)
    (model / "stale.txt").write_text("old")
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(model), "--overwrite",
                 *TINY]) == 0
    assert sorted(p.name for p in model.iterdir()) == [".symmflow-output.json", "README.md", "config.json",
                                                        "diffusion_pytorch_model.safetensors", "train_stats.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_overwrite_replaces_outputs_whole(tmp_path, seg_model, clf_model, capsys):
    argv = [str(a) for a in use("segment", seg_model, clf_model, tmp_path)]
    assert main([*argv, *RUN]) == 0  # a segmentation output of an earlier run
    png(tmp_path / "o" / "old.png", np.zeros((4, 4)))
    assert main([*argv, *RUN, "--overwrite"]) == 0
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == sorted([f"{i}.png" for i in range(4)] + [f"{i}_colour.png" for i in range(4)]
                           + [".symmflow-output.json"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert "segment: 100%" in capsys.readouterr().err  # the progress bar, on stderr


@pytest.mark.parametrize("command", ["synthesise", "sample"])
def test_a_failure_while_writing_leaves_the_old_output(tmp_path, seg_model, clf_model, command, monkeypatch,
                                                      capsys):
    import symmflow.user_files

    argv = [str(a) for a in use(command, seg_model, clf_model, tmp_path)]
    assert main([*argv, *RUN]) == 0  # the output of an earlier run, which --overwrite may replace
    png(tmp_path / "o" / "old.png", np.zeros((4, 4)))
    before = tree(tmp_path / "o")
    saved = []

    def save_then_fail(x, path):
        if saved:
            raise OSError(28, "No space left on device", str(path))
        saved.append(path)
        Image.new("RGB", (2, 2)).save(path)

    monkeypatch.setattr(symmflow.user_files, "save_rgb", save_then_fail)  # the commands write through it
    capsys.readouterr()
    assert main([*argv, *RUN, "--overwrite"]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if "image/s]" not in line and "s/image]" not in line]  # progress bars, fast or slow
    assert len(err) == 1 and "No space left on device" in err[0] and str(tmp_path) in err[0]
    assert saved and tree(tmp_path / "o") == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_staged_folder_is_all_or_nothing(tmp_path):
    from symmflow.outputs import staged_folder

    (tmp_path / "empty").mkdir()
    with staged_folder(tmp_path / "empty") as staged:  # an empty folder needs no --overwrite
        (staged / "a.txt").write_text("a")
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == [".symmflow-output.json", "a.txt"]
    with pytest.raises(RuntimeError), staged_folder(tmp_path / "new") as staged:
        (staged / "half.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
