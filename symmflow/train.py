"""The training loop, on accelerate (notes section 1).

AdamW (weight decay 0 by default), a one-cycle schedule (warm-up from ``min_lr`` to ``lr``, linear
or the authors' cosine, then cosine back down to ``min_lr``), an EMA of the weights updated every
step (diffusers' ``EMAModel``, with its decay warm-up or the authors' constant decay), bf16
autocast when asked, gradient accumulation, and resumable
checkpoints (``accelerator.save_state`` to ``run_dir/checkpoint-{step}``, weights in
safetensors: :mod:`symmflow.train_state`; a rerun resumes from the latest and skips the global
batches already consumed, on the process count that wrote it or on another; SIGTERM, a cluster's
preemption, saves the state at the current step and ends the training with
:class:`~symmflow.errors.Terminated`), a held-out metric measured every few steps
(:mod:`symmflow.validation`).  Launched
on several processes (``accelerate launch``, ``torchrun``) it is data-parallel, as the diffusers
training examples are: each process draws its own shard of every batch
(:mod:`symmflow.data.streams`), the gradients are averaged, and only the main process writes.
The loop knows nothing of the method: ``loss_fn(model, batch)`` returns the loss to minimise,
or SymmFlow's :class:`~symmflow.path.LossParts`, whose image and label terms (eq. 3) are then
logged beside the total.  Logged values are means over the
``log_every`` steps since the previous record.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Iterator, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from symmflow.errors import Terminated, UsageError
from symmflow.outputs import set_aside, write_atomic
from symmflow.train_state import (PROGRESS, checkpoint_problem, checkpoint_step, checkpoints,  # noqa: F401
                                  latest_checkpoint, save_checkpoint, state_files_problem)
from symmflow import tracking as tracked
from symmflow.path import LossParts
from symmflow.schedules import lr_schedule, weights_average
from symmflow.tracking import Tracking
from symmflow.validation import Validation, validated


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    lr: float
    batch_size: int
    optimizer: Literal["adam", "adamw"] = "adamw"
    weight_decay: float = 0.0
    schedule: Literal["constant", "onecycle", "onecycle-cosine"] = "constant"
    """``onecycle``: a linear warm-up from ``min_lr`` to ``lr``, then cosine down to ``min_lr`` (the
    cpu and smoke profiles); ``onecycle-cosine``: torch's ``OneCycleLR`` with cosine warm-up and
    decay between ``min_lr`` and ``lr`` -- the authors' (:func:`symmflow.schedules.one_cycle_cosine`)."""
    warmup_steps: int = 0
    min_lr: float = 1e-6
    ema_decay: float | None = None
    ema_warmup: bool = True
    """diffusers' ``EMAModel`` rule: the decay capped by ``(1 + s) / (10 + s)`` while it warms up;
    False: the authors' -- the weights copied at step 0, then the constant decay every step
    (reference notes section 11)."""
    mixed_precision: Literal["no", "bf16"] = "no"
    grad_clip: float | None = None
    checkpoint_every: int = 0
    gradient_accumulation_steps: int = 1
    """Batches whose gradients are summed into one optimiser step (a step consumes this many)."""
    keep_checkpoints: int = 2
    """How many of the latest checkpoints a run keeps (older ones are deleted once a newer one is complete)."""
    log_every: int = 50
    compile: bool = False
    """Compile the network with ``torch.compile`` (inductor, through accelerate's dynamo plugin)."""
    channels_last: bool = False
    """Keep the network's convolution weights channels-last (NHWC).  Both switches change the
    speed, not the method; measured against the eager step in results/<profile>/perf.md."""

    LATER_FIELDS: ClassVar[dict] = {"gradient_accumulation_steps": 1, "ema_warmup": True}
    """Options added after networks were stored, at the values that reproduce them (left out of a
    network's identity: :func:`benchmarks.cells.settings_identity`)."""

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.batch_size <= 0 or self.lr <= 0 or self.gradient_accumulation_steps <= 0:
            raise ValueError("steps, batch_size, lr and gradient_accumulation_steps must be positive")


