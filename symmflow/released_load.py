"""A released model folder loaded (:mod:`symmflow.model_folder` reads it as one of ``symmflow
train``): its settings checked before anything is built, the U-Net config and palette they hold,
the Stable Diffusion and VAE folders a latent one names refused in one line where moved or changed,
and the harness's SymmFlow method it runs with.
"""

from __future__ import annotations

from pathlib import Path

from symmflow.errors import UsageError
from symmflow.released_networks import EMBEDDING, NETWORKS, latent_method, pixel_method

REMEDY = "import the released file again with symmflow import-released"
"""What a refusal of a moved, changed or damaged released model folder tells one to do."""


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
