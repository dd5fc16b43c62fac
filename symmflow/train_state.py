"""A training's resumable state on disk (:func:`symmflow.train.fit`'s ``run_dir``): its checkpoint
folders ``checkpoint-<step>`` as ``accelerator.save_state`` writes them, each saved atomically with
the training's progress, and checked whole -- weights of the network's shapes, every other state
file readable -- before a training resumes from it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from torch import nn

from symmflow.outputs import write_atomic


def checkpoint_step(path: Path) -> int | None:
    """The step of a checkpoint folder by its name ``checkpoint-<step>`` (None: not such a name)."""
    found = re.fullmatch(r"checkpoint-(\d+)", Path(path).name)
    return int(found.group(1)) if found else None


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """The complete checkpoints of a run, (step, folder), oldest first."""
    return sorted((step, p) for p in Path(run_dir).glob("checkpoint-*") if (step := checkpoint_step(p)) is not None)


def checkpoint_problem(path: Path, model: nn.Module) -> str | None:
    """Why the checkpoint ``path`` cannot restore ``model``, or None: its weights file
    (``model.safetensors``, as ``accelerator.save_state`` writes it) must read and hold exactly
    the model's tensors with the model's shapes -- read from the file's header, before any state
    is loaded (a checkpoint of another network would otherwise fail inside accelerate); and its
    other files whole (:func:`state_files_problem`)."""
    from safetensors import safe_open

    file = Path(path) / "model.safetensors"
    if not file.is_file() and not (Path(path) / "pytorch_model.bin").is_file():
        return f"no model weights in {path}"
    other = state_files_problem(Path(path))
    if other or not file.is_file():
        return other
    try:
        with safe_open(str(file), framework="pt") as stored:
            shapes = {key: tuple(stored.get_slice(key).get_shape()) for key in stored.keys()}
    except Exception as error:  # safetensors' own error type, or OSError
        return f"{file} does not read ({' '.join(str(error).split())[:120]})"
    def plain(key: str) -> str:  # as the bare network names it (DDP's and torch.compile's wrappers removed)
        return re.sub(r"^((module|_orig_mod)\.)+", "", key)

    shapes = {plain(key): shape for key, shape in shapes.items()}
    wanted = {plain(key): tuple(value.shape) for key, value in model.state_dict().items()}
    wrong = sorted(set(shapes) ^ set(wanted)) or sorted(k for k in shapes if shapes[k] != wanted[k])
    if wrong:
        key = wrong[0]
        return (f"its weights are not this network's (first mismatch: {key}, "
                f"{shapes.get(key, 'absent')} stored, {wanted.get(key, 'absent')} wanted)")
    return None


def state_files_problem(path: Path) -> str | None:
    """The first of a checkpoint's files besides its weights that cannot read, or None: the
    progress record (JSON), and the optimiser, schedule, EMA and RNG states ``accelerator.save_state``
    writes (torch's zip archive, whole to its central directory, or a pickle ending in its STOP
    opcode) -- read without loading them, so a file cut short or emptied is found before resuming."""
    import zipfile

    progress = path / PROGRESS
    if progress.is_file():
        try:
            if not isinstance(json.loads(progress.read_text()), dict):
                return f"{progress} is not a progress record"
        except (OSError, ValueError) as error:
            return f"{progress} does not read ({' '.join(str(error).split())[:120]})"
    for file in sorted(path.iterdir()):
        if file.suffix not in (".bin", ".pkl", ".pt") or not file.is_file():
            continue
        size = file.stat().st_size
        with open(file, "rb") as f:
            head = f.read(1)
            f.seek(max(size - 1, 0))
            tail = f.read(1)
        if not (zipfile.is_zipfile(file) or (head == b"\x80" and tail == b".")):
            return f"{file} does not read ({'empty' if not size else 'damaged or truncated'})"
    return None


def latest_checkpoint(run_dir: Path) -> tuple[int, Path] | None:
    found = checkpoints(run_dir)
    return found[-1] if found else None


PROGRESS = "progress.json"
"""What a checkpoint keeps besides accelerate's state: the loss records, the training seconds so far
and the split of the global batch that wrote it (``batch``: :meth:`symmflow.batching.BatchPlan.record`)."""


def save_checkpoint(accelerator, run_dir: Path, step: int, keep: int, progress: dict | None = None) -> Path:
    """``accelerator.save_state`` into ``run_dir/checkpoint-<step>`` atomically (written aside,
    then renamed), with ``progress`` (:data:`PROGRESS`), then delete all but the ``keep`` latest
    complete checkpoints."""
    import shutil

    final, partial = run_dir / f"checkpoint-{step}", run_dir / f".checkpoint-{step}.partial"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_atomic(partial / PROGRESS, json.dumps(progress or {}))
        os.replace(partial, final)
        for _, old in checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final
