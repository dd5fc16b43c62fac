"""Faults at scale, simulated: a process of a two-process training killed mid-training (the other
ends in one line within seconds, the rerun resumes), a checkpoint damaged between save and resume
(named, moved aside, the one before used), a latent cache interrupted, cut short, foreign or
failing on a full disk (nothing half-written, one line, rebuilt on the rerun), and a dry run
interrupted (one line, 143 / 130)."""

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from symmflow import latent_cache
from symmflow.data.segmentation import paired_folders
from symmflow.train import checkpoints
from tests.helpers import seg_folders
from tests.test_scale import _train

ROOT = Path(__file__).resolve().parent.parent


def logged(bad_input_log, request, command: str, status: int, message: str, nothing_written: bool = True) -> None:
    bad_input_log.append({"case": request.node.name, "command": command, "exit_status": status,
                          "message": message, "nothing_written": nothing_written})


# ---------------------------------------------------------------- a process of a two-process run killed

WORKER = """
import os, sys, time
from pathlib import Path
import torch
from symmflow.data.streams import epoch_batches
from symmflow.errors import UsageError
from symmflow.train import TrainConfig, fit

run_dir, steps, rank = Path(sys.argv[1]), int(sys.argv[2]), int(os.environ["RANK"])

def loss(model, batch):
    x, y = batch
    print(f"rank {rank} pid {os.getpid()} step", flush=True)
    time.sleep(0.05)
    return ((model(x) - y) ** 2).mean()

torch.manual_seed(0)
x = torch.randn(64, 4)
y = x @ torch.randn(4, 2)
config = TrainConfig(steps=steps, lr=0.05, batch_size=8, schedule="onecycle", warmup_steps=2, ema_decay=0.9,
                     checkpoint_every=4, log_every=1)
try:
    result = fit(torch.nn.Linear(4, 2), loss, epoch_batches(x, y, batch_size=8, seed=3), config, device="cpu",
                 run_dir=run_dir, progress=False)
except UsageError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
print(f"done rank {rank} resumed_from {result.resumed_from}", flush=True)
"""

STATED_SECONDS = 30
"""How soon the surviving process of a run whose peer was killed must end (it takes about 2 s)."""


