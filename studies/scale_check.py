"""One network, whatever the launch: ``python -m studies.scale_check --processes 1,2,4 --out DIR
[--epochs 2]``.

A tiny network on the latent path -- SymmFlow's velocity over the 8-channel concatenation of a
4-channel image latent and a 4-channel mask latent (reference notes section 6), image weight 0.7,
AdamW with a one-cycle schedule and an EMA -- is trained through the harness's model cache
(:func:`benchmarks.trained.trained_model`) on a global batch of 16 for ``--epochs`` epochs of
ceil(200 / 16) steps (notes section 11), on 1, 2 and 4 CPU processes (``torchrun --standalone``,
gloo), on 2 processes with at most 2 samples per device (gradient accumulation), and on two
"nodes" (two ``torchrun --nnodes 2`` agents on a localhost c10d rendezvous).  The path's noise is
keyed by each sample's place in its global batch, so every launch computes the same steps and
differs from one process only by the order of float reductions.  Then:

* a training on 4 processes is stopped by SIGTERM to its launcher midway (the state saved at the
  current step) and resumed on 2;
* a training on one process is stopped by SIGTERM midway: it saves its state, exits 143 with one
  line on stderr, and the same command run again resumes it.

Writes ``DIR/scale-check.{json,md}``: per launch the optimiser steps, the split of the global
batch, the samples seen, the network's identity, the loss at every step and the final weights'
largest difference from one process.  ``python -m studies.scale_check worker ...`` is one
process of a launch.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from symmflow.errors import OneLineParser, Terminated, UsageError, first_paragraph, terminated
from symmflow.outputs import write_atomic

ROOT = Path(__file__).resolve().parent.parent
ROWS, SIZE, LATENT, GLOBAL_BATCH, SEED = 200, 8, 4, 16, 0
"""Training rows, latent side, channels of each latent, the global batch, the seed."""
LOSS_TOLERANCE = 1e-4
"""The largest relative difference of a logged loss from one process's that counts as equal:
the launches differ by the order of float32 reductions only (measured well below it)."""
WEIGHT_TOLERANCE = 1e-3
"""The same for the final (EMA) weights, as the largest absolute difference: wider, since AdamW's
first steps turn a gradient at the level of rounding into a step of up to the learning rate."""


# ---------------------------------------------------------------- one process of a launch


def _network():
    from benchmarks.profiles import SEGSYNTH
    from symmflow.method import SymmFlow
    from symmflow.models.pixel_unet import UNetConfig, pixel_unet

    settings = SEGSYNTH["paper"].symmflow  # the latent profile's SymmFlow: image weight 0.7
    unet = UNetConfig(base_channels=8, multipliers=(1, 2), layers_per_block=1, head_channels=8, norm_groups=4)
    return settings, unet, lambda: SymmFlow(settings).velocity(pixel_unet(unet, 2 * LATENT, 2 * LATENT, SIZE),
                                                              LATENT)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    """Stand-in image latents and mask latents (the mask a function of the image, so there is
    something to learn)."""
    generator = torch.Generator().manual_seed(SEED)
    images = torch.randn(ROWS, LATENT, SIZE, SIZE, generator=generator)
    return images, torch.tanh(images.flip(1) + 0.3 * torch.randn(images.shape, generator=generator))


def _with_noise(stream, split, shard):
    """The stream's micro-batches with the path's noise (t, eps_x, eps_y) drawn per global batch
    and cut as its rows are: each sample's noise is the same on every launch; and the global
    batch's number, where a pause is keyed."""
    from symmflow.data.streams import micro_batches

    rows = micro_batches(split.per_device, shard, split.accumulation)
    for k, (images, masks) in enumerate(stream):
        number, micro = divmod(k, split.accumulation)
        generator = torch.Generator().manual_seed(1_000_003 * (SEED + 1) + number)
        t = torch.rand(split.global_batch, generator=generator)
        eps_x = torch.randn(split.global_batch, *images.shape[1:], generator=generator)
        eps_y = torch.randn(split.global_batch, *masks.shape[1:], generator=generator)
        mine = rows[micro]
        yield images, masks, t[mine], eps_x[mine], eps_y[mine], number