@dataclass
class TrainResult:
    model: nn.Module
    """The trained network, with the EMA weights copied in when an EMA was kept."""
    losses: list[tuple[int, float]]
    """(step, loss) every ``log_every`` steps, of every part of a resumed training."""
    resumed_from: int
    stats: list[dict]
    """One record per ``log_every`` steps: step, loss and, for :class:`LossParts`, x_mse and y_mse
    (means over the batches since the previous record and over the processes) -- of every part of
    a training that was interrupted and resumed."""
    seconds: float = 0.0
    """Training wall seconds, every part of an interrupted and resumed training summed."""
    validation: list[dict] = field(default_factory=list)
    """The held-out metric's records (:func:`symmflow.validation.measure`), of every part of a resumed training."""


class PeerLost(UsageError):
    """Another process of a multi-process training stopped (killed, out of memory, its node gone):
    this one ends in one line instead of a collective's traceback, its last checkpoint kept."""


PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "NCCL communicator was aborted",
             "Socket Timeout", "connection refused")


def peer_lost(error: BaseException) -> bool:
    """``error`` is a collective failing because a peer process is gone (gloo's and NCCL's words)."""
    import torch.distributed as dist

    return isinstance(error, getattr(dist, "DistError", ())) or any(
        words.lower() in str(error).lower() for words in PEER_GONE)


def _lost(error: BaseException, step: int, processes: int, run_dir: Path | None) -> PeerLost:
    found = latest_checkpoint(run_dir) if run_dir is not None else None
    kept = (f"its last checkpoint is {found[1]}: rerun the same command to resume from step {found[0]}" if found
            else "no checkpoint was kept: rerun the same command to train again")
    said = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = " ".join((said[0] if said else type(error).__name__).split())[:160]
    return PeerLost(f"another process of this {processes}-process training stopped during step {step + 1} ({reason}); "
                    f"this one ends too; {kept}")


def _diverged(loss: torch.Tensor, step: int, run_dir: Path | None) -> UsageError:
    found = latest_checkpoint(run_dir) if run_dir is not None else None
    last = f"the last good checkpoint is {found[1]}" if found else "no checkpoint was kept"
    return UsageError(f"training diverged: the loss is {loss.detach().float().mean().item()} at step {step + 1}; "
                      f"{last}; lower the learning rate and train again")


def _backward(model, loss_fn, batch, accelerator, autocast, step: int, config: TrainConfig,
              run_dir: Path | None) -> dict[str, torch.Tensor]:
    """The loss of one batch and its gradient; the loss terms by name (``total`` for the loss)."""
    try:
        with autocast:
            out = loss_fn(model, batch)
        terms = out._asdict() if isinstance(out, LossParts) else {"total": out}
        if not torch.isfinite(terms["total"].detach()).all():
            raise _diverged(terms["total"], step, run_dir)
        accelerator.backward(terms["total"])
    except torch.OutOfMemoryError:
        raise UsageError(f"out of {accelerator.device.type.upper()} memory at step {step + 1} with a batch of "
                         f"{config.batch_size} per process; lower the batch size per device (--batch-size-per-device: "
                         "the global batch is kept by gradient accumulation), or use more devices") from None
    return terms


def _split(accelerator, config: TrainConfig) -> dict:
    """How this training splits its global batch (what a checkpoint records of it)."""
    processes, accumulation = accelerator.num_processes, config.gradient_accumulation_steps
    return {"processes": processes, "per_device_batch": config.batch_size, "accumulation": accumulation,
            "global_batch": config.batch_size * processes * accumulation}


