"""Train a model folder from image folders: ``symmflow train`` as a Python function.

:func:`train_model` takes the settings of ``symmflow train`` (the command is a thin layer over it) and
trains as the diffusers training examples do: checkpoints every ``checkpointing_steps`` steps,
``resume_from_checkpoint="latest"`` (or a checkpoint's folder) to go on from one -- a run killed
and resumed ends with the weights of an uninterrupted one, bitwise on one machine
(:func:`symmflow.train.fit`) -- a share of the images held out (``validation_split``) and measured
every ``validation_steps`` steps (:mod:`symmflow.validation`), an EMA of the weights of a stated
decay.  The model folder (diffusers' layout, its model card holding the held-out metric) is written
all-or-nothing (:func:`symmflow.pretrained.save_model`), so the checkpoints lie beside it, in
``<out>-checkpoints``, and stay there once the training ends (as the diffusers examples keep theirs),
the latest ``checkpoints_total_limit`` of them::

    import symmflow
    symmflow.train_model("imgs/", "masks/", out="model/", steps=1000, validation_split=0.1)

Every input is checked before training; bad input is one :class:`~symmflow.errors.UsageError` line.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from symmflow.device import PRECISIONS
from symmflow.errors import UsageError

EMA_WARMUP = "min(decay, (1 + s) / (10 + s)) at optimiser step s (diffusers' EMAModel)"
"""The EMA rule of ``symmflow train``: its decay, warmed up as diffusers' ``EMAModel`` warms it."""
NOT_IDENTITY = ("threads", "processes", "global_batch", "train_stats", "validation")
"""Settings a resumed training may change: the checkpoints of a run are its own for all the others."""


@dataclass(frozen=True)
class TrainOptions:
    """The settings of ``symmflow train`` (its options, named as their ``--`` forms with ``_``)."""

    images: Path
    out: Path
    masks: Path | None = None
    classes: int | None = None
    seed: int = 0
    size: int = 32
    steps: int = 2000
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    lr: float = 5e-4
    base_channels: int = 32
    beta: float | None = None
    image_weight: float = 0.9
    near_one: float = 0.0
    near_one_label_only: bool = False
    label_residual: bool = False
    mask_code: str = "palette"
    code_scale: float = 1.0
    ema_decay: float | None = None
    """None: 0.99, or 0.999 for trainings of more than 2,000 steps (:data:`EMA_WARMUP` either way)."""
    checkpointing_steps: int = 0
    checkpoints_total_limit: int = 2
    resume_from_checkpoint: str | None = None
    """``latest`` (the latest in ``<out>-checkpoints``; none there: a new training) or a checkpoint's folder."""
    validation_split: float = 0.0
    validation_steps: int = 500
    report_to: str | None = None
    logging_dir: Path | None = None
    compile: bool = False
    channels_last: bool = False
    precision: str = "fp32"
    """fp32, bf16 (autocast; weights and optimiser state fp32) or auto (bf16 where the device computes
    it natively): :func:`symmflow.device.resolve_precision`."""
    progress: bool = True
    overwrite: bool = False
    device: str = "auto"

    def __post_init__(self) -> None:
        """Each value under the rule its option has on the command line (:mod:`symmflow.arguments`)."""
        import argparse

        from symmflow import arguments as a

        for name in ("images", "out", "masks", "logging_dir"):  # paths given as text
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        rules = {"classes": a.POSITIVE, "seed": a.SEED, "size": a.SIZE, "steps": a.POSITIVE, "batch_size": a.POSITIVE,
                 "gradient_accumulation_steps": a.POSITIVE, "lr": a.RATE, "base_channels": a.CHANNELS,
                 "beta": a.RATE, "image_weight": a.SHARE, "near_one": a.SHARE, "code_scale": a.RATE,
                 "ema_decay": a.DECAY, "checkpointing_steps": a.COUNT, "checkpoints_total_limit": a.POSITIVE,
                 "validation_split": a.SHARE, "validation_steps": a.POSITIVE}
        for name, rule in rules.items():
            value = getattr(self, name)
            try:
                if value is not None and (isinstance(value, bool) or rule(str(value)) != value):
                    raise argparse.ArgumentTypeError(f"{value!r}: not a number of its kind")
            except argparse.ArgumentTypeError as error:
                raise UsageError(f"{name}: {error}") from None
        if self.mask_code not in ("palette", "per-class"):
            raise UsageError(f"mask_code: {self.mask_code!r}: use palette or per-class")
        if self.precision not in PRECISIONS:
            raise UsageError(f"precision: {self.precision!r}: use {', '.join(PRECISIONS)}")

    @classmethod
    def of(cls, args) -> "TrainOptions":
        """The options of parsed command-line arguments (those of its fields that ``args`` has)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})

    def ema(self) -> float:
        return self.ema_decay if self.ema_decay is not None else 0.999 if self.steps > 2000 else 0.99


def train_model(images, masks=None, *, out, **settings) -> Path:
    """Train on ``images`` (with ``masks``: segmentation; else one sub-folder per class) into the
    model folder ``out``; ``settings`` are :class:`TrainOptions`' fields.  Returns ``out``."""
    options = TrainOptions(images=images, masks=masks, out=out, **settings)
    train_with(options)
    return options.out


