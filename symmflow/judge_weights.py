"""The judges' weights, the files the paper profile's metrics run on: clean-fid's Inception
(``inception-2015-12-05.pt``), pytorch-fid's (``pt_inception-2015-12-05-6726825d.pth``) and
torchvision's AlexNet for LPIPS (``alexnet-owt-7be5be79.pth``); whether each lies in the folder
given, with the package that reads it importable, and whether a file reads at all.

A metric that cannot run here is reported through :class:`MetricUnavailable`, whose message
is the reason a skipped cell records.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

INCEPTION_FILE = "inception-2015-12-05.pt"
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed here (library or weights missing); the message says why."""


def judge_missing(package: str, module: str, weights: str, what: str, weights_dir: Path | None) -> str | None:
    """None when ``module`` imports and ``weights`` lie in ``weights_dir``; else the reason."""
    if importlib.util.find_spec(module) is None:
        return (f"{package} is not importable (it needs torchvision, which needs torch==2.14.1); "
                "install the paper profile's extra")
    if weights_dir is None or not (Path(weights_dir) / weights).is_file():
        return f"{what} weights {weights} not found in {weights_dir}; pass the folder holding them"
    return None


def torch_file_problem(file: Path, what: str) -> str | None:
    """Why the ``torch.save`` / TorchScript file ``file`` cannot load, read without loading it:
    empty, or neither the zip archive torch writes (whole: its central directory at the end, so a
    truncated download fails) nor torch's older pickle format; else None."""
    import zipfile

    with open(file, "rb") as f:
        head = f.read(2)
    if zipfile.is_zipfile(file) or head[:1] == b"\x80":  # a zip archive whole, or a pickle (protocol 2+)
        return None
    state = "empty" if not head else "damaged or truncated"
    return f"{what} weights {file} do not read ({state}); download them again"
