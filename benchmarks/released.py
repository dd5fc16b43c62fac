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
  ``--weights`` run on the data set the file answers (:func:`resolve`; the others are computed as usual).
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


@dataclasses.dataclass(frozen=True)
class Supplied:
    """One ``--weights METHOD[@DATASET]=PATH``: the method, the data set the user named (None:
    told by the file's name or shapes, :func:`resolve`) and the file."""

    method: str
    dataset: str | None
    path: Path

    def shown(self) -> str:
        at = "" if self.dataset is None else f"@{self.dataset}"
        return f"{self.method}{at}={self.path}"


def parse(values: list[str] | None) -> list[Supplied]:
    """``["symmflow=PATH", "symmflow@MNIST=PATH", ...]`` -> the supplied files, in order; one
    METHOD@DATASET twice is refused (a plain METHOD may repeat: each file answers its own data set)."""
    supplied: list[Supplied] = []
    for value in values or []:
        key, sep, path = value.partition("=")
        method, at, dataset = key.partition("@")
        if not sep or not method or not path or (at and not dataset):
            raise UsageError(f"--weights {value!r}: write METHOD[@DATASET]=PATH, e.g. --weights "
                             "symmflow=LatFM_coco_beta6.0.pt or --weights symmflow@MNIST=mnist_ema.pt")
        entry = Supplied(method, dataset or None, Path(path))
        if entry.dataset is not None and any((s.method, s.dataset) == (method, dataset) for s in supplied):
            raise UsageError(f"--weights names {method}@{dataset} twice; pass one file per method and data set")
        supplied.append(entry)
    return supplied


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
            import warnings

            with warnings.catch_warnings():  # torch's remarks on the pickle protocol: the one line below says it
                warnings.simplefilter("ignore")
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


def mismatches(state: dict[str, Tensor], wanted: dict) -> tuple[str, list[str]]:
    """The prefix of ``state`` that fits ``wanted`` (key -> tensor or shape) best, and every
    missing or unexpected key and differing shape under it."""
    shape = {k: tuple(getattr(v, "shape", v)) for k, v in wanted.items()}
    best = max(PREFIXES, key=lambda p: sum(k[len(p):] in shape for k in state if k.startswith(p)))
    renamed = {k[len(best):]: v for k, v in state.items() if k.startswith(best)}
    problems = [f"missing key {k!r}" for k in shape if k not in renamed]
    problems += [f"unexpected key {k!r}" for k in renamed if k not in shape]
    problems += [f"{k!r} has shape {tuple(v.shape)}, the network {shape[k]}"
                 for k, v in renamed.items() if k in shape and tuple(v.shape) != shape[k]]
    if len(renamed) < len(state):
        problems.append(f"{len(state) - len(renamed)} keys outside the prefix {best!r}")
    return best, problems


def matched(state: dict[str, Tensor], network: nn.Module, path: Path, what: str) -> dict[str, Tensor]:
    """``state`` renamed to ``network``'s keys by the prefix that fits best; one line on a mismatch."""
    wanted = network.state_dict()
    best, problems = mismatches(state, wanted)
    if problems:
        raise UsageError(f"--weights: {path} does not fit {what} ({len(problems)} mismatches; first: {problems[0]}); "
                         "pass the weights of this data set, beta and network")
    return {k[len(best):]: v.to(wanted[k[len(best):]].dtype) for k, v in state.items() if k.startswith(best)}


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