def _inputs(o: TrainOptions) -> tuple[Path, ...]:
    return (o.images, *([o.masks] if o.masks is not None else []))


def _check_out(o: TrainOptions) -> None:
    from symmflow.outputs import check_destination, check_outside

    if o.masks is None and Path(os.path.abspath(o.images)) in Path(os.path.abspath(o.out)).parents:
        raise UsageError(f"--out {o.out} lies inside --images {o.images}, where it would become a class of "
                         "the next training; choose a folder outside it")
    check_destination(o.out, o.overwrite, "model", _inputs(o))
    check_outside(o.out, _inputs(o))
    if not 0 <= o.validation_split < 1:
        raise UsageError(f"--validation-split {o.validation_split}: hold out a share in [0, 1), e.g. 0.1")


def train_with(o: TrainOptions) -> bool:
    """:func:`train_model` of ``o``, the claim on ``o.out`` held while it runs (:func:`~symmflow.outputs.claimed`);
    True on the process that saved the model (the main one)."""
    from symmflow.outputs import claimed

    _check_out(o)
    with claimed(o.out):
        return _train(o)


def _train(o: TrainOptions) -> bool:
    from symmflow.data.streams import draw_batches
    from symmflow.device import mixed_precision, resolve_device, resolve_precision
    from symmflow.distributed import close, launched
    from symmflow.method import SymmFlowSettings
    from symmflow.model_folder import network, parts
    from symmflow.outputs import check_free_space
    from symmflow.pretrained import save_model
    from symmflow.tracking import Tracking, logging_dir, sample_grid
    from symmflow.train import TrainConfig, fit
    from symmflow.user_files import classification_data, segmentation_data

    tracking_dir = None if o.report_to is None else logging_dir(o.report_to, o.logging_dir, o.out)
    if o.report_to is None and o.logging_dir is not None:
        raise UsageError("--logging-dir is the folder of --report-to's tracker: pass --report-to tensorboard "
                         "or wandb too, or leave --logging-dir out")
    device = resolve_device(o.device)
    precision = resolve_precision(o.precision, device)
    if o.masks is not None:
        images, labels, settings = segmentation_data(o)
        beta, code = 10.0 if o.beta is None else o.beta, "per-class" if o.mask_code == "per-class" else "image"
    else:
        images, labels, settings = classification_data(o)
        beta, code = 4.0 if o.beta is None else o.beta, "image"
    kept, held = _split(len(images), o)
    symmflow = SymmFlowSettings(image_weight=o.image_weight, beta=beta, label_code=code, near_one=o.near_one,
                                near_one_label_only=o.near_one_label_only,
                                label_form="residual" if o.label_residual else "velocity", code_scale=o.code_scale)
    shard = launched()  # accelerate launch / torchrun: every process trains on its shard, the main one saves
    settings.update(size=o.size, base_channels=o.base_channels, steps=o.steps, lr=o.lr, batch_size=o.batch_size,
                    gradient_accumulation_steps=o.gradient_accumulation_steps, symmflow=asdict(symmflow),
                    ema_decay=o.ema(), ema_warmup=EMA_WARMUP, validation_split=o.validation_split,
                    processes=shard.count, global_batch=o.batch_size * shard.count * o.gradient_accumulation_steps)
    settings.update(seed=o.seed, threads=torch.get_num_threads(), precision=precision)
    torch.manual_seed(o.seed)
    made, model = parts(settings), network(settings, device)
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    run_dir, resume = _checkpoints(o, settings, model)
    # the model, and per checkpoint its weights, EMA and the optimiser's two moments
    check_free_space(o.out, weights * (1 + (4 * o.checkpoints_total_limit if run_dir else 0)) + 2 ** 20)

    def loss(m, batch):
        x, y = batch
        return made.symmflow.loss_on_labels(m, x, y, made.codec)

    config = TrainConfig(steps=o.steps, lr=o.lr, batch_size=o.batch_size, schedule="onecycle",
                         warmup_steps=min(100, o.steps // 10), ema_decay=o.ema(),
                         gradient_accumulation_steps=o.gradient_accumulation_steps, compile=o.compile,
                         channels_last=o.channels_last, mixed_precision=mixed_precision(precision),
                         checkpoint_every=o.checkpointing_steps,
                         keep_checkpoints=o.checkpoints_total_limit)
    batches = draw_batches(images[kept], labels[kept], batch_size=o.batch_size, seed=o.seed, device=device,
                           shard=shard)
    tracking = None if o.report_to is None else Tracking(
        o.report_to, tracking_dir, samples=sample_grid(made.codec, settings, labels[kept], device),
        samples_every=max(1, min(500, o.steps // 4)))
    result = fit(model, loss, batches, config, device=device, desc="train", tracking=tracking,
                 progress=o.progress, run_dir=run_dir, resume_from=resume,
                 validation=_validation(o, settings, made, images[held], labels[held]))
    if shard.is_main:
        final = {**settings, "train_stats": result.stats}
        if result.validation:
            final["validation"] = result.validation[-1]
        save_model(result.model, o.out, final, overwrite=o.overwrite, inputs=_inputs(o))
    close(shard, device)
    return shard.is_main


def _split(count: int, o: TrainOptions):
    """Training and held-out rows of the ``count`` images (:func:`symmflow.validation.held_out`)."""
    from symmflow.validation import held_out

    kept, held = held_out(count, o.validation_split, o.seed)
    if len(kept) == 0:
        raise UsageError(f"--validation-split {o.validation_split} holds out all {count} images; hold out fewer")
    return kept, held


def _validation(o: TrainOptions, settings: dict, made, images, labels):
    """The held-out metric of the training (None without held-out images)."""
    from symmflow.validation import METRICS, Validation, measure

    if len(images) == 0:
        return None
    task = settings["task"]
    classes = settings["classes"] if task == "segmentation" else len(settings["class_names"])
    ignore = made.palette.ignore_index if made.palette is not None else None
    metric = measure(task, made.codec, made.label_shape, images, labels, classes, ignore, o.seed, o.batch_size)
    return Validation(METRICS[task], o.validation_steps, metric, len(images))


def checkpoint_folder(out: Path) -> Path:
    """Where the checkpoints of the training into ``out`` lie: ``<out>-checkpoints`` beside it."""
    return Path(f"{os.path.abspath(out)}-checkpoints")


def _identity(settings: dict) -> dict:
    """The settings a checkpoint must share to be resumed: all but :data:`NOT_IDENTITY`, and the
    precision only away from fp32 (checkpoints written before it was recorded trained at fp32)."""
    return {k: v for k, v in settings.items() if k not in NOT_IDENTITY and (k, v) != ("precision", "fp32")}


def _checkpoints(o: TrainOptions, settings: dict, model) -> tuple[Path | None, Path | None]:
    """(the run's checkpoint folder, the checkpoint to resume), checked before training: a checkpoint
    to resume must be of this training -- its settings (``settings.json`` beside it) and network --
    and a new training does not mix its checkpoints with an earlier one's."""
    from symmflow.outputs import check_new_place, write_atomic
    from symmflow.train_state import checkpoint_step, latest_checkpoint

    if not o.checkpointing_steps and o.resume_from_checkpoint is None:
        return None, None
    run_dir = check_new_place(checkpoint_folder(o.out), "the checkpoint folder")
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"{run_dir} is a file where the checkpoints go; move it or pass another --out")
    resume = None  # latest: the run's folder, from which the training resumes (a damaged one set aside)
    if o.resume_from_checkpoint == "latest":
        found = latest_checkpoint(run_dir) if run_dir.is_dir() else None
        if found:
            _check_resume(found[1], settings, o.steps)
    elif o.resume_from_checkpoint is not None:
        resume = Path(o.resume_from_checkpoint)
        if not resume.is_dir() or checkpoint_step(resume) is None:
            raise UsageError(f"--resume-from-checkpoint {resume} is not a checkpoint folder (checkpoint-<step>, "
                             f"as {run_dir} holds them); pass one, or latest")
        _check_resume(resume, settings, o.steps, model)
    elif run_dir.is_dir() and latest_checkpoint(run_dir):
        raise UsageError(f"{run_dir} holds the checkpoints of an earlier training: pass --resume-from-checkpoint "
                         "latest to resume it, or remove the folder to train anew")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / "settings.json", json.dumps(_identity(settings), indent=2, sort_keys=True))
    return run_dir, resume


def _check_resume(path: Path, settings: dict, steps: int, model=None) -> None:
    """Refuse a checkpoint of another training's settings, beyond ``steps`` or (given ``model``) whose
    files cannot restore that network (:func:`~symmflow.train_state.checkpoint_problem`)."""
    from symmflow.train_state import checkpoint_problem, checkpoint_step

    file = path.parent / "settings.json"
    try:
        stored = json.loads(file.read_text())
    except (OSError, ValueError):
        raise UsageError(f"--resume-from-checkpoint {path}: no readable {file.name} beside it, so not a checkpoint "
                         "of symmflow train; pass one of its checkpoints, or leave the option out") from None
    ours = _identity(settings)
    differ = sorted(k for k in set(stored) | set(ours) if stored.get(k) != ours.get(k))
    if differ:
        key = differ[0]
        raise UsageError(f"--resume-from-checkpoint {path} is a checkpoint of another training ({key}: "
                         f"{stored.get(key, 'absent')!r} there, {ours.get(key, 'absent')!r} here); resume with the "
                         "settings that wrote it, or leave the option out")
    if checkpoint_step(path) > steps:
        raise UsageError(f"--resume-from-checkpoint {path} lies beyond --steps {steps}; train for more steps")
    why = None if model is None else checkpoint_problem(path, model)
    if why:
        raise UsageError(f"--resume-from-checkpoint {path}: {why}; pass another checkpoint, or leave the option out")
