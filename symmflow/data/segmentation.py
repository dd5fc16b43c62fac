"""Image / mask pairs read from disk: checked, cropped, and as torch datasets.

Shared by the published layouts (:mod:`symmflow.data.celebamask`, :mod:`symmflow.data.cocostuff`),
the Hugging Face ``datasets`` copies (:mod:`symmflow.data.hfdata`) and a user's own folders
(:func:`paired_folders`).  Images come out as float (3, S, S) in [-1, 1], masks as long (S, S);
training crops are random, evaluation crops the centre (512 px in the paper, notes section 6).

Bad input -- an unreadable image, a colour image given as a class-id mask, a mask of another
size than its image, mask ids outside the data set's range -- raises a one-line
:class:`~symmflow.errors.UsageError` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from symmflow.errors import UsageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def read_image(path: Path, mode: str = "RGB") -> np.ndarray:
    """An image file as uint8 (H, W, 3) (``RGB``) or int64 (H, W): ``L`` keeps the raw values of
    a single-channel (L, P, I) file and takes the luminance of a colour one; ``ids`` (a class-id
    mask) refuses a colour file, accepting only grey stored as RGB (equal channels)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            pixels = im.size[0] * im.size[1]
            if Image.MAX_IMAGE_PIXELS and pixels > Image.MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError(f"{pixels:,} pixels")
            im.load()
            if mode == "RGB":
                return np.asarray(im.convert("RGB"))
            if im.mode in ("1", "P", "L", "I", "I;16"):  # "1": a 1-bit mask, its ids 0 and 1
                return np.asarray(im).astype(np.int64)
            if mode == "ids":
                return _grey_ids(np.asarray(im.convert("RGB")), path, im.mode)
            return np.asarray(im.convert("L")).astype(np.int64)
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found; check the data folder") from None
    except Image.DecompressionBombError as error:
        raise UsageError(f"{path}: too large to read safely ({' '.join(str(error).split()[:2])}, more than PIL's "
                         f"limit of {Image.MAX_IMAGE_PIXELS:,}); downscale the image or remove the file") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise UsageError(f"{path}: not a readable image ({error}); replace or remove the file") from None


def _grey_ids(rgb: np.ndarray, path: Path, mode: str) -> np.ndarray:
    if (rgb != rgb[..., :1]).any():
        raise UsageError(f"{path}: a colour ({mode}) image, but masks must be single-channel class-id PNGs "
                         "(mode L or P, pixel value = class id); convert the colour mask to class ids")
    return rgb[..., 0].astype(np.int64)


def check_ids(mask: np.ndarray, num_classes: int, ignore_index: int | None, where) -> None:
    bad = (mask < 0) | (mask >= num_classes)
    if ignore_index is not None:
        bad &= mask != ignore_index
    if bad.any():
        value = int(mask[bad][0])
        allowed = f"0-{num_classes - 1}" + (f" and {ignore_index}" if ignore_index is not None else "")
        raise UsageError(f"{where}: mask id {value} is outside the data set's ids ({allowed}); "
                         "check that the mask belongs to this data set")


def check_sizes(image: np.ndarray, mask: np.ndarray, where) -> None:
    if image.shape[:2] != mask.shape[:2]:
        raise UsageError(f"{where}: image is {image.shape[1]}x{image.shape[0]} but its mask is "
                         f"{mask.shape[1]}x{mask.shape[0]}; give each image a mask of the same size")


def to_tensors(image: np.ndarray, mask: np.ndarray) -> tuple[Tensor, Tensor]:
    x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float().div(127.5).sub(1.0)
    return x, torch.from_numpy(np.ascontiguousarray(mask)).long()


def fixed_crop(height: int, width: int, size: int | None) -> bool:
    """Whether :func:`crop_pair` gives a pair of this size the same training crop every time:
    a square no larger than ``size`` (resized to it whole) -- or any pair where ``size`` is None."""
    return size is None or (height == width and height <= size)


