"""A trained model folder in diffusers' convention: what ``symmflow train`` writes.

* ``config.json`` and ``diffusion_pytorch_model.safetensors``: :class:`SymmFlowModel`, a diffusers
  ``ModelMixin`` + ``ConfigMixin``, written by diffusers' ``save_pretrained`` and read by its
  ``from_pretrained`` (so ``push_to_hub`` works too).  The config holds the settings that build the
  network (task, size, width, classes or class names, the method's settings) and, under
  ``training``, the settings it was trained with.
* ``README.md``: the model card, its YAML metadata (``huggingface_hub.ModelCardData``) naming the
  task, the classes, the training settings, the held-out metric (``validation`` in the settings:
  ``{"metric", "value", "step"}``), the seed and the code version.
* ``train_stats.json`` (where the training kept them): the loss by step.

:meth:`SymmFlowModel.from_pretrained` checks a local folder before diffusers reads it: a folder
that is not a model folder, holds another model or task, or whose weights do not fit its config is
one :class:`~symmflow.errors.UsageError` line naming it and the remedy.

Folders of the earlier layout (``settings.json`` + ``model.safetensors``,
:mod:`symmflow.checkpoint`) are still read by :func:`symmflow.model_folder.open_folder`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import Tensor, nn

from symmflow.errors import UsageError
from symmflow.outputs import staged_folder

CONFIG, WEIGHTS, CARD, STATS = "config.json", "diffusion_pytorch_model.safetensors", "README.md", "train_stats.json"
ARCHITECTURE = ("task", "size", "base_channels", "symmflow", "classes", "class_names")
"""The settings that build the network; every other setting is the training's."""
REMEDY = "retrain with symmflow train, or pass the folder of a model it wrote"


class SymmFlowModel(ModelMixin, ConfigMixin):
    """SymmFlow's velocity ``(x_t, y_t, t) -> (v_x, v_y)`` (paper eq. 8) as a diffusers model:
    ``velocity`` is the pixel network of :func:`symmflow.model_folder.pixel_network` (a diffusers
    ``UNet2DModel`` over the concatenation [x_t, y_t], :class:`~symmflow.models.pixel_unet.ConcatVelocity`)."""

    config_name = CONFIG

    @register_to_config
    def __init__(self, task: str = "segmentation", size: int = 32, base_channels: int = 32,
                 symmflow: dict | None = None, classes: int | None = None, class_names: list | None = None,
                 training: dict | None = None):
        super().__init__()
        from symmflow.model_folder import pixel_network

        self.velocity = pixel_network(_architecture(task, size, base_channels, symmflow, classes, class_names))

    @property
    def settings(self) -> dict:
        """The flat settings of the model (as ``settings.json`` held them): the training's and the network's."""
        return settings_of(dict(self.config))

    def forward(self, x: Tensor, y: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        return self.velocity(x, y, t)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """diffusers' ``from_pretrained``; a local folder is checked first (:func:`checked_settings`),
        read from safetensors only, and weights that do not fit its config are one
        :class:`~symmflow.errors.UsageError` line naming the folder and the remedy."""
        from safetensors import SafetensorError

        where = Path(str(pretrained_model_name_or_path))
        if not local(where):  # a model on a hub: diffusers' own download and errors
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        checked_settings(where)
        try:
            return super().from_pretrained(str(where), **{"use_safetensors": True, **kwargs})
        except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as error:
            reason = " ".join(str(error).split(" If you want")[0].split())[:300]  # diffusers' own advice left out
            raise UsageError(f"the weights of {where} do not load into the network its {CONFIG} describes "
                             f"({reason}); {REMEDY}, or restore the folder's own {CONFIG} and weights") from None


def _architecture(task, size, base_channels, symmflow, classes, class_names) -> dict:
    found = {"task": task, "size": size, "base_channels": base_channels, "symmflow": symmflow or {}}
    found.update({"classes": classes} if task == "segmentation" else {"class_names": class_names})
    return found


def settings_of(config: dict) -> dict:
    """A config's flat settings: the ``training`` ones, then those that build the network (where
    set: the checks of :func:`symmflow.model_folder.open_folder` name a missing one)."""
    training = config.get("training")
    built = {k: config[k] for k in ARCHITECTURE if config.get(k) is not None}
    return {**(training if isinstance(training, dict) else {}), **built}


def code_version() -> str:
    """The package's version, with the git commit of its checkout where it lies in one."""
    from symmflow import __version__

    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{commit}" if commit else __version__


# ---------------------------------------------------------------- writing


def wrapped(model: nn.Module, settings: dict) -> SymmFlowModel:
    """``model`` (a network of :func:`~symmflow.model_folder.pixel_network`) as a
    :class:`SymmFlowModel` of ``settings`` holding its weights (a :class:`SymmFlowModel` passes)."""
    if isinstance(model, SymmFlowModel):
        return model
    from symmflow.model_folder import symmflow_of
    from dataclasses import asdict

    training = {k: v for k, v in settings.items() if k not in ARCHITECTURE and k != "train_stats"}
    config = {k: settings[k] for k in ARCHITECTURE if k in settings}
    config["symmflow"] = asdict(symmflow_of(settings).settings)
    made = SymmFlowModel(**config, training=training)
    made.velocity.load_state_dict(model.state_dict())
    return made


def save_model(model: nn.Module, folder: Path, settings: dict, overwrite: bool = False,
               inputs: tuple[Path, ...] = ()) -> None:
    """Write the model folder ``folder`` of ``model`` trained with ``settings`` (the signature of
    :func:`symmflow.checkpoint.save_weights`): the config and weights through diffusers'
    ``save_pretrained``, the model card, the loss by step (``settings["train_stats"]``, where given);
    all-or-nothing (:func:`~symmflow.outputs.staged_folder`)."""
    from safetensors import SafetensorError

    made = wrapped(model, settings)
    with staged_folder(Path(folder), overwrite, "model", inputs) as staged:
        try:
            made.save_pretrained(staged, safe_serialization=True)
        except SafetensorError as error:  # a full disk while writing: an OSError, one line, nothing left
            raise OSError(f"safetensors: {error}") from None
        shutil.copymode(staged / CONFIG, staged / WEIGHTS)  # safetensors creates its file 0600: the umask's mode
        (staged / CARD).write_text(model_card(made.settings))
        if settings.get("train_stats"):
            (staged / STATS).write_text(json.dumps(settings["train_stats"]))


def model_card(settings: dict) -> str:
    """The model card of a model of ``settings``: YAML metadata and a few lines of use."""
    from huggingface_hub import ModelCard, ModelCardData

    task = settings["task"]
    classes = settings.get("class_names") or list(range(settings["classes"]))
    training = {k: v for k, v in settings.items() if k not in ("task", "classes", "class_names", "seed",
                                                                 "validation", "train_stats")}
    data = ModelCardData(library_name="diffusers", tags=["symmflow", "flow-matching", f"image-{task}"],
                         pipeline_tag="image-segmentation" if task == "segmentation" else "image-classification",
                         symmflow={"task": task, "classes": classes, "seed": settings.get("seed"),
                                   "validation": settings.get("validation"), "training": training,
                                   "code_version": code_version()})
    held_out = settings.get("validation")
    metric = (f"Held-out {held_out['metric']}: {held_out['value']:.4g} at step {held_out['step']}."
              if isinstance(held_out, dict) and {"metric", "value", "step"} <= set(held_out) else
              "No held-out metric was measured in training.")
    uses = ("segment images and synthesise images from class maps" if task == "segmentation" else
            "classify images and sample images of classes")
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n# SymmFlow {task} model\n\n"
                         f"One Symmetrical Flow Matching model ({settings['size']} px, {len(classes)} classes) to "
                         f"{uses}. {metric}\n\n```python\nimport symmflow\n\n"
                         "model = symmflow.load(\"path/to/this/folder\")\n```\n\n"
                         "Trained with `symmflow train`; the settings are in `config.json`.\n"))


