"""Nothing the project did not write is ever deleted or replaced, whatever ``--out`` says, and an
interrupted command leaves nothing half-written: one line, exit 2 (130 for an interrupt, 143 for
SIGTERM to the harness).

Every case runs in a sacrificial working directory and home folder, so that a regression could
only ever delete those."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symmflow.cli import main
from tests.helpers import RUN, TINY, class_folders, png, seg_folders, trained_settings, use

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("train", "segment", "synthesise", "sample")


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A working directory and a home folder, each holding a file a person wrote."""
    work, home = tmp_path / "work", tmp_path / "home"
    for folder in (work, home):
        png(folder / "precious.png", np.zeros((4, 4)))
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    return work, home


def command_line(command: str, seg_model: Path, clf_model: Path, tmp_path: Path) -> list:
    if command == "train":
        images, masks = seg_folders(tmp_path / "in")
        return ["train", "--images", images, "--masks", masks, "--out", tmp_path / "o", *TINY]
    return [*use(command, seg_model, clf_model, tmp_path), *RUN]


def with_out(argv: list, out) -> list:
    argv = list(argv)
    argv[argv.index("--out") + 1] = out
    return argv


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("out, needle", [
    ("", "an empty --out"), (".", "is the working directory"), ("{work}", "is the working directory"),
    ("{work}/..", "holds the working directory"), ("~", "is your home folder"), ("/", "is the root folder"),
])
def test_overwrite_never_replaces_the_working_directory_home_or_root(refused, sandbox, tmp_path, seg_model,
                                                                     clf_model, command, out, needle):
    work, home = sandbox
    argv = command_line(command, seg_model, clf_model, tmp_path)
    target = os.path.expanduser(out.format(work=work)) if out else out
    refused([*with_out(argv, target), "--overwrite"], needle)
    assert (work / "precious.png").is_file() and (home / "precious.png").is_file()


@pytest.mark.parametrize("command", COMMANDS)
def test_overwrite_never_replaces_a_folder_the_project_did_not_write(refused, sandbox, tmp_path, seg_model,
                                                                      clf_model, command):
    argv = command_line(command, seg_model, clf_model, tmp_path)
    png(tmp_path / "o" / "holiday.png", np.zeros((4, 4)))
    refused([*argv, "--overwrite"], "was not written by symmflow")
    assert (tmp_path / "o" / "holiday.png").is_file()


@pytest.mark.parametrize("command", ["segment", "synthesise", "sample"])
def test_overwrite_never_replaces_an_output_of_another_kind(refused, sandbox, tmp_path, seg_model, clf_model, command):
    """A model folder is not a folder of samples: --overwrite of one by the other is refused."""
    argv = command_line(command, seg_model, clf_model, tmp_path)
    shutil.copytree(seg_model, tmp_path / "o")
    refused([*argv, "--overwrite"], "holds a model, not")
    assert (tmp_path / "o" / "diffusion_pytorch_model.safetensors").is_file()


@pytest.mark.parametrize("command, source", [("segment", "in"), ("synthesise", "in"), ("train", "in")])
def test_out_may_not_be_a_folder_holding_an_input(refused, sandbox, tmp_path, seg_model, clf_model, command, source):
    argv = command_line(command, seg_model, clf_model, tmp_path)
    refused([*with_out(argv, tmp_path / source), "--overwrite"], "would replace the input")


def test_a_classifier_is_not_written_inside_its_own_class_folders(refused, sandbox, tmp_path):
    images = class_folders(tmp_path)
    refused(["train", "--images", images, "--out", images / "model", *TINY], "would become a class")


@pytest.mark.parametrize("out, needle", [
    ("", "an empty --out"), (".", "is the working directory"), ("~", "is your home folder"),
    ("/", "is the root folder"),
    ("{work}/..", "holds the working directory"),
])
def test_the_harness_never_writes_into_the_working_directory_home_or_root(refused, sandbox, out, needle):
    work, home = sandbox
    target = os.path.expanduser(out.format(work=work)) if out else out
    refused(["--table", "1", "--profile", "smoke", "--out", target], needle, command="benchmarks.run")
    assert sorted(p.name for p in work.iterdir()) == ["precious.png"]


def test_the_harness_never_replaces_a_readme_it_did_not_write(refused, sandbox, tmp_path):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "README.md").write_text("# My project\n")
    refused(["--table", "1", "--profile", "smoke", "--out", tmp_path / "project"], "was not written by the harness",
            command="benchmarks.run")
    assert (tmp_path / "project" / "README.md").read_text() == "# My project\n"


# ---------------------------------------------------------------- interrupts


@pytest.mark.parametrize("command, work", [("train", "symmflow.train.fit"), ("segment", "symmflow.tasks.predict"),
                                           ("synthesise", "symmflow.tasks.generate"),
                                           ("classify", "symmflow.tasks.predict"),
                                           ("sample", "symmflow.tasks.generate")])