def crop_pair(image: Tensor, mask: Tensor, size: int | None, train: bool,
              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """A ``size`` square crop: random when training, the centre when evaluating.

    Pairs smaller than ``size`` are first resized so their short side is ``size``
    (bilinear for the image, nearest for the mask).
    """
    if size is None:
        return image, mask
    h, w = mask.shape
    if min(h, w) < size:
        scale = size / min(h, w)
        new = (max(size, round(h * scale)), max(size, round(w * scale)))
        image = torch.nn.functional.interpolate(image[None], size=new, mode="bilinear", align_corners=False)[0]
        mask = torch.nn.functional.interpolate(mask[None, None].float(), size=new, mode="nearest")[0, 0].long()
        h, w = new
    if train:
        top = int(torch.randint(0, h - size + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - size + 1, (1,), generator=generator))
    else:
        top, left = (h - size) // 2, (w - size) // 2
    return image[:, top:top + size, left:left + size], mask[top:top + size, left:left + size]


class PairDataset(Dataset):
    """(image, mask) pairs from a list of items and a loader ``item -> (uint8 image, int mask)``."""

    def __init__(self, items: Sequence, load: Callable, num_classes: int, ignore_index: int | None,
                 size: int | None = 512, train: bool = False, seed: int = 0, remap: np.ndarray | None = None,
                 mask_file: Callable | None = None):
        self.items, self.load, self.size, self.train = list(items), load, size, train
        self.num_classes, self.ignore_index, self.remap = num_classes, ignore_index, remap
        self.mask_file = mask_file
        """``item -> path`` of a PNG of the mask's size, where the reader has one (sizes read from headers)."""
        self.generator = torch.Generator().manual_seed(seed)

    def mask_size(self, i: int) -> tuple[int, int]:
        """(height, width) of pair ``i``'s mask before its crop: from the PNG header where the
        reader names a file (no pixels decoded), else by reading the pair."""
        if self.mask_file is not None:
            from PIL import Image

            try:
                with Image.open(self.mask_file(self.items[i])) as image:
                    return image.size[1], image.size[0]
            except OSError:
                pass  # read in full below, which names the problem
        return tuple(self.uncropped(i)[1].shape)

    def __len__(self) -> int:
        return len(self.items)

    def _crop_generator(self) -> torch.Generator | None:
        """Where training crops draw from: in a ``DataLoader`` worker, the worker's own torch RNG,
        which the loader seeds afresh for every epoch and worker from its generator (a copy of
        :attr:`generator` would repeat the same crops every epoch); in the main process, the
        data set's generator, which advances from crop to crop."""
        from torch.utils.data import get_worker_info

        return None if get_worker_info() is not None else self.generator

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return crop_pair(*self.uncropped(i), self.size, self.train, self._crop_generator())

    def uncropped(self, i: int) -> tuple[Tensor, Tensor]:
        """Pair ``i`` read, checked and as tensors, before its crop."""
        item = self.items[i]
        image, mask = self.load(item)
        check_sizes(image, mask, where(item))
        if self.remap is not None:
            if mask.min() < 0 or mask.max() >= len(self.remap):
                check_ids(mask, len(self.remap), None, where(item))
            mask = self.remap[mask]
        check_ids(mask, self.num_classes, self.ignore_index, where(item))
        return to_tensors(image, mask)


def visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` a person put there: hidden ones (a dot-name: ``.thumbnails/``,
    ``.DS_Store``, an editor's swap file) are left out wherever a folder is listed."""
    return sorted(p for p in Path(folder).iterdir() if not p.name.startswith("."))


def unfollowable(path: Path) -> bool:
    """``path`` is a symbolic link that cannot be followed: its target is missing, or a loop."""
    return Path(path).is_symlink() and not Path(path).exists()


def refuse_broken_link(path: Path) -> None:
    """A link among the inputs that leads nowhere is refused by name, never skipped in silence."""
    if unfollowable(path):
        raise UsageError(f"{path} is a symbolic link that cannot be followed (its target is missing, or the links "
                         "form a loop); fix or remove the link")


def image_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` (by suffix); an image's link that cannot be followed is refused."""
    found = [p for p in visible(folder) if p.suffix.lower() in IMAGE_SUFFIXES]
    for path in found:
        refuse_broken_link(path)
    return [p for p in found if p.is_file()]


def where(item) -> str:
    """A data item as a message names it: a path, or an image and its mask."""
    if isinstance(item, tuple) and len(item) == 2:
        return f"image {item[0]} with mask {item[1]}"
    return str(item)


def paired_folders(images: Path, masks: Path, num_classes: int, ignore_index: int | None = None,
                   size: int | None = None, train: bool = False) -> PairDataset:
    """A user's own data: ``images/<name>.<ext>`` with class-id masks ``masks/<name>.png``."""
    for folder, what in ((images, "images"), (masks, "masks")):
        if not Path(folder).is_dir():
            raise UsageError(f"{what} folder {folder} not found; pass an existing folder")
    items = []
    for image in image_files(images):
        mask = Path(masks) / f"{image.stem}.png"
        refuse_broken_link(mask)
        if not mask.is_file():
            raise UsageError(f"no mask {mask} for image {image}; masks must be PNGs named like their images")
        items.append((image, mask))
    if not items:
        raise UsageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {images}")
    return PairDataset(items, lambda item: (read_image(item[0]), read_image(item[1], "ids")),
                       num_classes, ignore_index, size, train, mask_file=lambda item: item[1])
