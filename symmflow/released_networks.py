"""The authors' released models (reference notes section 10) and the networks the paper profile's
tables evaluate them with: the data sets of the released pixel classifiers and latent models, as
``--dataset`` names them, and the harness's SymmFlow method
(:class:`benchmarks.methods.symmflow.SymmFlowMethod`) on the problem of the paper profile's
settings for the data set (:mod:`benchmarks.profiles`), which an imported model folder runs with.
"""

from __future__ import annotations

from pathlib import Path

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
