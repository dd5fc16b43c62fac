"""``symmflow train`` as the diffusers examples train: checkpoints and resuming (a run killed with
SIGKILL and resumed ends with the uninterrupted run's weights, bitwise), a held-out validation
split, the EMA decay, process count and global batch recorded, and the Python function the
command is a thin layer over."""

import os
import re
import signal
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from symmflow.cli import build_parser, main
from symmflow.training import TrainOptions, checkpoint_folder, train_model
from symmflow.validation import held_out
from tests.helpers import TINY, class_folders, seg_folders, trained_settings

ROOT = Path(__file__).resolve().parent.parent

#: ``symmflow train`` in a process of its own that stops for good once it has written ``checkpoint-<stop>``.
SCRIPT = """
import sys, time
from symmflow import train as loop
from symmflow.cli import main

stop, save = int(sys.argv[1]), loop.save_checkpoint

def paused(accelerator, run_dir, step, keep, progress=None):
    final = save(accelerator, run_dir, step, keep, progress)
    if step == stop:
        print("paused", flush=True)
        time.sleep(600)
    return final

loop.save_checkpoint = paused
sys.exit(main(sys.argv[2:]))
"""


def _weights(folder: Path) -> dict:
    from symmflow.model_folder import open_folder

    return open_folder(folder, "cpu", "segmentation", "classify").model.state_dict()


def _settings(folder: Path) -> dict:
    return trained_settings(folder)


def _card(folder: Path) -> tuple[dict, str]:
    """The SymmFlow metadata and the text of a model folder's model card."""
    from huggingface_hub import ModelCard

    card = ModelCard.load(folder / "README.md")
    return card.data.to_dict()["symmflow"], card.text


def _argv(tmp_path: Path, out: Path, *extra) -> list:
    images, masks = tmp_path / "in" / "img", tmp_path / "in" / "msk"
    options = ["--size", "16", "--steps", "8", "--batch-size", "4", "--base-channels", "8", "--device", "cpu"]
    return ["train", "--images", str(images), "--masks", str(masks), "--out", str(out), *options,
            "--validation-split", "0.25", "--validation-steps", "3", "--checkpointing-steps", "2",
            "--resume-from-checkpoint", "latest", "--no-progress", *extra]


def _train(argv: list, stop: int = 0) -> subprocess.Popen:
    """``symmflow train`` in a process of its own (every run of a comparison alike: one thread)."""
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(stop), *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_sigkill_then_resume_from_the_latest_checkpoint_gives_the_uninterrupted_weights(tmp_path):
    seg_folders(tmp_path / "in", n=8)
    assert _train(_argv(tmp_path, tmp_path / "straight")).wait(300) == 0
    killed = tmp_path / "killed"
    run = _train(_argv(tmp_path, killed), stop=4)
    assert run.stdout.readline().strip() == "paused"
    run.send_signal(signal.SIGKILL)
    run.wait(30)
    assert not killed.exists() and sorted(p.name for p in checkpoint_folder(killed).glob("checkpoint-*")) == [
        "checkpoint-2", "checkpoint-4"]
    assert _train(_argv(tmp_path, killed)).wait(300) == 0  # the same command resumes from checkpoint-4
    straight, resumed = _weights(tmp_path / "straight"), _weights(killed)
    assert straight.keys() == resumed.keys()
    for name, tensor in straight.items():
        assert torch.equal(tensor, resumed[name]), name  # bitwise
    first, second = _settings(tmp_path / "straight"), _settings(killed)
    assert first["validation"] == second["validation"] and second["validation"]["step"] == 8
    # the checkpoints stay beside the model folder, the latest two of them, as the diffusers examples keep theirs
    assert sorted(p.name for p in checkpoint_folder(killed).glob("checkpoint-*")) == ["checkpoint-6", "checkpoint-8"]


def test_settings_record_the_ema_processes_global_batch_and_held_out_metric(tmp_path):
    out = train_model(class_folders(tmp_path), out=tmp_path / "clf", size=16, steps=3, batch_size=2,
                      base_channels=8, device="cpu", ema_decay=0.9, gradient_accumulation_steps=2,
                      validation_split=0.25, validation_steps=2, progress=False)
    settings = _settings(out)
    assert settings["ema_decay"] == 0.9 and "EMAModel" in settings["ema_warmup"]
    assert settings["processes"] == 1 and settings["global_batch"] == 4
    assert settings["validation"]["metric"] == "accuracy" and settings["validation"]["images"] == 1
    assert settings["validation"]["step"] == 3 and 0 <= settings["validation"]["value"] <= 1
    card, text = _card(out)  # the model card states the held-out metric
    assert card["validation"] == settings["validation"] and card["seed"] == 0
    assert f"Held-out accuracy: {settings['validation']['value']:.4g} at step 3." in text
    assert not checkpoint_folder(out).exists()  # no checkpoints asked for, none written


def test_the_default_ema_decay_is_stated(tmp_path):
    out = tmp_path / "m"
    assert main(["train", "--images", str(class_folders(tmp_path)), "--out", str(out), *TINY, "--no-progress"]) == 0
    assert _settings(out)["ema_decay"] == 0.99 and "validation" not in _settings(out)
    assert _card(out)[0]["validation"] is None and "No held-out metric" in _card(out)[1]