def _resume(accelerator, path: Path, saved: dict | None, split: dict, step: int) -> None:
    """Restore the checkpoint ``path`` of ``step``: weights, EMA, optimiser and schedule.  Written on
    this process count (or before checkpoints recorded it), every process's RNG states too, so the
    run goes on bitwise; written on another, those states belong to other processes: each process
    keeps its own generators and reseeds torch's from its seed, the step and its index."""
    if saved and saved.get("global_batch") not in (None, split["global_batch"]):
        raise UsageError(f"the checkpoint {path} was written at a global batch of {saved['global_batch']}, this "
                         f"training's is {split['global_batch']}; resume with the settings that wrote it, or "
                         "remove its folder to start again")
    if not saved or saved.get("processes") == split["processes"]:
        accelerator.load_state(str(path))
        return
    import numpy as np

    kept, seed = (random.getstate(), np.random.get_state()), torch.initial_seed()
    accelerator.load_state(str(path))
    random.setstate(kept[0])
    np.random.set_state(kept[1])
    key = f"{seed}:{step}:{accelerator.process_index}".encode()
    torch.manual_seed(int(hashlib.sha1(key).hexdigest()[:15], 16))


class _Preemption:
    """SIGTERM during a training: a flag the loop reads between steps (the handler is this
    training's while it runs, in the main thread; the one before it comes back afterwards)."""

    def __init__(self, active: bool):
        self.active, self.signalled, self._previous = active, False, None
        if active and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._set)

    def _set(self, signum, frame) -> None:
        self.signalled = True

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def requested(self, accelerator) -> bool:
        """Whether any process was signalled: every process stops after the same step."""
        if not self.active or accelerator.num_processes == 1:
            return self.signalled
        flag = torch.tensor([float(self.signalled)], device=accelerator.device)
        return bool(accelerator.reduce(flag, reduction="sum").item() > 0)


