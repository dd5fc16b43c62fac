"""A model folder as ``symmflow train`` or ``symmflow import-released`` writes it: its settings
checked field by field, and the network, label codec and palette those settings make (what every
command loads).

Two kinds of folder are read: a model trained by ``symmflow train`` (the pixel U-Net of
:mod:`symmflow.models.pixel_unet`; in diffusers' layout, :mod:`symmflow.pretrained`, or the earlier
``settings.json`` + ``model.safetensors``), and one of the authors' released models imported by
``symmflow import-released`` (:mod:`symmflow.released_folder`: their pixel classifiers of MNIST
and CIFAR-10, and their latent models of CelebAMask-HQ and COCO-Stuff, which run through a
Stable Diffusion folder and a VAE named by the folder).  :func:`open_folder` gives either as an
:class:`Opened` model, which the Python API (:mod:`symmflow.api`) and ``symmflow evaluate`` run.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from symmflow.errors import UsageError


def palette_for(num_classes: int, beta: float):
    from symmflow.codecs import CELEBAMASK_COLOURS, PaletteCodec, cocostuff_colours

    if num_classes > 216:
        raise UsageError(f"{num_classes} classes: at most 216 palette colours are available")
    colours = CELEBAMASK_COLOURS if num_classes <= len(CELEBAMASK_COLOURS) else cocostuff_colours(216)
    return PaletteCodec(colours[:num_classes], beta)



def symmflow_of(settings: dict):
    """The SymmFlow method of a model folder's settings (folders written before the method
    object kept the same settings flat: image_weight, near_one, label_residual, mask_code)."""
    from symmflow.method import SymmFlow, SymmFlowSettings

    if "symmflow" in settings:
        return SymmFlow(SymmFlowSettings(**settings["symmflow"]))
    per_class = settings["task"] == "segmentation" and settings.get("mask_code") == "per-class"
    return SymmFlow(SymmFlowSettings(
        image_weight=settings.get("image_weight", 0.9), beta=settings["beta"],
        label_code="per-class" if per_class else "image", near_one=settings.get("near_one", 0.0),
        near_one_label_only=settings.get("near_one_label_only", False),
        label_form="residual" if settings.get("label_residual") else "velocity"))


class Parts(NamedTuple):
    """What a model folder's settings make: the SymmFlow method object, its label codec, the shape
    of one label state and, for segmentation, the palette the colour previews are drawn in."""

    symmflow: object
    codec: object
    label_shape: tuple[int, ...]
    palette: object


def palette_of(settings: dict):
    """The palette a segmentation folder's masks are coloured in: the one it stores (a released
    model's, :func:`symmflow.released_folder.stored_palette`), else the first colours of the
    standard lists for its number of classes (:func:`palette_for`)."""
    if "palette" in settings:
        from symmflow.released_folder import stored_palette

        return stored_palette(settings)
    return palette_for(settings["classes"], symmflow_of(settings).settings.beta)


def parts(settings: dict) -> Parts:
    """The method, label codec, label shape and palette of a folder's settings.  A latent folder's
    codec and shape are those of its masks in pixels (palette colours, (3, size, size)), which its
    VAE encodes (:class:`Opened` runs it)."""
    symmflow, size = symmflow_of(settings), settings["size"]
    palette = None
    if settings["task"] == "segmentation":
        palette = palette_of(settings)
        codec = symmflow.mask_codec(palette)
    else:
        codec = symmflow.class_codec(len(settings["class_names"]), size)
    return Parts(symmflow, codec, symmflow.label_shape(codec, size, dense=True), palette)


def network(settings: dict, device: str, folder: Path | None = None):
    """The untrained network of a folder's settings; a released latent model's is built from the
    Stable Diffusion folder it names (checked), with the text condition kept in ``folder``."""
    from symmflow.released_folder import is_released, released_method

    if is_released(settings):
        return released_method(settings, folder, device).build().to(device)
    return pixel_network(settings).to(device)


def pixel_network(settings: dict):
    """The untrained pixel network of a ``symmflow train`` model's settings, on the CPU: the U-Net
    of :mod:`symmflow.models.pixel_unet` (levels (1, 2, 2), one block each) under its method."""
    from symmflow.models.pixel_unet import UNetConfig

    size, base = settings["size"], settings["base_channels"]
    config = UNetConfig(base_channels=base, multipliers=(1, 2, 2), layers_per_block=1, head_channels=base,
                        norm_groups=min(32, base))
    made = parts(settings)
    return made.symmflow.network(config, 3, made.label_shape, size)


#: The settings a model folder of each task must hold (besides ``symmflow``, or ``beta`` in older folders).
NEEDED = {"segmentation": ("classes", "size", "base_channels"),
          "classification": ("class_names", "size", "base_channels")}


def integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def settings_problem(settings: dict) -> str | None:
    """What is wrong with a model folder's settings, field by field (None: nothing), so that an
    edited settings.json is refused before inference instead of failing in the middle of it."""
    from symmflow.method import SymmFlowSettings

    size, base = settings["size"], settings["base_channels"]
    if not integer(size) or size < 8 or size % 8:
        return f"size {size!r} is not a multiple of 8 (the U-Net halves it twice)"
    if not integer(base) or base <= 0 or (base > 32 and base % 32):
        return f"base_channels {base!r} is not 1 to 32 or a multiple of 32"
    if settings["task"] == "segmentation":
        classes = settings["classes"]
        if not integer(classes) or not 2 <= classes <= 216:
            return f"classes {classes!r} is not a number of classes from 2 to 216"
    else:
        names = settings["class_names"]
        if (not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names)
                or len(set(names)) != len(names)):
            return f"class_names {names!r} is not a list of two or more distinct names"
    if "symmflow" in settings:
        if not isinstance(settings["symmflow"], dict):
            return f"symmflow {settings['symmflow']!r} is not a set of settings"
        try:
            SymmFlowSettings(**settings["symmflow"])
        except (TypeError, ValueError) as error:
            return f"its symmflow settings are not valid ({' '.join(str(error).split())})"
    elif isinstance(settings["beta"], bool) or not isinstance(settings["beta"], (int, float)) or settings["beta"] <= 0:
        return f"beta {settings['beta']!r} is not a positive number"
    return None


class Flow(NamedTuple):
    """What runs a model's flow on square batches: its label codec, the shape of one label state and of
    one data state, and for a latent model its space (the VAE: images in, latents out and back)."""

    codec: object
    label_shape: tuple[int, ...]
    data_shape: tuple[int, ...]
    space: object = None


class Opened(NamedTuple):
    """A model folder opened for inference: its network (EMA weights, eval mode), its settings,
    for a released model the harness's SymmFlow method that runs it (the code path of the tables'
    evaluation: :class:`benchmarks.methods.symmflow.SymmFlowMethod`; a latent model's VAE inside it)
    and, for a folder in diffusers' layout, the :class:`~symmflow.pretrained.SymmFlowModel` whose
    ``velocity`` the network is.  Its four uses run through :mod:`symmflow.inference` (the Python API,
    :class:`symmflow.api.Model`, gives them images of any shape)."""

    model: object
    settings: dict
    method: object = None
    pretrained: object = None

    def flow(self) -> Flow:
        """The codec, state shapes and space the flow of this model runs with."""
        if self.method is not None:
            m = self.method
            return Flow(m.codec, tuple(m.label_shape), tuple(m.data_shape), m.space)
        made, size = parts(self.settings), self.settings["size"]
        return Flow(made.codec, made.label_shape, (3, size, size))

    def segment(self, x, steps: int, generator, solver: str = "euler"):
        """Class maps (B, size, size) of images ``x``; each image's noise from a seed of its own,
        drawn from ``generator`` in turn (:func:`image_seeds`: the same whatever the batches)."""
        from symmflow.inference import recognise

        return recognise(self, x, image_seeds(generator, len(x)), steps, solver)

    def classify(self, x, steps: int, generator, solver: str = "euler"):
        """Class ids (B,) of images ``x`` (seeds as :meth:`segment`'s)."""
        return self.segment(x, steps, generator, solver)

    def synthesise(self, masks, steps: int, generator, solver: str = "euler"):
        """Images (B, C, size, size) of class maps ``masks`` (seeds as :meth:`segment`'s)."""
        from symmflow.inference import generate

        return generate(self, masks, image_seeds(generator, len(masks)), steps, solver)

    def sample(self, labels, steps: int, generator, solver: str = "euler"):
        """Images (B, C, size, size) of class ids ``labels`` (seeds as :meth:`segment`'s)."""
        return self.synthesise(labels, steps, generator, solver)


def image_seeds(generator, count: int) -> list[int]:
    """``count`` seeds drawn one by one from ``generator``: image i of a run gets the i-th, however
    the run is split into batches."""
    import torch

    return [int(torch.randint(0, 2 ** 63 - 1, (1,), generator=generator)) for _ in range(count)]


def open_model(folder: Path, device: str, task: str, instead: str):
    """(network, settings) of the model in ``folder``, which must be a ``task`` model (else: use
    ``instead``); :func:`open_folder` for the model ready to run."""
    opened = open_folder(folder, device, task, instead)
    return opened.model, opened.settings


def _wrong_task(folder: Path, kind: str, task: str | None, instead: str | None) -> None:
    if task is not None and kind != task:
        remedy = f"use symmflow {instead}" if instead else f"pass the folder of a {task} model"
        raise UsageError(f"{folder} is a {kind} model; {remedy}")


def check_settings(settings: dict, file: Path, folder: Path, task: str | None = None,
                   instead: str | None = None) -> None:
    """Refuse, field by field, the settings of a model ``symmflow train`` wrote, before anything is built."""
    remedy = "retrain with symmflow train, or pass the folder of a model it wrote"
    kind = settings.get("task")
    if kind not in NEEDED:
        raise UsageError(f"{file} names no known task (task: {kind!r}); {remedy}")
    needed = NEEDED[kind] + (() if "beta" in settings else ("symmflow",))
    missing = [k for k in needed if k not in settings]
    if missing:
        raise UsageError(f"{file} lacks the setting {missing[0]!r}; {remedy}")
    _wrong_task(folder, kind, task, instead)
    problem = settings_problem(settings)
    if problem:
        raise UsageError(f"{file}: {problem}; {remedy}")


def open_folder(folder: Path, device: str, task: str | None = None, instead: str | None = None) -> Opened:
    """The model in ``folder`` -- written by ``symmflow train`` (diffusers' layout,
    :mod:`symmflow.pretrained`, or the earlier ``settings.json`` + ``model.safetensors``) or imported
    by ``symmflow import-released`` -- which must be a ``task`` model where one is named (else: use
    ``instead``); every setting is checked before a network is built."""
    from symmflow import pretrained
    from symmflow.checkpoint import load_weights, saved_settings

    folder = Path(folder)
    settings, file = saved_settings(folder), folder / "settings.json"
    if settings is None and pretrained.is_pretrained(folder):
        settings = pretrained.settings_of(pretrained.read_config(folder))
        check_settings(settings, folder / pretrained.CONFIG, folder, task, instead)
        loaded = pretrained.SymmFlowModel.from_pretrained(folder).to(device).eval()
        return Opened(loaded.velocity, settings, pretrained=loaded)
    if settings is None:
        raise UsageError(f"{folder} is not a model folder (no config.json or settings.json); train one with "
                         "symmflow train, or import a released one with symmflow import-released")
    from symmflow.released_folder import REMEDY, is_released, released_method
    from symmflow.released_folder import settings_problem as released_problem

    if not is_released(settings):
        check_settings(settings, file, folder, task, instead)
        try:
            model = network(settings, device)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise UsageError(f"{file} holds settings no model can be built from ({' '.join(str(error).split())}); "
                             "retrain with symmflow train, or pass the folder of a model it wrote") from None
        return Opened(load_weights(model, folder).eval(), settings)
    kind = settings.get("task")
    if kind not in NEEDED:
        raise UsageError(f"{file} names no known task (task: {kind!r}); {REMEDY}")
    _wrong_task(folder, kind, task, instead)
    problem = released_problem(settings)
    if problem:
        raise UsageError(f"{file}: {problem}; {REMEDY}")
    method = released_method(settings, folder, device)
    try:
        model = load_weights(method.build(), folder)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise UsageError(f"{file} holds settings no model can be built from ({' '.join(str(error).split())}); "
                         f"{REMEDY}") from None
    return Opened(model.to(device).eval(), settings, method)
