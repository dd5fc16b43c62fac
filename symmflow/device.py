"""The ``--device`` option shared by the command line and the benchmark harness, the precision
networks train at (``--precision``) and the precision a method's networks are evaluated at
(``--eval-precision`` of ``benchmarks.run``)."""

from __future__ import annotations

import contextlib
import contextvars
import platform
from pathlib import Path

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


EVAL_PRECISIONS = ("fp32", "bf16")
"""The precisions an evaluation runs at: fp32 (the default, what every committed cell was computed
at) and bf16 (autocast; the weights stay fp32)."""

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
"""The x86 instruction-set flags (``/proc/cpuinfo``) of a CPU that computes bf16 natively: AMX and
AVX-512 BF16 (a 64-bit Arm CPU says ``bf16``)."""


def cpu_flags() -> set[str]:
    """The instruction-set flags of this machine's CPU as Linux lists them (``flags`` on x86,
    ``Features`` on Arm); empty where ``/proc/cpuinfo`` cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    flags: set[str] = set()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def native_bf16(device: str) -> tuple[bool, str]:
    """(whether ``device`` computes bf16 natively, what it is, in words): a CPU with AMX or AVX-512
    BF16 (:data:`CPU_BF16_FLAGS`, or an Arm CPU's ``bf16``); a CUDA GPU that torch says supports
    bf16 (Ampere or later); none where torch sees no CUDA GPU.  Elsewhere bf16 is emulated, and slower than fp32."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            return False, "no CUDA GPU (torch sees none)"
        name = torch.cuda.get_device_name(torch.device(device))
        return bool(torch.cuda.is_bf16_supported(including_emulation=False)), f"the GPU {name}"
    flags = cpu_flags()
    found = [flag for flag in CPU_BF16_FLAGS if flag in flags]
    if platform.machine() in ("aarch64", "arm64") and "bf16" in flags:
        found.append("bf16")
    capability = torch.backends.cpu.get_cpu_capability()
    return bool(found), f"this CPU ({platform.machine()}, torch's kernels {capability}" + (
        f", {' '.join(found)})" if found else ", neither AMX nor AVX-512 BF16)")


PRECISIONS = ("fp32", "bf16", "auto")
"""The precisions a network trains at (``--precision``): fp32; bf16 autocast with the weights and
the optimiser's state in fp32; ``auto``, bf16 where the device computes it natively, else fp32."""


def resolve_precision(name: str, device: str, option: str = "--precision") -> str:
    """``name`` (one of :data:`PRECISIONS`) as the precision ``device`` trains at, fp32 or bf16:
    ``auto`` is bf16 where :func:`native_bf16` says so, else fp32; bf16 on a device without native
    bf16 (emulated, several times slower than fp32) and an unknown name are refused in one line."""
    if name not in PRECISIONS:
        raise UsageError(f"{option} {name!r} is not a precision; choose from {', '.join(PRECISIONS)}")
    if name == "fp32":
        return name
    native, what = native_bf16(device)
    if name == "bf16" and not native:
        raise UsageError(f"{option} bf16: {what} has no native bf16, so bf16 would be emulated and slower than "
                         f"fp32; {option} auto chooses fp32 here")
    return "bf16" if native else "fp32"


def mixed_precision(precision: str) -> str:
    """A resolved precision (fp32, bf16) as :class:`symmflow.train.TrainConfig` names it (accelerate's
    ``no``, ``bf16``)."""
    return {"fp32": "no", "bf16": "bf16"}[precision]


def check_eval_precision(precision: str, device: str) -> None:
    """Refuse, in one line, a bf16 evaluation on a device without native bf16 (an emulated bf16 runs
    several times slower than fp32 and gains nothing)."""
    if precision == "fp32":
        return
    native, what = native_bf16(device)
    if not native:
        raise UsageError(f"--eval-precision {precision}: {what} has no native bf16, so bf16 would be emulated and "
                         f"slower than fp32; use --eval-precision fp32 (the default), or a CPU with AMX or AVX-512 "
                         f"BF16 or an Ampere-or-later GPU")


_EVALUATION: contextvars.ContextVar[str | None] = contextvars.ContextVar("evaluation_autocast", default=None)
"""The device type whose autocast a method's network evaluations run under, inside an
:func:`evaluation_precision` block at bf16 (None: fp32)."""


@contextlib.contextmanager
def evaluation_precision(device: str, precision: str = "fp32"):
    """A block whose network evaluations of the method being evaluated run at ``precision``.

    At ``bf16`` every call of a network through :class:`symmflow.solver.NFECounter` -- the one door
    of every evaluation a benchmark counts: the integrations of sampling, classification and
    segmentation, the Diffusion Classifier's evaluations, a baseline's one forward pass -- runs under
    ``torch.autocast(device type, dtype=torch.bfloat16)`` and hands its output back as fp32, so the
    solver's state stays fp32; the weights stay fp32.  Nothing else is touched: a network trained
    inside the block (the model cache trains on first use) trains as its own config says, and the
    judges and feature networks that score the samples stay fp32, the same instrument at either
    precision.  ``fp32`` (the default) changes nothing; blocks nest, the inner one deciding."""
    if precision not in EVAL_PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(EVAL_PRECISIONS)}")
    token = _EVALUATION.set(None if precision == "fp32" else torch.device(device).type)
    try:
        yield
    finally:
        _EVALUATION.reset(token)


def evaluation_autocast() -> torch.autocast | None:
    """The autocast a counted network evaluation runs under (:func:`evaluation_precision`): bf16
    inside a bf16 block; None (run as it is, fp32) elsewhere."""
    device_type = _EVALUATION.get()
    return None if device_type is None else torch.autocast(device_type, dtype=torch.bfloat16)


def as_fp32(output):
    """A network's output with each bf16 tensor (also inside a tuple, list or dict) as fp32."""
    if isinstance(output, torch.Tensor):
        return output.float() if output.dtype == torch.bfloat16 else output
    if type(output) in (tuple, list):
        return type(output)(as_fp32(v) for v in output)
    if isinstance(output, dict):
        return {k: as_fp32(v) for k, v in output.items()}
    return output