@torch.enable_grad()
def fit(model: nn.Module, loss_fn: Callable[[nn.Module, object], torch.Tensor],
        batches: Iterator, config: TrainConfig, *, device: str = "auto",
        run_dir: Path | None = None, desc: str = "train", progress: bool = True,
        tracking: Tracking | None = None, validation: Validation | None = None,
        resume_from: Path | None = None) -> TrainResult:
    """Train ``model`` for ``config.steps`` steps on ``batches`` and return it (EMA weights if kept);
    ``tracking`` also logs the loss terms, the learning rate and sample grids to a tracker;
    ``validation`` measures a held-out metric every ``validation.every`` steps and at the end (logged
    to the tracker, kept in the checkpoints); ``resume_from`` names the checkpoint to resume instead of
    ``run_dir``'s latest (checked by the caller, :func:`checkpoint_problem`).  Gradients
    are on whatever the caller's context: an evaluation under ``torch.no_grad`` may train a network
    its model cache lacks."""
    from accelerate import Accelerator
    from accelerate.utils import TorchDynamoPlugin

    # bf16 by autocast here rather than by the accelerator's state, which one process can set only
    # once: a run trains networks of several precisions (the scene features in fp32)
    accelerator = Accelerator(cpu=device == "cpu", gradient_accumulation_steps=config.gradient_accumulation_steps,
                              step_scheduler_with_optimizer=False,
                              log_with=None if tracking is None else tracking.report_to,
                              project_dir=None if tracking is None else str(tracking.logging_dir),
                              dynamo_plugin=TorchDynamoPlugin(backend="inductor" if config.compile else "no"))
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    autocast = torch.autocast(accelerator.device.type, dtype=torch.bfloat16,
                              enabled=config.mixed_precision == "bf16")
    opt_cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    optimizer = opt_cls(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = lr_schedule(optimizer, config)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    ema = None
    if config.ema_decay is not None:
        ema = weights_average(accelerator.unwrap_model(model).parameters(), config)
        ema.to(accelerator.device)
        accelerator.register_for_checkpointing(ema)

    start, stats, checks, before, split = 0, [], [], 0.0, _split(accelerator, config)
    found = latest_checkpoint(run_dir) if run_dir is not None else None
    if resume_from is not None:
        found = (checkpoint_step(resume_from), Path(resume_from))
    while found and resume_from is None and (why := checkpoint_problem(found[1], model)):
        if accelerator.is_main_process:  # a stored state that cannot be this run's: set aside, the one before used
            set_aside(found[1], why)
        accelerator.wait_for_everyone()
        found = latest_checkpoint(run_dir)
    if found:
        start, path = found
        # the records, seconds and batch split of the parts before this one
        earlier = json.loads((path / PROGRESS).read_text()) if (path / PROGRESS).is_file() else {}
        _resume(accelerator, path, earlier.get("batch"), split, start)
        for _ in range(start * config.gradient_accumulation_steps):  # the data position: global batches consumed
            next(batches)
        stats, before = list(earlier.get("stats", [])), float(earlier.get("seconds", 0.0))
        checks = list(earlier.get("validation", []))
    if tracking is not None:
        tracked.start(accelerator, tracking, desc, asdict(config))
    began = time.perf_counter()
    sums: dict[str, torch.Tensor] = {}
    since = 0
    model.train()
    bar = tqdm(range(start, config.steps), desc=desc, initial=start, total=config.steps,
               disable=not progress or not accelerator.is_local_main_process, dynamic_ncols=True)
    preemption = _Preemption(run_dir is not None)
    step = start
    try:
        for step in bar:
            for _ in range(config.gradient_accumulation_steps):
                with accelerator.accumulate(model):
                    terms = _backward(model, loss_fn, next(batches), accelerator, autocast, step, config, run_dir)
                    if config.grad_clip is not None and accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(model.parameters(), config.grad_clip)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                for name, value in terms.items():
                    sums[name] = sums.get(name, 0.0) + value.detach().float()
                since += 1
            scheduler.step()
            if ema is not None:
                ema.step(accelerator.unwrap_model(model).parameters())
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                means = {("loss" if k == "total" else k): accelerator.gather(v / since).mean().item()
                         for k, v in sums.items()}
                stats.append({"step": step + 1, **means})
                sums, since = {}, 0
                bar.set_postfix(loss=f"{means['loss']:.4f}", refresh=False)
                if tracking is not None:
                    accelerator.log({**means, "lr": scheduler.get_last_lr()[0]}, step=step + 1)
            if tracking is not None and ((step + 1) % tracking.samples_every == 0 or step + 1 == config.steps):
                tracked.log_samples(accelerator, tracking, model, ema, step + 1)
            if validation is not None and ((step + 1) % validation.every == 0 or step + 1 == config.steps):
                checks.append(validated(accelerator, validation, model, ema, step + 1, tracking is not None))
            kept = {"stats": stats, "seconds": before + time.perf_counter() - began, "batch": split,
                    "validation": checks}
            if run_dir is not None and config.checkpoint_every and (step + 1) % config.checkpoint_every == 0:
                save_checkpoint(accelerator, run_dir, step + 1, config.keep_checkpoints, kept)
            if preemption.requested(accelerator):
                final = run_dir / f"checkpoint-{step + 1}"
                if not final.is_dir():  # not just written by checkpoint_every
                    save_checkpoint(accelerator, run_dir, step + 1, config.keep_checkpoints, kept)
                raise Terminated(f"the training's state at step {step + 1} of {config.steps} is saved in {final}; "
                                 "rerun the same command to resume it")
    except Exception as error:
        if accelerator.num_processes > 1 and peer_lost(error):
            raise _lost(error, step, accelerator.num_processes, run_dir) from None
        raise
    finally:
        preemption.restore()
        bar.close()
    if tracking is not None:
        accelerator.end_training()
    seconds = before + time.perf_counter() - began
    if run_dir is not None and accelerator.is_main_process:
        write_atomic(run_dir / "train_config.json", json.dumps(asdict(config), indent=2))
        write_atomic(run_dir / "stats.jsonl", "".join(json.dumps(record) + "\n" for record in stats))
    trained = accelerator.unwrap_model(model)
    if ema is not None:
        ema.copy_to(trained.parameters())
    return TrainResult(trained.eval(), [(r["step"], r["loss"]) for r in stats], start, stats, seconds, checks)
