"""Judges of generated images: networks trained on real images that say whether a sample shows
what it was asked for -- the semantic-consistency measures of the semantic-image-synthesis
literature, beside the Frechet distance.

* Synthesis (Tables 2, 4): every synthesised scene is segmented by a segmenter trained on real
  images and scored by mIoU against the mask it was synthesised from (SPADE, OASIS).
* Class-conditional generation (Table 3): a classifier trained on real images classifies the
  generated images, scored by accuracy against the class they were asked for ("GAN-test",
  Shmelkov et al. 2018; the reverse of the classification accuracy score).

The judge is the run's own specialist -- the cross-entropy SS U-Net of the scene set, the
cross-entropy U-Net classifier of Tables 3 and 11 -- or a network the user supplies with
``--judge-weights segmenter=PATH`` / ``classifier=PATH``: a TorchScript module (the format of
clean-fid's Inception) mapping images (B, C, H, W) in [-1, 1] to logits (B, classes, H, W) or
(B, classes).  A supplied judge is checked by one forward pass on a zero batch of each data set
it will judge before anything is trained, and its cells carry the file's sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from symmflow.errors import UsageError

KINDS = ("segmenter", "classifier")
OWN = {"segmenter": "SS U-Net", "classifier": "cross-entropy U-Net"}
"""The run's own judge of each kind, as the metric names it."""
SUPPLIED = "supplied {kind}"


def judge_name(kind: str, supplied: bool) -> str:
    """``SS U-Net``, ``supplied classifier``, ...: the judge as the metrics name it."""
    return SUPPLIED.format(kind=kind) if supplied else OWN[kind]


def metric_name(kind: str, supplied: bool) -> str:
    """``mIoU of samples (SS U-Net)``, ``accuracy of samples (supplied classifier)``, ..."""
    score = "mIoU" if kind == "segmenter" else "accuracy"
    return f"{score} of samples ({judge_name(kind, supplied)})"


METRICS = tuple(metric_name(kind, supplied) for kind in KINDS for supplied in (False, True))
"""Every judged metric name: higher is better for all of them."""


@dataclass(frozen=True)
class Probe:
    """What a judge will be fed on one data set: images of ``channels`` x ``size`` x ``size``
    and ``classes`` classes."""

    dataset: str
    channels: int
    size: int
    classes: int


def parse(values: list[str] | None) -> dict[str, Path]:
    """``["segmenter=PATH", ...]`` -> {kind: path}; one line naming the remedy otherwise."""
    judges: dict[str, Path] = {}
    for value in values or []:
        kind, sep, path = value.partition("=")
        if not sep or kind not in KINDS or not path:
            raise UsageError(f"--judge-weights {value!r}: write KIND=PATH with KIND one of {', '.join(KINDS)}, "
                             "e.g. --judge-weights segmenter=judges/segmenter.pt")
        if kind in judges:
            raise UsageError(f"--judge-weights names a {kind} twice; pass one file per kind")
        judges[kind] = Path(path)
    return judges


def sha256(path: Path) -> str:
    """The file's content digest, computed once per version of it (:func:`symmflow.digests.file_digest`)."""
    from symmflow.digests import file_digest

    return file_digest(path)


def load(path: Path, device: str = "cpu") -> torch.jit.ScriptModule:
    """The TorchScript module at ``path`` in eval mode; one line when it is missing or not one."""
    if not path.is_file():
        raise UsageError(f"--judge-weights: {path} is not a file; pass a TorchScript module saved with "
                         "torch.jit.save")
    try:
        module = torch.jit.load(str(path), map_location=device)
    except Exception as error:  # a truncated, empty or foreign file; nothing of it is executed as Python
        reason = " ".join(str(error).split())[:160]
        raise UsageError(f"--judge-weights: {path} is not a TorchScript module ({reason}); save the judge with "
                         "torch.jit.save(torch.jit.trace(model, example), path)") from None
    return module.eval()


def check(kind: str, path: Path, probes: list[Probe]) -> None:
    """One forward pass of the judge at ``path`` on a zero batch of every probe: the output must
    be (2, classes, size, size) for a segmenter and (2, classes) for a classifier."""
    module = load(path)
    for probe in probes:
        wanted = (2, probe.classes, probe.size, probe.size) if kind == "segmenter" else (2, probe.classes)
        try:
            with torch.no_grad():
                out = module(torch.zeros(2, probe.channels, probe.size, probe.size))
        except Exception as error:  # TorchScript's own trace of the module first, then what went wrong
            said = [line.strip() for line in str(error).splitlines() if line.strip()]
            reason = (said[-1] if said else type(error).__name__)[:160]
            raise UsageError(f"--judge-weights {kind}={path} fails on {probe.dataset}'s images "
                             f"(2, {probe.channels}, {probe.size}, {probe.size}): {reason}; pass a {kind} of "
                             f"{probe.dataset}") from None
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        if shape != wanted:
            raise UsageError(f"--judge-weights {kind}={path} gives {shape} on {probe.dataset}'s images, not the "
                             f"logits {wanted} of its {probe.classes} classes; pass a {kind} of {probe.dataset}")


def supplied_judge(path: Path, device: str) -> Callable[[Tensor], Tensor]:
    """Images -> class ids by the TorchScript judge at ``path`` (argmax of its logits)."""
    module = load(path, device)

    @torch.no_grad()
    def judge(images: Tensor) -> Tensor:
        return module(images.to(device).float()).argmax(1)

    return judge


def identity(path: Path | None) -> str | None:
    """What a judged cell depends on beyond its run: the supplied file's content (None: the run's own)."""
    return None if path is None else sha256(path)