def _two_processes(script: Path, run_dir: Path, steps: int) -> list[subprocess.Popen]:
    """Two processes of one gloo training on this machine, launched as torchrun's workers are
    (its environment, no agent: each process's own stderr is kept apart)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launched = []
    for rank in (0, 1):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port), "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "LOCAL_WORLD_SIZE": "2"}
        launched.append(subprocess.Popen([sys.executable, str(script), str(run_dir), str(steps)], cwd=ROOT, env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return launched


@pytest.mark.slow
def test_a_process_killed_mid_training_ends_the_other_in_one_line_and_the_rerun_resumes(tmp_path, bad_input_log,
                                                                                        request):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    run_dir = tmp_path / "run"
    first, second = _two_processes(script, run_dir, 40)
    steps = 0
    for line in second.stdout:  # past the checkpoint of step 4, mid-way to the next
        steps += line.startswith("rank 1")
        if steps == 7:
            break
    second.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    _, err = first.communicate(timeout=STATED_SECONDS + 30)
    ended = time.monotonic() - killed
    second.communicate(timeout=30)
    lines = err.strip().splitlines()
    assert first.returncode == 2 and ended < STATED_SECONDS, (first.returncode, ended, err[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: another process of this 2-process training stopped"), err
    assert "Traceback" not in err and "rerun the same command to resume from step 4" in lines[0]
    assert [n for n, _ in checkpoints(run_dir)] == [4]
    rerun = _two_processes(script, run_dir, 12)
    outs = [p.communicate(timeout=300)[0] for p in rerun]
    assert all(p.returncode == 0 for p in rerun), [p.stderr for p in rerun]
    assert all("resumed_from 4" in out for out in outs), outs
    logged(bad_input_log, request, "two processes (gloo) of one training, one killed (SIGKILL) at step 7", 2,
           f"{lines[0].split('(')[0].strip()} ... (after {ended:.1f} s, within {STATED_SECONDS} s); the rerun "
           "resumed from step 4", nothing_written=False)


# ---------------------------------------------------------------- a checkpoint damaged between save and resume


def _stopped_after(tmp_path, steps: int):
    calls = []

    def stop(model, batch):
        calls.append(1)
        if len(calls) == steps + 1:
            raise RuntimeError("stopped")
        x, y = batch
        return ((model(x) - y) ** 2).mean()

    with pytest.raises(RuntimeError):
        _train(tmp_path, stop, checkpoint_every=4, steps=12)


DAMAGES = {
    "its weights cut short": ("model.safetensors", lambda b: b[: len(b) // 2]),
    "its optimiser state cut short": ("optimizer.bin", lambda b: b[:-100]),
    "its optimiser state emptied": ("optimizer.bin", lambda b: b""),
    "its RNG states cut short": ("random_states_0.pkl", lambda b: b[: len(b) // 3]),
    "its EMA state replaced by text": ("custom_checkpoint_0.pkl", lambda b: b"not a state\n"),
    "its progress record cut short": ("progress.json", lambda b: b[: len(b) // 2]),
    "its progress record a list": ("progress.json", lambda b: b"[1, 2]"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_checkpoint_damaged_between_save_and_resume_is_set_aside_and_the_one_before_used(tmp_path, capsys, damage,
                                                                                          bad_input_log, request):
    straight = _train(None, steps=12).model.state_dict()
    _stopped_after(tmp_path, 9)  # checkpoints at 4 and 8, stopped in step 10
    assert [n for n, _ in checkpoints(tmp_path)] == [4, 8]
    name, change = DAMAGES[damage]
    file = tmp_path / "checkpoint-8" / name
    file.write_bytes(change(file.read_bytes()))
    capsys.readouterr()
    resumed = _train(tmp_path, checkpoint_every=4, steps=12)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "checkpoint-8 was damaged" in warnings[0] and name in warnings[0], warnings
    assert resumed.resumed_from == 4 and len(list(tmp_path.glob("checkpoint-8.damaged-*"))) == 1
    for key, tensor in straight.items():  # resumed from step 4, the same weights as the uninterrupted training
        assert torch.equal(tensor, resumed.model.state_dict()[key]), key
    logged(bad_input_log, request, f"a training resumed from a checkpoint with {damage}", 0,
           warnings[0].replace(str(tmp_path), "<tmp>"), nothing_written=False)


# ---------------------------------------------------------------- the latent cache


class StubVAE:
    """A VAE's encoder in shape: 20 px images -> moments of 2 x 4 channels at 5 px."""
    dtype = torch.float32

    def encode(self, images):
        pooled = torch.nn.functional.avg_pool2d(images, 4)
        return SimpleNamespace(latent_dist=SimpleNamespace(parameters=torch.cat([pooled, pooled[:, :1]] * 2, 1)))


@pytest.fixture
def pairs(tmp_path):
    images, masks = seg_folders(tmp_path / "data")
    return paired_folders(images, masks, num_classes=4, size=20, train=True)  # square: one crop, cacheable


IDENTITY = {"vae": "stub", "data": "four pairs", "size": 20}


