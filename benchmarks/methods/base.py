"""What every method of the tables is built for and implements (:mod:`benchmarks.methods` has
the interface's description and the registry)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from symmflow.codecs import PaletteCodec
from symmflow.models.pixel_unet import UNetConfig


@dataclass
class Problem:
    """What a method is built for: the data set's shape and classes and the network's base."""

    dataset: str
    channels: int
    size: int
    num_classes: int
    unet: UNetConfig | None = None
    """The pixel U-Net's layout (None in latent space)."""
    palette: PaletteCodec | None = None
    """Segmentation: the data set's class colours (and ignored pixels)."""
    ignore_index: int | None = None
    space: object = None
    """Segmentation: where the flow runs (:class:`~symmflow.spaces.PixelSpace` or a latent space)."""
    pretrained: Path | None = None
    """Latent space: the Stable Diffusion folder; ``embedding_cache`` keeps its empty-prompt embedding."""
    embedding_cache: Path | None = None
    vae: Path | None = None
    """Latent space: a VAE folder used instead of the Stable Diffusion folder's own (``--vae``)."""

    @property
    def identity(self) -> dict:
        """What a network built for this problem depends on (besides its method's settings); a
        VAE of its own only where one was given, so that the default's identity stays as it was."""
        vae = {} if self.vae is None else {"vae": pretrained_identity(self.vae)}
        return {"dataset": self.dataset, "channels": self.channels, "size": self.size,
                "classes": self.num_classes, "unet": self.unet,
                "pretrained": None if self.pretrained is None else pretrained_identity(self.pretrained), **vae}


def pretrained_identity(folder: Path) -> str:
    """The pretrained weights by what they are, not where they lie: a digest of the folder's model
    configs and of the contents of its weight files (:func:`symmflow.digests.folder_digest`), so
    two folders with one config and the same file sizes but other weights are two identities."""
    from symmflow.digests import folder_digest

    return folder_digest(folder)


class Method:
    """The interface; see the module docstring.  Capabilities a method lacks stay ``None``."""

    key = label = ""
    """``key``: the registry name (cells and the model cache use it); ``label``: the table row."""
    spaces: tuple[str, ...] = ("pixel", "latent")
    """Where a segmentation method can run (Tables 2, 4 and 5 take those of their profile's space)."""
    trains: str | None = None
    """The key of the method whose trained network this one uses (default: its own)."""
    classify_steps = "euler"
    """What ``classify``'s ``steps`` is, which decides its cells in Tables 3 and 11: ``euler`` (Euler
    steps: a cell at each of the tables' steps, and rows of Table 11), ``schedule`` (a Diffusion Classifier
    schedule: a cell per schedule of the settings) or ``single`` (one network call: one cell, at 1 step)."""
    judges_samples = False
    """Whether its trained network measures Table 3's generated images (their features and classes)."""
    segment = synthesise = classify = generate = None

    def __init__(self, problem: Problem, settings=None):
        self.problem, self.settings = problem, settings

    @property
    def network_key(self) -> str:
        return self.trains or self.key

    def build(self):
        raise NotImplementedError

    def loss(self, model, batch):
        raise NotImplementedError