def resolve(supplied: list[Supplied], catalogue, profile: str, datasets: tuple[str, ...] | None = None,
            methods: tuple[str, ...] | None = None) -> dict[tuple[str, str], Path]:
    """(method, data set) -> file: the data set each supplied file answers -- the user's
    ``@DATASET``, else the one its name says (``LatFM_<dataset>_beta<beta>.pt``, reference notes
    section 10), else for a pixel model the one whose network its tensor shapes fit (the authors'
    U-Net takes image channels + 1 in and out, 2 for MNIST and 4 for CIFAR-10, and its width is
    the data set's, notes sections 5 and 10), else the tables' one latent data set.  A file that
    answers no cell of the chosen tables, or that could be of several data sets, or a second file
    for one method and data set is one line, before any network is built; every file is read here
    (tensors only, nothing of it run)."""
    resolved: dict[tuple[str, str], Path] = {}
    for entry in supplied:
        state = read_state(entry.path)
        where = catalogue.needing.get(entry.method, {})
        named = named_dataset(entry.path)
        if entry.dataset is not None:
            dataset = catalogue.dataset(entry.dataset, f"--weights {entry.shown()}")
            if named is not None and named != dataset:
                raise UsageError(f"--weights {entry.shown()}: the file is a {named} model (its name says so), not a "
                                 f"{dataset} one; pass the weights of {dataset} or write {entry.method}@{named}")
            candidates = [dataset] if dataset in where else []
        elif named is not None:
            if named not in where:
                raise UsageError(f"--weights {entry.shown()} is a {named} model (its name says so), and the chosen "
                                 f"tables have no {named} cells of {entry.method} in the {profile} profile; pass the "
                                 f"weights of {' or '.join(sorted(where)) or 'another method'}")
            candidates = [named]
        else:  # a latent model's data set is told by its name or @DATASET: every one has the same shapes
            candidates = [d for d, tables in where.items() if not all(spec.latent(profile) for spec in tables)]
        misfits: dict[str, str] = {}
        for dataset in list(candidates):
            for spec in where.get(dataset, []):
                wanted = spec.weights_shapes(profile, entry.method, dataset)
                problems = [] if wanted is None else mismatches(state, wanted)[1]
                if problems:
                    misfits[dataset] = f"{len(problems)} mismatches; first: {problems[0]}"
                    candidates.remove(dataset)
                    break
        latent = [d for d, tables in where.items() if all(spec.latent(profile) for spec in tables)]
        if not candidates and entry.dataset is None and named is None and len(latent) == 1:
            candidates = latent  # the one latent data set of the chosen tables: nothing else it could be
        if not candidates:
            if entry.dataset is not None and misfits:
                dataset, why = next(iter(misfits.items()))
                raise UsageError(f"--weights {entry.shown()} does not fit the {entry.method} network of {dataset} "
                                 f"({why}); pass the weights of {dataset} or the right @DATASET")
            if entry.dataset is not None:
                raise UsageError(f"--weights {entry.shown()}: the chosen tables have no {entry.method} cells of "
                                 f"{entry.dataset} in the {profile} profile; choose from "
                                 f"{', '.join(sorted(where)) or 'none'}")
            why = "; ".join(f"{d}: {w}" for d, w in misfits.items()) or (
                "a latent model's data set is told by its name, LatFM_<dataset>_beta<beta>.pt")
            raise UsageError(f"--weights {entry.shown()} fits no {entry.method} network of the chosen tables in the "
                             f"{profile} profile ({why}); pass the weights of {' or '.join(sorted(where)) or 'them'}, "
                             f"or write {entry.method}@DATASET=PATH")
        if len(candidates) > 1:
            raise UsageError(f"--weights {entry.shown()} could be of {' or '.join(sorted(candidates))}; write "
                             f"{entry.method}@DATASET=PATH, e.g. --weights {entry.method}@{sorted(candidates)[0]}="
                             f"{entry.path}")
        dataset = candidates[0]
        if (entry.method, dataset) in resolved:
            raise UsageError(f"--weights names {entry.method}@{dataset} twice ({resolved[entry.method, dataset]} and "
                             f"{entry.path}); pass one file per method and data set")
        if datasets is not None and dataset not in datasets:
            raise UsageError(f"--weights {entry.shown()} answers {dataset}, which --datasets leaves out; add "
                             f"{dataset} to --datasets or leave the file out")
        if methods is not None and entry.method not in methods:
            raise UsageError(f"--weights {entry.shown()}: --methods leaves {entry.method} out; add it to --methods "
                             "or leave the file out")
        resolved[entry.method, dataset] = entry.path
    return resolved


def scoped(options, dataset: str):
    """``options`` for the experiment of one data set: ``weights`` the supplied files that
    answer it, method -> file (what the experiments load instead of training)."""
    weights = {method: path for (method, d), path in options.released.items() if d == dataset}
    return options if weights == options.weights else dataclasses.replace(options, weights=weights)