def worker(case: Path, epochs: int, per_device: int | None, accumulation: int | None, pause_at: int) -> int:
    """Train the network of this study as one process of a launch and, on the main one, write
    ``case/result.json`` and ``case/weights.pt``; SIGTERM ends it with status 143."""
    from benchmarks.trained import trained_model
    from symmflow.batching import plan
    from symmflow.data.streams import epoch_batches
    from symmflow.distributed import close, gather, launched
    from symmflow.path import LossParts, SymmetricPath
    from symmflow.train import TrainConfig

    torch.set_num_threads(1)
    shard = launched()
    settings, unet, build = _network()
    path = SymmetricPath(settings.sigma_min, settings.image_weight)
    split = plan(GLOBAL_BATCH, shard.count, per_device, accumulation)
    steps = epochs * -(-ROWS // GLOBAL_BATCH)
    config = TrainConfig(steps=steps, lr=5e-3, batch_size=GLOBAL_BATCH, schedule="onecycle", warmup_steps=3,
                         ema_decay=0.9, log_every=1)
    seen = [0]

    def loss(model, batch):
        images, masks, t, eps_x, eps_y, number = batch
        if number + 1 == pause_at:  # the first micro-batch of that step: time for a signal to arrive
            if shard.is_main:
                print("paused", flush=True)
            time.sleep(2.0)
        seen[0] += len(images)
        p = path.sample(images, masks, t, eps_x, eps_y)
        pred_x, pred_y = model(p.x_t, p.y_t, t)
        x_err = ((pred_x - p.v_x) ** 2).flatten(1).mean(1)
        y_err = ((pred_y - p.v_y) ** 2).flatten(1).mean(1)
        w = settings.image_weight
        return LossParts((w * x_err + (1 - w) * y_err).mean(), x_err.mean(), y_err.mean())

    images, masks = _data()
    identity = {"study": "scale-check", "data": {"rows": ROWS, "size": SIZE, "seed": SEED}, "network": asdict(unet),
                "settings": settings}
    try:
        trained = trained_model(
            "scale-check", identity, build, loss,
            lambda: _with_noise(epoch_batches(images, masks, batch_size=split.per_device, seed=SEED + 1, shard=shard,
                                              accumulation=split.accumulation), split, shard),
            config, case, seed=SEED, progress=False, shard=shard, plan=split)
    except Terminated as why:
        return terminated(str(why))
    samples = sum(gather([seen[0]], shard))
    places = gather([{"rank": shard.index, "node_rank": int(os.environ.get("GROUP_RANK", 0))}], shard)
    if shard.is_main:
        folder = next(p for p in (case / "checkpoints").iterdir() if p.is_dir() and not p.name.endswith(".run"))
        torch.save({k: v.detach().clone() for k, v in trained.model.state_dict().items()}, case / "weights.pt")
        write_atomic(case / "result.json", json.dumps({
            **split.record(), "steps": len(trained.stats), "planned_steps": steps,
            "losses": [r["loss"] for r in trained.stats], "samples_this_part": samples, "identity": folder.name,
            "processes_where": places, "train_s": trained.train_s}))
    close(shard)
    return 0


# ---------------------------------------------------------------- launches


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


# ---------------------------------------------------------------- the record


def markdown(record: dict, origin: dict, command: str) -> str:
    rows, resume, term = record["rows"], record["resume_across_counts"], record["sigterm"]
    lines = ["# One network whatever the launch: the global batch across process counts", "",
             f"Commit {origin['git_commit']}, {origin['device']}, {origin['versions']}. Command: `{command}`.", "",
             f"A tiny SymmFlow network on the latent path (8 channels: a 4-channel image latent and a 4-channel mask "
             f"latent at {SIZE} x {SIZE}, image weight 0.7, AdamW, one-cycle, EMA 0.9) trained through the model "
             f"cache on {ROWS} rows at a global batch of {GLOBAL_BATCH} for {record['epochs']} epochs of "
             f"ceil({ROWS} / {GLOBAL_BATCH}) steps (the stream yields whole global batches). The path's noise is "
             "keyed by each sample's place in its global batch, so the launches differ only in the order of float "
             f"reductions: a loss counts as equal within a relative {record['loss_tolerance']:g}, a weight within "
             f"{record['weight_tolerance']:g}.", "",
             "| launch | nodes | processes | per-device batch | accumulation | global batch | optimiser steps | "
             "samples seen | network identity | largest relative loss difference vs 1 process | largest weight "
             "difference vs 1 process |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['launch']} | {r['nodes']} | {r['processes']} | {r['per_device_batch']} | "
                     f"{r['accumulation']} | {r['global_batch']} | {r['steps']} | {r['samples']} | `{r['identity']}` | "
                     f"{r['loss_max_relative_difference']:.2e} | {r['weights_max_abs_difference']:.2e} |")
    same = record["same_across_launches"]
    lines += ["", "Equal across every launch: " + ", ".join(f"{k.replace('_', ' ')} {'yes' if v else 'NO'}"
                                                          for k, v in same.items())
              + "; loss curves and weights within the tolerance: "
              f"{'yes' if record['curves_within_tolerance'] else 'NO'}.",
              "", "The two-node run's processes (rank, node rank): " + ", ".join(
                  f"({p['rank']}, {p['node_rank']})"
                  for p in next(r for r in rows if r["nodes"] == 2)["processes_where"])
              + " -- two `torchrun --nnodes 2 --nproc-per-node 1` agents on a c10d rendezvous at 127.0.0.1.",
              "", "Loss at each step (1 process): " + ", ".join(f"{v:.4f}" for v in rows[0]["losses"]) + ".", "",
              "## Preempted on one process count, resumed on another", "",
              f"{resume['stopped_on']} processes under `torchrun`, SIGTERM to the launcher during step "
              f"{record['pause_at_step']}: the launcher passed it on to its workers, {resume['workers_terminated']} of "
              f"which saved the state together and ended with the one `terminated:` line of status 143 (the "
              f"launcher itself exits {resume['launcher_exit_status']}, its own way of reporting a signal), "
              f"{resume['seconds_to_exit']:.1f} s after the signal; checkpoints left: "
              f"{', '.join(resume['checkpoints']) or 'none'}, written by {resume['checkpoint_written_by']}. The same "
              f"network (identity `{resume['identity']}`) resumed on {resume['resumed_on']} processes for its last "
              f"{resume['steps_after_resume']} steps: largest relative loss difference from the uninterrupted one "
              f"process {resume['loss_max_relative_difference']:.2e}, largest weight difference "
              f"{resume['weights_max_abs_difference']:.2e}: {'matched' if resume['matched'] else 'NOT matched'}.", "",
              "## SIGTERM to one process", "",
              f"SIGTERM during step {record['pause_at_step']}: exit status {term['exit_status']}, "
              f"{term['stderr_lines']} line on stderr (`{term['stderr']}`), {term['seconds_to_exit']:.1f} s after the "
              f"signal; checkpoints left: {', '.join(term['checkpoints']) or 'none'}. The same command again resumed "
              f"it: final weights {'bitwise equal to' if term['bitwise_equal'] else 'different from'} the "
              f"uninterrupted run's (largest difference {term['weights_max_abs_difference']:.2e}), loss record "
              f"{'equal' if term['losses_equal'] else 'different'}."]
    return "\n".join(lines) + "\n"


def parse_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(c) for c in text.split(",") if c.strip())
    except ValueError:
        raise UsageError(f"--processes {text!r} is not a comma-separated list of integers, e.g. 1,2,4") from None
    if 1 not in counts or min(counts) < 1 or any(GLOBAL_BATCH % c for c in counts) or 2 not in counts:
        raise UsageError(f"--processes {text!r}: give counts that divide the global batch of {GLOBAL_BATCH}, "
                         "1 and 2 among them, e.g. 1,2,4")
    return counts


