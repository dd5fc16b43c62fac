"""The one train-or-load cache of the harness: a network is trained once per identity and kept.

A network's identity is exactly what its weights depend on -- the method and its own
settings, the network it is built on, the data, the training budget and the seed -- and
nothing a table only evaluates with (steps, solver, evaluation batch) or another method's
settings.  The weights live in ``<out>/checkpoints/<name>-<hash of the identity>/`` beside the
identity, the training seconds and the loss record of every logging step (for SymmFlow the
image and label terms of eq. 3 apart, :class:`~symmflow.path.LossParts`); a folder whose
stored identity differs is never loaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from benchmarks.cells import canonical, digest, settings_identity
from benchmarks.cost import Ledger
from benchmarks.store import locked
from symmflow.batching import BatchPlan
from symmflow.checkpoint import load_weights, save_weights, saved_settings
from symmflow.distributed import Shard, wait_for_everyone
from symmflow.errors import UsageError
from symmflow.outputs import set_aside
from symmflow.tracking import Tracking
from symmflow.train import TrainConfig, fit


@dataclass
class Trained:
    model: nn.Module
    """The network in eval mode, on the requested device (EMA weights when an EMA was kept)."""
    train_s: float
    stats: list[dict]
    """Per logging step: step, loss and, for SymmFlow, x_mse and y_mse."""


def trained_model(name: str, identity: dict, build: Callable[[], nn.Module], loss, batches: Callable[[], Iterator],
                  config: TrainConfig, out: Path, *, seed: int, device: str = "cpu",
                  progress: bool = True, desc: str | None = None, shard: Shard = Shard(),
                  report_to: str | None = None, ledger: Ledger | None = None,
                  checkpoint_every: int | None = None, plan: BatchPlan | None = None) -> Trained:
    """The network ``name`` of ``identity``: loaded when stored, else trained by :func:`fit` and stored.

    ``identity`` must hold every setting the weights depend on except the budget and the
    seed, which are added here; ``batches()`` is only called when training.  Two runs sharing
    ``out`` never train one identity twice: the second waits for the first and loads its
    network.  On several processes all of them train, and the main one stores.  ``report_to``
    logs a training to a tracker in ``<out>/logs/<the folder's name>`` (:mod:`symmflow.tracking`).
    With a ``ledger`` (a dry run) nothing is trained, loaded or written: the untrained network
    comes back as a timed stand-in, charged its training when it is not stored (:mod:`benchmarks.cost`).

    ``config.batch_size`` is the global batch; ``plan`` splits it over the processes and gradient
    accumulation (:mod:`symmflow.batching`; default: an equal share per process, no accumulation) and
    ``batches()`` yields this process's micro-batches of that split.  The identity holds the global
    batch only, so a network trained on 1, 2 or 4 processes is one network (reference notes
    section 6: the authors' 2 x 32 on CelebAMask-HQ is a global batch of 64), and a training stopped
    on one process count resumes on another.  Each process draws the loss's noise from its own
    seed (the first from the run's), so the weights of two launches differ by those draws.
    """
    plan = BatchPlan(config.batch_size, shard.count) if plan is None else plan
    if plan.global_batch != config.batch_size or plan.processes != shard.count:
        raise ValueError(f"a plan of {plan.global_batch} over {plan.processes} processes for a global batch of "
                         f"{config.batch_size} over {shard.count}")
    if checkpoint_every is not None:  # the run's --checkpoint-every
        config = replace(config, checkpoint_every=checkpoint_every)
    # the weights do not depend on logging, checkpointing or the speed switches (beyond rounding)
    bookkeeping = ("log_every", "checkpoint_every", "keep_checkpoints", "compile", "channels_last")
    budget = {k: v for k, v in settings_identity(config).items() if k not in bookkeeping}
    identity = _plain({**identity, "name": name, "budget": budget, "seed": seed})
    folder = Path(out) / "checkpoints" / f"{name}-{digest(identity)}"
    per_process = replace(config, batch_size=plan.per_device, gradient_accumulation_steps=plan.accumulation)
    if ledger is not None:
        try:
            cached = _stored(folder, identity) is not None
        except DAMAGED:  # a real run retrains it
            cached = False
        return Trained(ledger.stand_in(folder.name, build(), loss, batches, per_process, cached, device), 0.0, [])
    with locked(folder.with_name(f".{folder.name}.lock"), shard.is_main):
        wait_for_everyone(shard, device)
        try:
            stored = _stored(folder, identity)
            if stored is not None:
                model = load_weights(build(), folder)
                return Trained(model.to(device).eval(), float(stored["train_s"]), list(stored.get("stats", [])))
        except DAMAGED as damaged:  # a damaged entry is retrained
            if shard.is_main:
                set_aside(folder, str(damaged))
        torch.manual_seed(seed)
        network = build()  # the same initial weights on every process
        if shard.index:  # the noise of the loss: each process its own
            torch.manual_seed(int(digest([seed, shard.index], 15), 16))
        tracking = None if report_to is None else Tracking(report_to, Path(out) / "logs" / folder.name)
        result = fit(network, loss, batches(), per_process, device=device,
                     run_dir=folder.with_name(folder.name + ".run"), desc=desc or f"train {name}", progress=progress,
                     tracking=tracking)
        train_s = result.seconds  # every part of a training that was interrupted and resumed
        if shard.is_main:
            save_weights(result.model, folder, {"identity": identity, "train_s": train_s, "stats": result.stats},
                         overwrite=True)  # a folder of another identity under this hash: replaced whole
        wait_for_everyone(shard, device)
    return Trained(result.model.to(device).eval(), train_s, result.stats)


DAMAGED = (UsageError, KeyError, TypeError, ValueError)
"""What reading a damaged model-cache entry raises."""


def _stored(folder: Path, identity: dict) -> dict | None:
    """The stored settings of ``folder`` when it holds the network of ``identity`` (None: absent,
    or another identity under this hash); a damaged entry raises one of :data:`DAMAGED`."""
    stored = saved_settings(folder)
    return stored if stored is not None and canonical(stored.get("identity")) == canonical(identity) else None


def _plain(obj):
    """``obj`` as plain JSON values (dataclasses as dicts, tuples as lists), so that an identity
    read back from ``settings.json`` compares equal to the one computed here."""
    import json

    def expand(value):
        if is_dataclass(value) and not isinstance(value, type):
            return asdict(value)
        if isinstance(value, dict):
            return {k: expand(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [expand(v) for v in value]
        return value

    return json.loads(canonical(expand(obj)))