def test_an_interrupted_cache_write_leaves_nothing_and_the_rerun_builds_it(pairs, tmp_path, monkeypatch,
                                                                           bad_input_log, request):
    folder = tmp_path / "cache"
    real = np.save

    def interrupted(f, array):
        f.write(b"\x93NUMPY half of a header")
        raise KeyboardInterrupt

    monkeypatch.setattr(latent_cache.np, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        latent_cache.cached_moments(pairs, StubVAE(), folder, IDENTITY, 2, "cpu", progress=False)
    assert list(folder.iterdir()) == []  # neither the cache nor its partial file
    monkeypatch.setattr(latent_cache.np, "save", real)
    moments = latent_cache.cached_moments(pairs, StubVAE(), folder, IDENTITY, 2, "cpu", progress=False)
    assert moments.shape == (4, 8, 5, 5)
    logged(bad_input_log, request, "--cache-latents, interrupted while writing the cache, then rerun", 0,
           "nothing of the cache left; the rerun built it whole", nothing_written=True)


def test_a_full_disk_during_the_cache_write_leaves_nothing(pairs, tmp_path, monkeypatch, bad_input_log, request):
    folder = tmp_path / "cache"

    def full(f, array):
        f.write(b"\x93NUMPY")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(latent_cache.np, "save", full)
    with pytest.raises(OSError) as error:
        latent_cache.cached_moments(pairs, StubVAE(), folder, IDENTITY, 2, "cpu", progress=False)
    assert error.value.errno == errno.ENOSPC and list(folder.iterdir()) == []
    logged(bad_input_log, request, "--cache-latents, the disk full during the cache write", 2,
           "an OSError (ENOSPC) to the command's one line; nothing of the cache left")


@pytest.mark.parametrize("damage, reason", [
    ("truncated", "does not read"), ("emptied", "does not read"),
    ("another data set's (other count)", "3 images stored, 4 expected"),
    ("another resolution's (other latent size)", "moments of shape (8, 2, 2) stored, (8, 5, 5) expected"),
    ("not an array", "does not read"),
])
def test_a_damaged_or_foreign_cache_met_on_the_rerun_is_named_moved_aside_and_rebuilt(pairs, tmp_path, capsys, damage,
                                                                                     reason, bad_input_log, request):
    folder = tmp_path / "cache"
    built = latent_cache.cached_moments(pairs, StubVAE(), folder, IDENTITY, 2, "cpu", progress=False).copy()
    path = latent_cache.cache_file(folder, IDENTITY)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "emptied":
        path.write_bytes(b"")
    elif damage.startswith("another data set"):
        np.save(path, built[:3])
    elif damage.startswith("another resolution"):
        np.save(path, built[:, :, :2, :2].copy())
    else:
        path.write_text("moments\n")
    capsys.readouterr()
    again = latent_cache.cached_moments(pairs, StubVAE(), folder, IDENTITY, 2, "cpu", progress=False,
                                        shape=(4, 5, 5))
    np.testing.assert_array_equal(again, built)
    warning = capsys.readouterr().err.strip()
    assert warning.startswith("warning:") and str(path) in warning and "\n" not in warning, warning
    if reason != "does not read":
        assert reason in warning, warning
    assert len(list(folder.glob("*.damaged-*"))) == 1
    logged(bad_input_log, request, f"--cache-latents rerun meeting a cache {damage}", 0,
           warning.replace(str(tmp_path), "<tmp>"), nothing_written=False)


def test_a_cache_of_another_vae_is_never_read(pairs, tmp_path, bad_input_log, request):
    folder = tmp_path / "cache"
    latent_cache.cached_moments(pairs, StubVAE(), folder, IDENTITY, 2, "cpu", progress=False)
    other = {**IDENTITY, "vae": "sd-vae-ft-mse"}
    assert latent_cache.cache_file(folder, other) != latent_cache.cache_file(folder, IDENTITY)
    latent_cache.cached_moments(pairs, StubVAE(), folder, other, 2, "cpu", progress=False)
    assert len(list(folder.glob("latents-*.npy"))) == 2  # each VAE's moments kept apart, neither trusted for the other
    logged(bad_input_log, request, "--cache-latents with another --vae than the cache was built with", 0,
           "accepted: the cache's name holds the VAE's identity, so another VAE builds its own", nothing_written=False)


# ---------------------------------------------------------------- a dry run interrupted


@pytest.mark.parametrize("signum, status, prefix", [(signal.SIGTERM, 143, "terminated:"),
                                                    (signal.SIGINT, 130, "interrupted:")])
def test_a_dry_run_interrupted_while_its_loader_workers_read_ends_in_one_line(tmp_path, signum, status, prefix,
                                                                              bad_input_log, request):
    from tests.test_bad_input_outputs import DRY_RUN_ON_FOLDER_DATA, _children

    script = tmp_path / "dry.py"
    script.write_text(DRY_RUN_ON_FOLDER_DATA)
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _children(process.pid):
        time.sleep(0.05)
    assert _children(process.pid), "no DataLoader worker started"
    time.sleep(0.3)
    os.killpg(process.pid, signum)  # to the whole group, as a terminal's Ctrl-C or Slurm sends it
    _, err = process.communicate(timeout=60)
    lines = [line for line in err.strip().splitlines() if "%|" not in line]
    assert process.returncode == status and lines[-1].startswith(prefix) and "Traceback" not in err, err
    assert [line for line in lines if line.startswith(("error", "terminated", "interrupted"))] == lines[-1:]
    assert not (tmp_path / "out").exists()
    logged(bad_input_log, request, f"python -m benchmarks.run --table 5 --profile smoke --dry-run, then "
           f"{signal.Signals(signum).name} to its process group", status, lines[-1])
