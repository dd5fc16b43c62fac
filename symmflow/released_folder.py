"""The authors' released weights as a model folder: ``symmflow import-released``.

The released files (reference notes section 10) are read by the harness's readers
(:mod:`benchmarks.released`: tensors only, nothing of the file run) and loaded into the networks
the paper profile's tables evaluate them with -- the harness's SymmFlow method
(:class:`benchmarks.methods.symmflow.SymmFlowMethod`) on the problem of the paper profile's
settings for the data set (:mod:`benchmarks.profiles`) -- then written as a model folder that
``symmflow segment``, ``synthesise``, ``classify`` and ``sample`` read like one of
``symmflow train`` (:mod:`symmflow.model_folder`):

* ``settings.json``: the task, the data set and its class names, the image size and channels,
  the space (``pixel``: the authors' guided U-Net and its config; ``latent``: Stable Diffusion's
  U-Net through a VAE), the settings the authors trained with (``symmflow``: beta, label code,
  image weight, ...), for a segmentation model its palette -- COCO-Stuff's colours by raw id, as
  the authors trained it (:data:`benchmarks.released.TRAINED_PALETTES`) -- and, for a latent
  model, the path and content digest (:func:`symmflow.digests.folder_digest`) of the Stable
  Diffusion folder and of the VAE folder it runs with; the released file's name and sha256;
* ``model.safetensors``: the network's weights (the released ones, in the network's layout);
* a latent model's ``empty-prompt.safetensors``: its text condition, encoded once at import by
  the Stable Diffusion folder's text encoder.

Nothing of the Stable Diffusion or VAE folders is copied; loading a latent model folder refuses
in one line a folder that is no longer where it was imported from, or whose content changed
(:func:`check_pretrained`).  Images run through the same code as the tables' evaluation of the
file: :meth:`~benchmarks.methods.symmflow.SymmFlowMethod.segment` (image -> posterior sample of
its latent, Euler from t = 1 to 0, mask latent -> VAE -> nearest palette colour -> class ids),
``synthesise``, ``classify`` and ``generate``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import torch

from symmflow.errors import UsageError

PIXEL = ("MNIST", "CIFAR-10")
"""The data sets of the released pixel classifiers (the paper profile's Tables 3 and 11)."""
LATENT = ("CelebAMask-HQ", "COCO-Stuff")
"""The data sets of the released latent models (Tables 2, 4 and 5)."""
ALIASES = {"mnist": "MNIST", "mnistfull": "MNIST", "cifar10": "CIFAR-10", "cifar": "CIFAR-10",
           "celebamaskhq": "CelebAMask-HQ", "celebamask": "CelebAMask-HQ", "celeba": "CelebAMask-HQ",
           "cocostuff": "COCO-Stuff", "coco": "COCO-Stuff"}
READERS = {"CelebAMask-HQ": "celebamask", "COCO-Stuff": "cocostuff"}
"""The reader module of each latent data set in :mod:`symmflow.data` (its palette, ids and class names)."""
EMBEDDING = "empty-prompt.safetensors"
"""A latent model folder's text condition (the empty prompt's embedding)."""
NETWORKS = {"pixel": "guided-unet", "latent": "stable-diffusion-unet"}
"""The network of each space, as ``settings.json`` names it."""
REMEDY = "import the released file again with symmflow import-released"


def dataset_named(text: str) -> str:
    """The data set ``--dataset`` names (case, ``-`` and ``_`` aside), else one line."""
    found = ALIASES.get(text.lower().replace("-", "").replace("_", ""))
    if found is None:
        raise UsageError(f"--dataset {text!r} is not a data set of the authors' released models; choose from "
                         f"{', '.join(PIXEL + LATENT)}")
    return found


# ---------------------------------------------------------------- the networks the tables evaluate


def pixel_profile(dataset: str):
    """The paper profile's Tables 3 / 11 settings of ``dataset`` (the authors' U-Net and method)."""
    from benchmarks.profiles import CLASSIFICATION
    from benchmarks.tables.classification import SHOWN

    return next(s for s in CLASSIFICATION["paper"] if SHOWN[s.dataset] == dataset)


def pixel_shapes(dataset: str) -> dict:
    """Key -> shape of the network a released ``dataset`` classifier holds (built on the meta device)."""
    from benchmarks.tables.classification import TABLE3

    return TABLE3.weights_shapes("paper", "symmflow", dataset)


def pixel_method(dataset: str, channels: int, size: int, classes: int, unet, symmflow):
    """The harness's SymmFlow classifier on the authors' U-Net ``unet`` (what Tables 3 and 11 build)."""
    from benchmarks.methods import Problem
    from benchmarks.methods.symmflow import SymmFlowMethod

    return SymmFlowMethod(Problem(dataset, channels, size, classes, unet), symmflow)


def latent_method(dataset: str, palette, ignore_index, symmflow, size: int, pretrained: Path, vae: Path | None,
                  embedding: Path | None, device: str = "cpu"):
    """The harness's latent SymmFlow on ``pretrained``'s U-Net and VAE (or ``vae``), masks coloured by
    ``palette``: the problem Tables 2, 4 and 5 evaluate a released file on."""
    from benchmarks.methods import Problem
    from benchmarks.methods.symmflow import SymmFlowMethod
    from symmflow.models.latent import load_space

    space = load_space(pretrained, palette, vae).to(device)
    problem = Problem(dataset, space.channels, size, palette.num_classes, None, palette, ignore_index, space,
                      pretrained, embedding, vae)
    return SymmFlowMethod(problem, symmflow)


def latent_profile(dataset: str):
    """The paper profile's Tables 2 / 4 / 5 settings, with the palette ``dataset``'s released model
    was trained with, and the palette (:func:`benchmarks.released.as_trained`)."""
    import importlib

    from benchmarks import released
    from benchmarks.profiles import SEGSYNTH

    settings = released.as_trained(SEGSYNTH["paper"], dataset)
    reader = importlib.import_module(f"symmflow.data.{READERS[dataset]}")
    return settings, reader, reader.palette(**settings.palettes.get(dataset, {}))


# ---------------------------------------------------------------- import


def resolve_dataset(state: dict, path: Path, dataset: str | None) -> str:
    """The data set of a released file: ``--dataset`` checked against the file's name
    (``LatFM_<dataset>_beta<beta>.pt``) and, for a pixel model, against its tensor shapes (the
    authors' U-Net takes the image channels + 1 in and out at the data set's width); without
    ``--dataset`` the one its name or shapes tell."""
    from benchmarks import released

    named = released.named_dataset(path)
    if named is not None and named not in LATENT:
        raise UsageError(f"--weights {path} is named as a latent model of {named!r}, a data set of no released "
                         f"model; pass LatFM_celeba_beta10.0.pt or LatFM_coco_beta6.0.pt")
    if dataset is not None and named is not None and named != dataset:
        raise UsageError(f"--weights {path} is a {named} model (its name says so), not a {dataset} one; pass "
                         f"--dataset {named}, or the released file of {dataset}")
    if dataset in LATENT or (dataset is None and named is not None):
        return dataset or named
    misfits = {d: released.mismatches(state, pixel_shapes(d))[1] for d in PIXEL}
    fits = [d for d, problems in misfits.items() if not problems]
    if dataset is not None:
        if not misfits[dataset]:
            return dataset
        if fits:
            raise UsageError(f"--weights {path} is a {fits[0]} model (its tensor shapes fit the {fits[0]} network), "
                             f"not a {dataset} one; pass --dataset {fits[0]}, or the released file of {dataset}")
        problems = misfits[dataset]
        raise UsageError(f"--weights {path} does not fit the authors' {dataset} network ({len(problems)} mismatches; "
                         f"first: {problems[0]}); pass the released {dataset} weights")
    if len(fits) == 1:
        return fits[0]
    why = "; ".join(f"{d}: {len(p)} mismatches, first: {p[0]}" for d, p in misfits.items())
    raise UsageError(f"--weights {path} is not a released SymmFlow model: it fits neither pixel classifier ({why}) "
                     "and is not named as a latent one (LatFM_<dataset>_beta<beta>.pt); pass a released file, with "
                     "--dataset for a renamed latent one")


def folder_record(folder: Path) -> dict:
    """Where a pretrained folder lies and what it holds (the harness's identity of it)."""
    from benchmarks.methods import pretrained_identity

    return {"path": str(Path(folder).resolve()), "digest": pretrained_identity(folder)}


def import_released(weights: Path, dataset: str | None, out: Path, pretrained: Path | None = None,
                    vae: Path | None = None, size: int | None = None, overwrite: bool = False) -> dict:
    """Write the model folder ``out`` of the released file ``weights`` (see the module's
    docstring); every input is checked before anything is written, and the folder appears
    complete or not at all.  Returns its settings."""
    from benchmarks import released
    from symmflow.outputs import check_destination, staged_folder

    inputs = tuple(p for p in (weights, pretrained, vae) if p is not None)
    check_destination(out, overwrite, "model", inputs)
    state = released.read_state(weights)
    dataset = resolve_dataset(state, Path(weights), None if dataset is None else dataset_named(dataset))
    latent = dataset in LATENT
    if not latent:
        for option, value in (("--pretrained", pretrained), ("--vae", vae), ("--size", size)):
            if value is not None:
                raise UsageError(f"{option}: {weights} is a pixel classifier of {dataset} (32 px, no VAE); leave "
                                 f"{option} out")
        return _import_pixel(state, weights, dataset, out, overwrite, inputs)
    from symmflow.models.latent import check_folder, check_vae

    if pretrained is None:
        raise UsageError(f"--weights {weights} is a latent {dataset} model on Stable Diffusion 2.1's U-Net; pass "
                         "--pretrained SD_FOLDER (stable-diffusion-2-1 in diffusers layout), and --vae "
                         "sd-vae-ft-mse/ for the VAE the authors used")
    check_folder(pretrained)
    if vae is not None:
        check_vae(vae)
    settings, reader, palette = latent_profile(dataset)
    symmflow = settings.symmflow_for(dataset)
    released.check_name(weights, dataset, symmflow.beta)
    size = settings.resolution if size is None else size
    with staged_folder(out, overwrite, "model", inputs) as staged:
        method = latent_method(dataset, palette, reader.IGNORE_INDEX, symmflow, size, Path(pretrained), vae,
                               staged / EMBEDDING)
        model = method.build()
        unet = released.backbone(model)
        unet.load_state_dict(released.matched(state, unet, weights, f"SymmFlow on {dataset}"))
        factor = method.space.factor * 2 ** (len(unet.config.block_out_channels) - 1)
        if size % factor:
            raise UsageError(f"--size {size}: this U-Net and VAE take images whose side is a multiple of {factor}, "
                             f"e.g. {settings.resolution}")
        ignore = palette.ignore_index  # the id that has a colour of its own (COCO-Stuff's unlabelled 255)
        written = {
            "task": "segmentation", "dataset": dataset, "space": "latent",
            "network": {"kind": NETWORKS["latent"]}, "symmflow": asdict(symmflow),
            "size": size, "channels": 3, "classes": palette.num_classes, "class_names": list(reader.CLASS_NAMES),
            "ignore_index": reader.IGNORE_INDEX,
            "palette": {"colours": palette.colours.int().tolist(), "ignore_index": ignore,
                        "ignore_colour": None if ignore is None else
                        palette.colourise(torch.tensor([[[ignore]]]))[0, :, 0, 0].int().tolist(),
                        "chosen": settings.palettes.get(dataset, {})},
            "pretrained": folder_record(pretrained), "vae": None if vae is None else folder_record(vae),
            "released": {"file": Path(weights).name, "sha256": released.identity(weights)},
        }
        _write(staged, model, written)
    return written


def _import_pixel(state: dict, weights: Path, dataset: str, out: Path, overwrite: bool, inputs) -> dict:
    from benchmarks import released
    from symmflow.data import classification as data
    from symmflow.outputs import staged_folder

    s = pixel_profile(dataset)
    spec = data.dataset(s.dataset)
    method = pixel_method(dataset, spec.channels, spec.size, spec.num_classes, s.unet, s.symmflow)
    model = method.build()
    unet = released.backbone(model)
    unet.load_state_dict(released.matched(state, unet, weights, f"SymmFlow on {dataset}"))
    if dataset == "CIFAR-10":
        from symmflow.data.cifar10 import CLASS_NAMES as names
    else:
        names = tuple(str(k) for k in range(spec.num_classes))
    written = {
        "task": "classification", "dataset": dataset, "space": "pixel",
        "network": {"kind": NETWORKS["pixel"], "config": asdict(s.unet)}, "symmflow": asdict(s.symmflow),
        "size": spec.size, "channels": spec.channels, "class_names": list(names),
        "image_fit": s.mnist_fit if spec.channels == 1 else "resize",
        "released": {"file": Path(weights).name, "sha256": released.identity(weights)},
    }
    with staged_folder(out, overwrite, "model", inputs) as staged:
        _write(staged, model, written)
    return written


def _write(staged: Path, model, settings: dict) -> None:
    """``settings.json`` and ``model.safetensors`` (as :func:`symmflow.checkpoint.save_weights`
    writes them) into the staged folder."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    (staged / "settings.json").write_text(json.dumps(settings, indent=2, sort_keys=True))
    save_file(state, str(staged / "model.safetensors"))
    for name in ("model.safetensors", EMBEDDING):  # safetensors creates its files 0600: the umask's mode
        if (staged / name).is_file():
            shutil.copymode(staged / "settings.json", staged / name)


# ---------------------------------------------------------------- load


NEEDED = {"pixel": ("dataset", "network", "symmflow", "size", "channels", "class_names"),
          "latent": ("dataset", "network", "symmflow", "size", "classes", "palette", "ignore_index", "pretrained",
                     "vae")}
"""What a released model folder's settings hold besides ``task`` and ``released``."""


def is_released(settings: dict) -> bool:
    """Whether a model folder's settings are of an imported released model."""
    return "released" in settings


def settings_problem(settings: dict) -> str | None:
    """The first thing wrong with a released model folder's settings (None: nothing): a missing or
    malformed field is refused before anything is built."""
    from symmflow.method import SymmFlowSettings

    space = settings.get("space")
    if space not in NEEDED:
        return f"space {space!r} is not pixel or latent"
    missing = [k for k in NEEDED[space] if k not in settings]
    if missing:
        return f"lacks the setting {missing[0]!r}"
    expected = {"pixel": "classification", "latent": "segmentation"}[space]
    if settings["task"] != expected:
        return f"a {space} released model is a {expected} model, not a {settings['task']} one"
    network = settings["network"]
    if not isinstance(network, dict) or network.get("kind") != NETWORKS[space]:
        return f"network {network!r} is not the {NETWORKS[space]} of a {space} model"
    size = settings["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 8 or size % 8:
        return f"size {size!r} is not a multiple of 8"
    try:
        SymmFlowSettings(**settings["symmflow"])
    except (TypeError, ValueError) as error:
        return f"its symmflow settings are not valid ({' '.join(str(error).split())})"
    if space == "pixel":
        try:
            unet_config(settings)
        except (TypeError, ValueError, AttributeError) as error:
            return f"its network config is not the authors' U-Net's ({' '.join(str(error).split())})"
        names = settings["class_names"]
        if not isinstance(names, list) or len(names) < 2 or settings["channels"] not in (1, 3):
            return "class_names or channels do not describe a classifier"
        return None
    palette = settings["palette"]
    try:
        stored_palette(settings)
    except (TypeError, ValueError, KeyError, AttributeError, RuntimeError) as error:
        return f"palette {str(palette)[:60]!r} is not a palette ({' '.join(str(error).split())})"
    if stored_palette(settings).num_classes != settings["classes"]:
        return f"its palette has not {settings['classes']} colours"
    for key in ("pretrained", "vae"):
        record = settings[key]
        if record is None and key == "vae":
            continue
        if not isinstance(record, dict) or not isinstance(record.get("path"), str) or not isinstance(
                record.get("digest"), str):
            return f"{key} {record!r} is not a folder's path and digest"
    return None


def unet_config(settings: dict):
    """The authors' U-Net config of a pixel folder (JSON lists back to tuples)."""
    from symmflow.models.guided_unet import GuidedUNetConfig

    config = {k: tuple(v) if isinstance(v, list) else v for k, v in settings["network"]["config"].items()}
    return GuidedUNetConfig(**config)


def stored_palette(settings: dict):
    """The palette a latent folder's masks are coloured and decoded with (beta: the method's)."""
    from symmflow.codecs import PaletteCodec

    palette = settings["palette"]
    return PaletteCodec(palette["colours"], settings["symmflow"]["beta"], palette["ignore_index"],
                        palette["ignore_colour"])


def check_pretrained(settings: dict, folder: Path) -> tuple[Path, Path | None]:
    """The Stable Diffusion folder (and VAE folder) a latent model folder names, refused in one
    line where it is no longer there or no longer holds what it held at import."""
    from benchmarks.methods import pretrained_identity

    found = []
    for key, what in (("pretrained", "Stable Diffusion folder"), ("vae", "VAE folder")):
        record = settings[key]
        if record is None:
            found.append(None)
            continue
        path = Path(record["path"])
        if not path.is_dir():
            raise UsageError(f"{folder} runs on the {what} {path}, which is not there any more (moved or deleted?); "
                             f"put it back, or {REMEDY} and --{key} where the folder is now")
        digest = pretrained_identity(path)
        if digest != record["digest"]:
            raise UsageError(f"{folder} runs on the {what} {path}, whose content changed since the import (digest "
                             f"{digest}, imported with {record['digest']}); restore that folder, or {REMEDY}")
        found.append(path)
    return found[0], found[1]


def released_method(settings: dict, folder: Path | None, device: str):
    """The harness's SymmFlow method a released model folder runs with, whose settings
    :func:`settings_problem` passed (its network, untrained, is ``.build()``): a latent folder's
    Stable Diffusion and VAE folders and its text condition checked first (:func:`check_pretrained`)."""
    from symmflow.method import SymmFlowSettings

    symmflow = SymmFlowSettings(**settings["symmflow"])
    if settings["space"] == "pixel":
        return pixel_method(settings["dataset"], settings["channels"], settings["size"],
                            len(settings["class_names"]), unet_config(settings), symmflow)
    if folder is None:
        raise ValueError("a latent model's network needs its folder (its text condition)")
    embedding = Path(folder) / EMBEDDING
    try:  # read here, so that a missing one is never recomputed into a folder a command only reads
        from safetensors.torch import load_file

        load_file(str(embedding))["embedding"]
    except Exception as error:  # absent, truncated, or another file: the folder is damaged
        raise UsageError(f"{embedding} is missing or damaged ({' '.join(str(error).split())[:120]}); "
                         f"{REMEDY}") from None
    pretrained, vae = check_pretrained(settings, folder)
    return latent_method(settings["dataset"], stored_palette(settings), settings["ignore_index"], symmflow,
                         settings["size"], pretrained, vae, embedding, device)
