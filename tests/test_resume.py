"""Training that is killed and resumed ends with the same weights as an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from symmflow.errors import UsageError
from symmflow.train import TrainConfig, checkpoints, fit

ROOT = Path(__file__).resolve().parent.parent

#: A run with everything resuming must restore: AdamW, a one-cycle schedule, an EMA, a shuffled
#: data stream and fresh noise from the global RNG in every loss.
SCRIPT = """
import sys, time, torch
from pathlib import Path
from symmflow.data.streams import epoch_batches
from symmflow.train import TrainConfig, fit

run_dir, pause_at = Path(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
x = torch.randn(96, 4)
y = x @ torch.randn(4, 2)

def loss(model, batch):
    step = loss.calls = getattr(loss, "calls", 0) + 1
    if step == pause_at:
        print("paused", flush=True)
        time.sleep(600)
    xb, yb = batch
    return ((model(xb + 0.1 * torch.randn_like(xb)) - yb) ** 2).mean()

config = TrainConfig(steps=12, lr=0.05, batch_size=8, schedule="onecycle", warmup_steps=2, ema_decay=0.9,
                     checkpoint_every=2, keep_checkpoints=2, log_every=1)
result = fit(torch.nn.Linear(4, 2), loss, epoch_batches(x, y, batch_size=8, seed=3), config, device="cpu",
             run_dir=run_dir, progress=False)
torch.save(result.model.state_dict(), run_dir / "final.pt")
"""


def _train(run_dir: Path, pause_at: int = 0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(run_dir), str(pause_at)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _final(run_dir: Path) -> dict:
    return torch.load(run_dir / "final.pt", weights_only=True)


@pytest.mark.parametrize("kill_at", [4, pytest.param(9, marks=pytest.mark.slow)])
def test_sigkill_then_resume_gives_the_uninterrupted_weights(tmp_path, kill_at):
    straight = tmp_path / "straight"
    assert _train(straight).wait(120) == 0
    killed = tmp_path / "killed"
    run = _train(killed, pause_at=kill_at)
    assert run.stdout.readline().strip() == "paused"  # the checkpoints before the pause are written
    run.send_signal(signal.SIGKILL)
    run.wait(30)
    assert not (killed / "final.pt").exists()
    assert [n for n, _ in checkpoints(killed)] == [n for n in range(2, 12, 2) if n < kill_at][-2:]
    assert not list(killed.glob(".checkpoint-*"))  # no half-written checkpoint left behind
    assert _train(killed).wait(120) == 0
    for name, tensor in _final(straight).items():
        assert torch.equal(tensor, _final(killed)[name]), name  # bitwise
    assert [n for n, _ in checkpoints(killed)] == [10, 12]  # only the latest two are kept
    # the loss record of the resumed run holds every part, as the uninterrupted one does
    records = [[json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
               for run in (straight, killed)]
    assert [r["step"] for r in records[1]] == [r["step"] for r in records[0]] == list(range(1, 13))
    assert sum(r["loss"] for r in records[1]) == sum(r["loss"] for r in records[0])
    assert json.loads((killed / "checkpoint-12" / "progress.json").read_text())["seconds"] > 0


def test_a_diverging_loss_stops_with_the_step_and_the_last_checkpoint(tmp_path):
    calls = []

    def loss(model, batch):
        calls.append(1)
        value = model(batch).mean()
        return value * float("nan") if len(calls) == 5 else value

    batches = iter(lambda: torch.ones(2, 3), None)
    config = TrainConfig(steps=10, lr=0.01, batch_size=2, checkpoint_every=2)
    with pytest.raises(UsageError) as error:
        fit(torch.nn.Linear(3, 1), loss, batches, config, device="cpu", run_dir=tmp_path, progress=False)
    message = str(error.value)
    assert "step 5" in message and "checkpoint-4" in message and "\n" not in message


@pytest.mark.slow
def test_the_same_seed_gives_the_same_table(tmp_path):
    """Two runs of a smoke table from scratch give the same value in every cell (CPU)."""
    import pandas as pd

    from benchmarks import run

    frames = []
    for name in ("a", "b"):
        assert run.main(["--table", "11", "--profile", "smoke", "--steps", "1,5", "--out", str(tmp_path / name),
                         "--device", "cpu", "--no-progress"]) == 0
        frames.append(pd.read_csv(tmp_path / name / "table11.csv"))
    assert frames[0]["value"].tolist() == frames[1]["value"].tolist()
    assert frames[0]["cell"].tolist() == frames[1]["cell"].tolist()


def test_out_of_memory_names_the_batch_size_to_lower():
    def loss(model, batch):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    config = TrainConfig(steps=3, lr=0.01, batch_size=512)
    with pytest.raises(UsageError) as error:
        fit(torch.nn.Linear(3, 1), loss, iter(lambda: torch.ones(2, 3), None), config, device="cpu", progress=False)
    assert "batch of 512" in str(error.value) and "lower the batch size" in str(error.value)


def test_two_runs_sharing_a_results_folder_train_once_and_agree(tmp_path):
    """Two runs of one table started together into one folder: both finish, the network is
    trained once (the second waits for it and loads it) and every stored file is whole."""
    import json

    command = [sys.executable, "-m", "benchmarks.run", "--table", "1", "--profile", "smoke", "--steps", "1,5",
               "--out", str(tmp_path), "--device", "cpu", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outcomes = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outcomes]
    models = [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith("toy-mlp-") and
              p.suffix != ".run"]
    assert len(models) == 1
    trainings = json.loads((models[0] / "settings.json").read_text())["train_s"]
    cells = [json.loads(p.read_text()) for p in (tmp_path / "cells" / "table1").glob("*.json")]
    assert len(cells) == 2 and {c["train_s"] for c in cells} == {trainings}  # one training, seen by both
    assert not [p for p in tmp_path.rglob(".*") if not p.name.endswith(".lock")
                and p.name != ".symmflow-output.json"]  # no partial file left


def test_the_model_cache_keys_a_network_by_what_its_weights_depend_on(tmp_path):
    """Logging, checkpointing and the speed switches leave a network's folder as it is (it is
    loaded, not retrained); the budget and the seed make another one."""
    from benchmarks.trained import trained_model
    from symmflow.train import TrainConfig

    def batches():
        while True:
            yield torch.randn(4, 2)

    def train(seed=0, **config):
        return trained_model("lin", {"net": "linear"}, lambda: torch.nn.Linear(2, 2),
                             lambda m, b: m(b).pow(2).mean(), batches,
                             TrainConfig(**{"steps": 2, "lr": 1e-3, "batch_size": 4, **config}), tmp_path,
                             seed=seed, progress=False)

    def folders():
        return sorted(p.name for p in (tmp_path / "checkpoints").glob("lin-*") if not p.name.endswith(".run"))

    train()
    train(log_every=1, checkpoint_every=1, keep_checkpoints=5, channels_last=True)
    assert len(folders()) == 1
    train(steps=3)
    train(seed=1)
    assert len(folders()) == 3


@pytest.mark.slow
def test_checkpoint_every_saves_resumable_state_and_changes_no_network_or_cell(tmp_path):
    """``--checkpoint-every`` is bookkeeping: the run leaves its trainings' latest states in the
    model cache's run folders, and loads (not retrains) the same networks for the same cells."""
    from benchmarks import run

    argv = ["--table", "1", "--profile", "smoke", "--out", str(tmp_path), "--no-progress"]
    assert run.main([*argv, "--checkpoint-every", "5"]) == 0
    saved = list((tmp_path / "checkpoints").glob("*.run/checkpoint-*"))
    assert saved and all((c / "progress.json").is_file() for c in saved)
    cells = sorted(p.name for p in (tmp_path / "cells").rglob("*.json"))
    networks = sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir())
    assert run.main(argv) == 0  # without it: every cell and network found as stored
    assert sorted(p.name for p in (tmp_path / "cells").rglob("*.json")) == cells
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir()) == networks