def main(argv=None) -> int:
    from benchmarks.provenance import provenance

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == ["worker"]:
            p = OneLineParser(prog="python -m studies.scale_check worker", description="One process of a launch.")
            p.add_argument("--case", type=Path, required=True, help="The folder of this launch.")
            p.add_argument("--epochs", type=int, required=True, help="Epochs over the training rows.")
            p.add_argument("--batch-size-per-device", type=int, default=None,
                           help="The most samples per device (default: the process's whole share).")
            p.add_argument("--pause-at", type=int, default=0,
                           help="Pause two seconds in this step, for a signal to arrive (default 0: never).")
            args = p.parse_args(argv[1:])
            return worker(args.case, args.epochs, args.batch_size_per_device, None, args.pause_at)
        p = OneLineParser(prog="python -m studies.scale_check", description=first_paragraph(__doc__))
        p.add_argument("--processes", type=parse_counts, default=(1, 2, 4),
                       help="Process counts to train on, 1 and 2 among them (default: 1,2,4).")
        p.add_argument("--epochs", type=int, default=2, help="Epochs over the 200 rows (default: 2).")
        p.add_argument("--out", type=Path, required=True, help="The folder scale-check.json and .md go to.")
        args = p.parse_args(argv)
        if args.epochs < 1:
            raise UsageError(f"--epochs {args.epochs}: use at least 1")
        args.out.mkdir(parents=True, exist_ok=True)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    origin = provenance("cpu")  # the code the record ran, as it starts
    record = study(args.out, args.processes, args.epochs)
    command = "python -m studies.scale_check " + " ".join(argv)
    write_atomic(args.out / "scale-check.json", json.dumps({**record, "provenance": origin, "command": command},
                                                           indent=1))
    text = markdown(record, origin, command)
    write_atomic(args.out / "scale-check.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
