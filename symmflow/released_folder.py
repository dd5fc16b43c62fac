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
(:func:`~symmflow.released_load.check_pretrained`).  Images run through the same code as the
tables' evaluation of the file: :meth:`~benchmarks.methods.symmflow.SymmFlowMethod.segment`
(image -> posterior sample of its latent, Euler from t = 1 to 0, mask latent -> VAE -> nearest
palette colour -> class ids), ``synthesise``, ``classify`` and ``generate``.

The released models' data sets and the networks they run on lie in :mod:`symmflow.released_networks`,
the loading of such a folder in :mod:`symmflow.released_load`; this module writes the folder and
keeps their names for its callers.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import torch

from symmflow.errors import UsageError
from symmflow.released_load import (NEEDED, REMEDY, check_pretrained, is_released, released_method,  # noqa: F401
                                    settings_problem, stored_palette, unet_config)
from symmflow.released_networks import (ALIASES, EMBEDDING, LATENT, NETWORKS, PIXEL, READERS,  # noqa: F401
                                        dataset_named, latent_method, latent_profile, pixel_method, pixel_profile,
                                        pixel_shapes)


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