# ---------------------------------------------------------------- reading


def is_pretrained(folder: Path) -> bool:
    """Whether ``folder`` holds a diffusers ``config.json`` (of any model)."""
    return (Path(folder) / CONFIG).is_file()


def read_config(folder: Path) -> dict:
    """The ``config.json`` of a :class:`SymmFlowModel` folder; a damaged one, or one of another
    diffusers model, is one :class:`UsageError` line naming it."""
    file = Path(folder) / CONFIG
    try:
        config = json.loads(file.read_text())
    except (ValueError, OSError) as error:
        raise UsageError(f"{file} is damaged or not what symmflow writes ({' '.join(str(error).split())}); "
                         f"{REMEDY}") from None
    if not isinstance(config, dict):
        raise UsageError(f"{file} is damaged or not what symmflow writes (a JSON {type(config).__name__}); {REMEDY}")
    kind = config.get("_class_name")
    if kind != SymmFlowModel.__name__:
        raise UsageError(f"{folder} holds a diffusers {kind or 'config'} folder, not a SymmFlow model "
                         f"(_class_name: {kind!r}); {REMEDY}")
    return config


def local(where: Path) -> bool:
    """Whether ``where`` names a folder on this machine rather than a model on a hub (``owner/name``)."""
    text = str(where)
    return where.exists() or where.is_absolute() or text.startswith((".", "~")) or text.count("/") != 1


def checked_settings(folder: Path) -> dict:
    """The settings of the model folder ``folder``, every one checked before a network is built
    (:func:`symmflow.model_folder.check_settings`); what is not a model folder is one line."""
    from symmflow.model_folder import check_settings

    folder = Path(folder)
    if not (folder / CONFIG).is_file():
        why = "no such folder" if not folder.exists() else "not a folder" if not folder.is_dir() else f"no {CONFIG}"
        raise UsageError(f"{folder} is not a model folder ({why}); train one with symmflow train, or pass the "
                         "folder it wrote")
    settings = settings_of(read_config(folder))
    check_settings(settings, folder / CONFIG, folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise UsageError(f"no weights at {weights}; {REMEDY}")
    try:  # the header against the file's size: a truncated or foreign file, named before diffusers reads it
        from safetensors import safe_open

        with safe_open(str(weights), "pt"):
            pass
    except Exception as error:  # safetensors raises its own types, and OSError
        raise UsageError(f"{weights} is damaged or not what symmflow writes ({' '.join(str(error).split())[:200]}); "
                         f"{REMEDY}") from None
    return settings
