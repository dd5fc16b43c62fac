"""Where a number came from: git commit, library versions, device."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import re
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


@functools.lru_cache(maxsize=None)
def cpu_model() -> str:
    """The CPU's model name as Linux states it (``model name`` in ``/proc/cpuinfo``), else the
    architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name" and value.strip():
                return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """The device in words: a GPU's name, or the CPU's model with the threads torch uses."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({cpu_model()}, {torch.get_num_threads()} threads)"


def machine(device: str) -> str:
    """What a timing depends on beyond the device's name, in one line: for a CPU its cores, the
    instruction-set features that matter (AMX, AVX-512 BF16, AVX2), torch's kernels, the OpenMP
    wait policy (:mod:`symmflow.threads`) and the oneDNN / MKL builds; for a GPU its memory and
    the CUDA / cuDNN versions."""
    from symmflow.device import cpu_flags
    from symmflow.threads import wait_policy

    if device.startswith("cuda"):
        properties = torch.cuda.get_device_properties(torch.device(device))
        return (f"{properties.total_memory / 2 ** 30:.0f} GiB; CUDA {torch.version.cuda}; "
                f"cuDNN {torch.backends.cudnn.version()}")
    flags = cpu_flags()
    features = [f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if f in flags]
    config = torch.__config__.show()
    builds = [f"{name} {found.group(1)}" for name, pattern in (("MKL", r"Math Kernel Library Version ([\d.]+)"),
                                                               ("oneDNN", r"(?:MKL-DNN|oneDNN) v([\d.]+)"))
              if (found := re.search(pattern, config))]
    return "; ".join([f"{os.cpu_count()} cores, {torch.get_num_threads()} threads", " ".join(features) or "no AVX2",
                      f"torch kernels {torch.backends.cpu.get_cpu_capability()}", wait_policy(), *builds])


def provenance(device: str) -> dict:
    return {"git_commit": git_commit(), "versions": versions(), "device": device_name(device),
            "machine": machine(device)}


def batch_split(spec, cell, options) -> dict:
    """How the launch that computed ``cell`` split the global batch of its networks: processes,
    per-device batch, accumulation and the global batch (:meth:`symmflow.batching.BatchPlan.record`;
    nothing where the table trains no network for it, or its weights were supplied)."""
    batch = spec.global_batches(options.profile).get(cell.dataset)
    return {} if batch is None or "weights" in cell.settings else options.batch_plan(batch).record()
