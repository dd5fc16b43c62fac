"""Where a number came from: git commit, library versions, device."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import torch

LIBRARIES = ("torch", "diffusers", "accelerate", "torchdiffeq", "torchmetrics", "numpy")
ROOT = Path(__file__).resolve().parent.parent


OUTPUTS = "results"
"""The folder the harness writes its cells, tables and records into: a run rewriting it leaves the
code that computes unchanged, so changes there (and to Markdown prose) do not make a commit dirty."""


@functools.lru_cache(maxsize=None)
def git_commit(root: Path = ROOT) -> str:
    """HEAD's hash, with ``-dirty`` when tracked files other than :data:`OUTPUTS` and Markdown
    differ from it; outside a git checkout (an exported copy of the tree) the
    ``SYMMFLOW_GIT_COMMIT`` variable, else ``unknown``."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", f":(exclude){OUTPUTS}",
                    ":(exclude)*.md")
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("SYMMFLOW_GIT_COMMIT", "unknown")
    return commit + ("-dirty" if dirty else "")


@functools.lru_cache(maxsize=None)
def versions() -> str:
    found = [f"python={platform.python_version()}"]
    for name in LIBRARIES:
        try:
            found.append(f"{name}={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return " ".join(found)


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    return f"cpu ({cpu}, {torch.get_num_threads()} threads)"


def provenance(device: str) -> dict:
    return {"git_commit": git_commit(), "versions": versions(), "device": device_name(device)}


def batch_split(spec, cell, options) -> dict:
    """How the launch that computed ``cell`` split the global batch of its networks: processes,
    per-device batch, accumulation and the global batch (:meth:`symmflow.batching.BatchPlan.record`;
    nothing where the table trains no network for it, or its weights were supplied)."""
    batch = spec.global_batches(options.profile).get(cell.dataset)
    return {} if batch is None or "weights" in cell.settings else options.batch_plan(batch).record()