def test_the_held_out_images_are_drawn_by_the_seed():
    kept, held = held_out(10, 0.3, seed=0)
    assert len(held) == 3 and sorted([*kept.tolist(), *held.tolist()]) == list(range(10))
    assert torch.equal(held, held_out(10, 0.3, seed=0)[1]) and not torch.equal(held, held_out(10, 0.3, seed=1)[1])
    assert len(held_out(3, 0.01, seed=0)[1]) == 1 and len(held_out(3, 0.0, seed=0)[1]) == 0


def test_the_command_line_defaults_are_the_functions():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    defaults = {a.dest: a.default for a in train._actions}
    for f in fields(TrainOptions):
        if f.name in defaults and not f.name.startswith(("images", "out")):
            assert defaults[f.name] == f.default, f.name


# ---------------------------------------------------------------- refused before training


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """A segmentation training of 4 steps with checkpoints every 2, its inputs beside it."""
    root = tmp_path_factory.mktemp("earlier")
    seg_folders(root / "in")
    argv = ["train", "--images", str(root / "in" / "img"), "--masks", str(root / "in" / "msk"), "--out",
            str(root / "model"), *TINY[:2], "--steps", "4", *TINY[4:], "--checkpointing-steps", "2", "--no-progress"]
    assert main(argv) == 0
    return root, argv


def _other(earlier, tmp_path, *options):
    root, argv = earlier
    argv = [*argv, *options]
    argv[argv.index("--out") + 1] = str(tmp_path / "new")
    return argv


@pytest.mark.parametrize("options, needle", [
    (["--steps", "6"], "is a checkpoint of another training (steps: 4 there, 6 here)"),
    (["--base-channels", "16"], "is a checkpoint of another training (base_channels: 8 there, 16 here)"),
    (["--validation-split", "0.5"], "is a checkpoint of another training (validation_split"),
    (["--mask-code", "per-class"], "is a checkpoint of another training (symmflow"),
])
def test_a_checkpoint_of_another_training_is_refused(refused, earlier, tmp_path, options, needle):
    root = earlier[0]
    checkpoint = checkpoint_folder(root / "model") / "checkpoint-2"
    refused(_other(earlier, tmp_path, "--resume-from-checkpoint", str(checkpoint), *options), needle)


def test_a_folder_that_is_no_checkpoint_is_refused(refused, earlier, tmp_path):
    refused(_other(earlier, tmp_path, "--resume-from-checkpoint", str(tmp_path)), "is not a checkpoint folder")
    (tmp_path / "checkpoint-3").mkdir()
    refused(_other(earlier, tmp_path, "--resume-from-checkpoint", str(tmp_path / "checkpoint-3")),
            "not a checkpoint of symmflow train")


def test_checkpoints_of_an_earlier_training_are_neither_mixed_in_nor_lost(refused, earlier):
    root, argv = earlier
    refused([*argv, "--overwrite"], "holds the checkpoints of an earlier training: pass --resume-from-checkpoint")
    refused([*argv, "--overwrite", "--steps", "6", "--resume-from-checkpoint", "latest"],
            "is a checkpoint of another training (steps: 4 there, 6 here)")


def test_a_validation_split_that_leaves_nothing_to_train_is_refused(refused, tmp_path):
    refused(["train", "--images", str(class_folders(tmp_path)), "--out", str(tmp_path / "m"), *TINY,
             "--validation-split", "1"], "--validation-split 1.0: hold out a share in [0, 1)")


def test_resuming_from_a_named_checkpoint_into_a_new_folder_gives_the_same_weights(earlier, tmp_path):
    root, argv = earlier
    checkpoint = checkpoint_folder(root / "model") / "checkpoint-2"
    assert main(_other(earlier, tmp_path, "--resume-from-checkpoint", str(checkpoint))) == 0
    first, again = _weights(root / "model"), _weights(tmp_path / "new")
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert sorted(p.name for p in checkpoint_folder(tmp_path / "new").glob("checkpoint-*")) == ["checkpoint-4"]


def test_the_held_out_metric_is_logged_to_the_tracker(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    images, masks = seg_folders(tmp_path / "in", n=6)
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "m"), *TINY[:2],
                 "--steps", "4", *TINY[4:], "--validation-split", "0.3", "--validation-steps", "2",
                 "--report-to", "tensorboard", "--no-progress"]) == 0
    events = list((tmp_path / "m-logs").rglob("events.out.tfevents.*"))
    found = EventAccumulator(str(events[0].parent), size_guidance={"scalars": 0}).Reload()
    logged = [(s.step, s.value) for s in found.Scalars("validation/mIoU")]
    stored = _settings(tmp_path / "m")["validation"]
    assert [step for step, _ in logged] == [2, 4] and stored["images"] == 2
    assert logged[-1][1] == pytest.approx(stored["value"])
    card, text = _card(tmp_path / "m")
    assert card["validation"] == stored and f"Held-out mIoU: {stored['value']:.4g} at step 4." in text


@pytest.mark.parametrize("settings, needle", [
    ({"steps": 0}, "steps: '0': use a positive integer"),
    ({"size": 12}, "size: '12': use a multiple of 8"),
    ({"ema_decay": 1.0}, "ema_decay: '1.0': use a decay in [0, 1)"),
    ({"validation_split": 1.0}, "--validation-split 1.0: hold out a share in [0, 1)"),
])
def test_the_function_refuses_what_the_command_refuses(tmp_path, no_work, settings, needle):
    from symmflow.errors import UsageError

    with pytest.raises(UsageError, match=re.escape(needle)):
        train_model(class_folders(tmp_path), out=tmp_path / "m", **settings)
    assert not (tmp_path / "m").exists()