def test_ctrl_c_is_one_line_exit_130_and_nothing_half_written(refused, sandbox, tmp_path, seg_model, clf_model,
                                                              monkeypatch, command, work):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(work, interrupted)
    argv = command_line(command, seg_model, clf_model, tmp_path) if command != "classify" else \
        [*use("classify", seg_model, clf_model, tmp_path), *RUN]
    refused(argv, "nothing was written", status=130, prefix="interrupted:")
    assert not (tmp_path / "o").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _terminate_after_start(argv: list, cwd: Path, wait_for: str) -> subprocess.CompletedProcess:
    """Start ``python argv``, send SIGTERM once its stderr shows ``wait_for``, and wait."""
    process = subprocess.Popen([sys.executable, *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    seen = ""
    deadline = time.monotonic() + 120
    while wait_for not in seen and time.monotonic() < deadline:
        seen += process.stderr.read(1)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, process.returncode, out, seen + err)


def test_sigterm_ends_training_like_ctrl_c(tmp_path, bad_input_log):
    images, masks = seg_folders(tmp_path / "in")
    argv = ["-m", "symmflow.cli", "train", "--images", str(images), "--masks", str(masks), "--out",
            str(tmp_path / "model"), "--size", "16", "--steps", "100000", "--batch-size", "4", "--base-channels", "8",
            "--device", "cpu"]
    done = _terminate_after_start(argv, tmp_path, "train:")
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 130 and last.startswith("interrupted:") and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no model folder, no staging left
    bad_input_log.append({"case": "test_sigterm_ends_training_like_ctrl_c",
                          "command": "symmflow train ... then SIGTERM",
                          "exit_status": done.returncode, "message": last, "nothing_written": True})


def test_sigterm_ends_a_table_run_keeping_finished_cells(tmp_path, bad_input_log):
    argv = ["-m", "benchmarks.run", "--table", "11", "--profile", "smoke", "--out", str(tmp_path / "out"),
            "--device", "cpu"]
    done = _terminate_after_start(argv, ROOT, "table 11: mnist")
    last = done.stderr.strip().splitlines()[-1]
    # SIGTERM is a preemption: status 143, a training under way saving its state first
    assert done.returncode == 143 and last.startswith("terminated:") and "Traceback" not in done.stderr
    stored = [json.loads(p.read_text()) for p in (tmp_path / "out" / "cells").rglob("*.json")]
    assert all(c["status"] == "ok" for c in stored)  # whatever was stored is whole
    assert not [p for p in (tmp_path / "out").rglob(".*") if p.suffix != ".lock"
                and p.name != ".symmflow-output.json"]
    bad_input_log.append({"case": "test_sigterm_ends_a_table_run_keeping_finished_cells",
                          "command": "python -m benchmarks.run --table 11 --profile smoke ... then SIGTERM",
                          "exit_status": done.returncode, "message": last, "nothing_written": True})


# ---------------------------------------------------------------- the same seed, the same weights


def test_train_twice_with_one_seed_gives_bitwise_the_same_weights(tmp_path):
    from safetensors.torch import load_file

    images, masks = seg_folders(tmp_path / "in")
    weights = []
    for run in ("a", "b", "c"):
        seed = "5" if run != "c" else "6"
        assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / run), *TINY,
                     "--seed", seed]) == 0
        weights.append(load_file(str(tmp_path / run / "diffusion_pytorch_model.safetensors")))
        assert trained_settings(tmp_path / run)["seed"] == int(seed)
    same, other = weights[1], weights[2]
    assert all(np.array_equal(weights[0][k].numpy(), same[k].numpy()) for k in same)
    assert any(not np.array_equal(weights[0][k].numpy(), other[k].numpy()) for k in other)


DRY_RUN_ON_FOLDER_DATA = """
import dataclasses, sys
from pathlib import Path
from benchmarks import run
from benchmarks.profiles import SEGSYNTH
from tests.test_datasets import celeba_fixture
from tests.test_segsynth_tables import tables_with
root, ids = Path(sys.argv[1]), tuple(range(40))
base = celeba_fixture(root / "data", ids=ids, size=16)
(base / "list_eval_partition.txt").write_text("".join(f"{i:06d}.jpg {0 if i < 30 else 2}\\n" for i in ids))
smoke = SEGSYNTH["smoke"]
smoke = dataclasses.replace(smoke, datasets=("CelebAMask-HQ",), resolution=16,
                            budget=dataclasses.replace(smoke.budget, batch_size=4))
print("started", file=sys.stderr, flush=True)
sys.exit(run.main(["--table", "5", "--profile", "smoke", "--dry-run", "--device", "cpu", "--out", str(root / "out"),
                   "--data-root", str(root / "data")], tables_with("smoke", smoke)))
"""


def _children(pid: int) -> list[str]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split() if path.exists() else []
