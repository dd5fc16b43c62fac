"""The ``--device`` option shared by the command line and the benchmark harness."""

from __future__ import annotations

import torch

from symmflow.errors import UsageError


def resolve_device(name: str) -> str:
    """``auto`` -> the GPU when there is one, else the CPU; a named device is checked."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA device is visible here; use --device cpu or auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise UsageError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N")
    return name
