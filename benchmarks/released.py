"""Supplied weights instead of training: ``--weights symmflow=PATH`` evaluates a released model.

The authors released the EMA weights of the paper's models (reference notes section 10): the
latent models as a pickled state dict of tensors whose keys are ``unet.`` + the diffusers
``UNet2DConditionModel`` keys (conv_in and conv_out 8 channels wide), the pixel models as the
state dict of their guided-diffusion U-Net (:mod:`symmflow.models.guided_unet`), no prefix.  A
supplied file is

* read without running any of its code -- ``torch.load(..., weights_only=True)`` for a ``.pt``
  or ``.bin``, safetensors for a ``.safetensors`` (or a diffusers ``unet/`` folder holding one);
  a file that needs code to unpickle is refused;
* matched to the network the table builds for the method, after dropping a ``module.`` or
  ``unet.`` prefix: every missing or unexpected key and every shape that differs is one line
  naming the first mismatch and their count, exit status 2, before any evaluation;
* never trained: the cells it gives carry the file's sha256 and render as their own rows,
  "SymmFlow (released weights)"; cells that would need another method's trained network (the
  Diffusion Classifier's flow-matching model, the judge of generated digits) are left out of a
  ``--weights`` run.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import MappingProxyType

import torch
from torch import Tensor, nn

from benchmarks.cells import Cell
from symmflow.errors import UsageError

PREFIXES = ("", "module.", "unet.", "module.unet.")
LABEL = "{label} (released weights)"


def parse(values: list[str] | None) -> dict[str, Path]:
    """``["symmflow=PATH", ...]`` -> {method key: path}."""
    weights: dict[str, Path] = {}
    for value in values or []:
        key, sep, path = value.partition("=")
        if not sep or not key or not path:
            raise UsageError(f"--weights {value!r}: write METHOD=PATH, e.g. --weights symmflow=LatFM_coco_beta6.0.pt")
        if key in weights:
            raise UsageError(f"--weights names {key} twice; pass one file per method")
        weights[key] = Path(path)
    return weights


def weights_file(path: Path) -> Path:
    """The file of the weights: ``path``, or the weights file of a diffusers ``unet/`` folder."""
    if path.is_dir():
        found = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
        if not found:
            raise UsageError(f"--weights: {path} holds no .safetensors or .bin weights; pass the weights file")
        return found[0]
    if not path.is_file():
        raise UsageError(f"--weights: {path} is not a file; pass the released weights file")
    return path


def read_state(path: Path) -> dict[str, Tensor]:
    """The tensors of a weights file (or of a diffusers ``unet/`` folder), nothing of it executed."""
    file = weights_file(path)
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(file))
        else:
            state = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated file, a pickle that needs code, not a weights file at all
        reason = " ".join(str(error).split())[:160]
        raise UsageError(f"--weights: {file} is not a state dict of tensors that loads without running code "
                         f"({reason}); pass the released .pt file") from None
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise UsageError(f"--weights: {file} holds a {type(state).__name__}, not a state dict of tensors; pass the "
                         "released EMA weights")
    return state


def identity(path: Path) -> str:
    """What cells from supplied weights depend on: the weights file's sha256."""
    from symmflow.digests import file_digest

    return file_digest(weights_file(path))


def backbone(model: nn.Module) -> nn.Module:
    """The network whose state dict a released file holds: the innermost ``unet`` of the method's
    velocity (ConcatVelocity -> conditioned SD U-Net -> UNet2DConditionModel; ConcatVelocity ->
    the authors' pixel U-Net)."""
    while isinstance(getattr(model, "unet", None), nn.Module):
        model = model.unet
    return model


def matched(state: dict[str, Tensor], network: nn.Module, path: Path, what: str) -> dict[str, Tensor]:
    """``state`` renamed to ``network``'s keys by the prefix that fits best; one line on a mismatch."""
    wanted = network.state_dict()
    best = max(PREFIXES, key=lambda p: sum(k[len(p):] in wanted for k in state if k.startswith(p)))
    renamed = {k[len(best):]: v for k, v in state.items() if k.startswith(best)}
    problems = [f"missing key {k!r}" for k in wanted if k not in renamed]
    problems += [f"unexpected key {k!r}" for k in renamed if k not in wanted]
    problems += [f"{k!r} has shape {tuple(v.shape)}, the network {tuple(wanted[k].shape)}"
                 for k, v in renamed.items() if k in wanted and v.shape != wanted[k].shape]
    if len(renamed) < len(state):
        problems.append(f"{len(state) - len(renamed)} keys outside the prefix {best!r}")
    if problems:
        raise UsageError(f"--weights: {path} does not fit {what} ({len(problems)} mismatches; first: {problems[0]}); "
                         "pass the weights of this data set, beta and network")
    return {k: v.to(wanted[k].dtype) for k, v in renamed.items()}


NAMED = re.compile(r"LatFM_(?P<dataset>[A-Za-z]+)_beta(?P<beta>[0-9.]+?)\.pt")
"""The authors' names of their latent models, e.g. ``LatFM_coco_beta6.0.pt``."""
DATASETS = {"celeba": "CelebAMask-HQ", "coco": "COCO-Stuff"}


def named_dataset(path: Path) -> str | None:
    """The data set a file named as the authors name their latent models is of (None: a file not
    so named); a run evaluates such a file on that data set's cells only."""
    found = NAMED.fullmatch(Path(path).name)
    return None if found is None else DATASETS.get(found["dataset"].lower(), found["dataset"])


def check_name(path: Path, dataset: str, beta: float) -> None:
    """A file named as the authors name their latent models must be of ``dataset`` and ``beta``:
    the weights alone cannot tell (every data set's model has the same shapes)."""
    found = NAMED.fullmatch(Path(path).name)
    if found is None:
        return
    theirs = named_dataset(path)
    if theirs != dataset:
        raise UsageError(f"--weights: {path} is a {theirs} model (its name says so), not a {dataset} one; pass the "
                         f"weights of {dataset}")
    if abs(float(found["beta"]) - beta) > 1e-9:
        raise UsageError(f"--weights: {path} was trained with beta {float(found['beta']):g}, this profile's {dataset} "
                         f"uses beta {beta:g}; pass the matching file or set the profile's beta")


def load(model: nn.Module, path: Path, what: str) -> nn.Module:
    """``model`` (a method's network, untrained) with the supplied weights in its backbone."""
    net = backbone(model)
    net.load_state_dict(matched(read_state(path), net, path, what))
    return model


TRAINED_PALETTES = {"COCO-Stuff": {"colours": "raw-id"}}
"""The palettes the authors trained their latent models with, where not the data set's default:
COCO-Stuff coloured by raw id (reference notes section 11)."""


def as_trained(settings, dataset: str):
    """Tables 2, 4, 5 settings under which a released model of ``dataset`` is evaluated: its masks
    coloured and decoded with the palette it was trained with, whatever the profile's choice."""
    if dataset not in TRAINED_PALETTES:
        return settings
    return dataclasses.replace(settings, palettes={**settings.palettes, dataset: TRAINED_PALETTES[dataset]})


def released_cell(cell: Cell, sha: str) -> Cell:
    """The cell as a supplied-weights run computes it: its own row and its own identity."""
    return dataclasses.replace(cell, method=LABEL.format(label=cell.method),
                               settings=MappingProxyType({**cell.settings, "weights": sha}))
