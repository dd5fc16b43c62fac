"""The launches of the scale check (``python -m studies.scale_check``): the study's network trained
on 1, 2 and 4 CPU processes (``torchrun --standalone``, gloo), with gradient accumulation, on two
"nodes" (a localhost c10d rendezvous), stopped by SIGTERM and resumed on another process count or
by the same command again, and each launch compared with one process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

from studies.scale_worker import ROWS

ROOT = Path(__file__).resolve().parent.parent
LOSS_TOLERANCE = 1e-4
"""The largest relative difference of a logged loss from one process's that counts as equal:
the launches differ by the order of float32 reductions only (measured well below it)."""
WEIGHT_TOLERANCE = 1e-3
"""The same for the final (EMA) weights, as the largest absolute difference: wider, since AdamW's
first steps turn a gradient at the level of rounding into a step of up to the learning rate."""


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _worker_args(case: Path, epochs: int, per_device: int | None = None, pause_at: int = 0) -> list[str]:
    return ["-m", "studies.scale_check", "worker", "--case", str(case), "--epochs", str(epochs),
            "--pause-at", str(pause_at), *(["--batch-size-per-device", str(per_device)] if per_device else [])]


def _command(processes: int, args: list[str]) -> list[str]:
    """One process: the worker itself; several: ``torchrun --standalone`` (gloo on the CPU)."""
    if processes == 1:
        return [sys.executable, *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes), *args]


def _run(command: list[str], timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed ({done.returncode}): {done.stderr[-3000:]}")
    return done


def _stopped(command: list[str], timeout: int = 900) -> tuple[int, str, float]:
    """Run ``command`` until its main process prints ``paused``, send SIGTERM to it (the
    launcher, where there is one), and return its exit status, its stderr and the seconds from
    the signal to the exit."""
    process = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.strip() == "paused" or not line:
            break
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err, time.monotonic() - sent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_nodes(case: Path, epochs: int) -> None:
    """Two agents of ``torchrun --nnodes 2 --nproc-per-node 1`` on one c10d rendezvous on
    localhost, node ranks 0 and 1: two "nodes" of one process each."""
    port = _free_port()
    agents = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                                "--node-rank", str(node), "--rdzv-backend", "c10d", "--rdzv-endpoint",
                                f"127.0.0.1:{port}", "--rdzv-id", "scale-check", *_worker_args(case, epochs)],
                               cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for node in (0, 1)]
    outcomes = [agent.communicate(timeout=900) for agent in agents]
    if any(agent.returncode for agent in agents):
        raise RuntimeError(f"the two-node run failed: {[err[-2000:] for _, err in outcomes]}")


def _result(case: Path) -> dict:
    return json.loads((case / "result.json").read_text())


def _weights(case: Path) -> dict:
    return torch.load(case / "weights.pt", weights_only=True)


def _largest(a: dict, b: dict) -> float:
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def _loss_gap(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / abs(y) for x, y in zip(a, b, strict=True))


def _row(name: str, case: Path, nodes: int, reference: Path) -> dict:
    found = _result(case)
    return {"launch": name, "nodes": nodes, **{k: found[k] for k in ("processes", "per_device_batch",
                                                                      "accumulation", "global_batch", "steps",
                                                                      "identity", "losses", "processes_where")},
            "samples": found["samples_this_part"],
            "loss_max_relative_difference": _loss_gap(found["losses"], _result(reference)["losses"]),
            "weights_max_abs_difference": _largest(_weights(case), _weights(reference))}


def study(out: Path, counts: tuple[int, ...], epochs: int) -> dict:
    """Every launch of the study in ``out/work`` (removed first), against one process."""
    work = out / "scale-check-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    one = work / "p1"
    _run(_command(1, _worker_args(one, epochs)))
    rows = [_row("1 process", one, 1, one)]
    for count in (c for c in counts if c != 1):
        _run(_command(count, _worker_args(work / f"p{count}", epochs)))
        rows.append(_row(f"{count} processes", work / f"p{count}", 1, one))
    _run(_command(2, _worker_args(work / "p2-accumulated", epochs, per_device=2)))
    rows.append(_row("2 processes, --batch-size-per-device 2", work / "p2-accumulated", 1, one))
    _two_nodes(work / "nodes2", epochs)
    rows.append(_row("2 nodes x 1 process", work / "nodes2", 2, one))

    steps = rows[0]["steps"]
    pause = max(2, steps // 2)
    biggest = max(counts)
    # preempted on the most processes, resumed on 2
    moved = work / "moved"
    status, err, seconds = _stopped(_command(biggest, _worker_args(moved, epochs, pause_at=pause)))
    saved = sorted(moved.glob("checkpoints/*.run/checkpoint-*"))
    written_by = json.loads((saved[-1] / "progress.json").read_text())["batch"] if saved else None
    _run(_command(2, _worker_args(moved, epochs)))
    resumed = _row(f"{biggest} processes, SIGTERM, resumed on 2", moved, 1, one)
    workers = sum(line.startswith("terminated: ") for line in err.splitlines())  # each worker's one line
    resume = {"stopped_on": biggest, "resumed_on": 2, "launcher_exit_status": status, "workers_terminated": workers,
              "seconds_to_exit": seconds,
              "checkpoints": [p.name for p in saved], "checkpoint_written_by": written_by,
              "steps_after_resume": _result(moved)["steps"] - int(saved[-1].name.split("-")[1]) if saved else None,
              "loss_max_relative_difference": resumed["loss_max_relative_difference"],
              "weights_max_abs_difference": resumed["weights_max_abs_difference"],
              "identity": resumed["identity"],
              "matched": bool(saved) and resumed["loss_max_relative_difference"] <= LOSS_TOLERANCE
              and resumed["weights_max_abs_difference"] <= WEIGHT_TOLERANCE and resumed["steps"] == steps}
    # SIGTERM to one process, then the same command again
    single = work / "sigterm"
    command = _command(1, _worker_args(single, epochs, pause_at=pause))
    status, err, seconds = _stopped(command)
    lines = [line for line in err.splitlines() if line.strip()]
    saved = sorted(single.glob("checkpoints/*.run/checkpoint-*"))
    _run(command)
    rerun = _row("1 process, SIGTERM, rerun", single, 1, one)
    sigterm = {"exit_status": status, "stderr_lines": len(lines), "stderr": lines[-1] if lines else "",
               "seconds_to_exit": seconds, "checkpoints": [p.name for p in saved],
               "weights_max_abs_difference": rerun["weights_max_abs_difference"],
               "bitwise_equal": all(torch.equal(a, b) for a, b in zip(_weights(single).values(),
                                                                        _weights(one).values())),
               "losses_equal": _result(single)["losses"] == _result(one)["losses"]}
    shutil.rmtree(work, ignore_errors=True)
    same = {key: len({str(r[key]) for r in rows}) == 1 for key in ("steps", "global_batch", "samples", "identity")}
    return {"rows": rows, "same_across_launches": same, "loss_tolerance": LOSS_TOLERANCE,
            "weight_tolerance": WEIGHT_TOLERANCE,
            "curves_within_tolerance": all(r["loss_max_relative_difference"] <= LOSS_TOLERANCE and
                                           r["weights_max_abs_difference"] <= WEIGHT_TOLERANCE for r in rows),
            "resume_across_counts": resume, "sigterm": sigterm, "pause_at_step": pause, "epochs": epochs,
            "rows_per_epoch": ROWS}
