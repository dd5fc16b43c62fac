"""CelebAMask-HQ in its published layout (notes section 9).

``<root>/CelebAMask-HQ/`` holds ``CelebA-HQ-img/<id>.jpg`` and either the per-part masks
``CelebAMask-HQ-mask-anno/<id // 2000>/<id:05d>_<part>.png`` -- merged here into the standard
19 classes, background 0 first and later parts overwriting earlier ones in :data:`PARTS`'
order -- or the pre-merged class-id masks ``CelebAMask-HQ-mask/<id>.png``.  Images (1024 px)
are resized to their masks' size (512 px).  The standard split (train 24,183 / validation
2,993 / test 2,824) comes from ``CelebA-HQ-to-CelebA-mapping.txt`` and CelebA's
``list_eval_partition.txt``; a folder without them is refused (every face would otherwise be in
every split).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from symmflow.codecs import CELEBAMASK_COLOURS, PaletteCodec
from symmflow.data.segmentation import PairDataset, read_image
from symmflow.errors import UsageError

NAME = "CelebAMask-HQ"
NUM_CLASSES = 19
IGNORE_INDEX = 0  # the reference's mIoU ignores the background
BETA = 10.0
#: Classes 1-18 in the standard merge order (class 0 is the background).
PARTS = ("skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth",
         "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth")
CLASS_NAMES = ("background", *PARTS)
"""The 19 classes' names, in class-id order."""
SPLITS = {"train": 0, "validation": 1, "test": 2}
EXPECTED = ("CelebA-HQ-img/<id>.jpg with CelebAMask-HQ-mask-anno/<id//2000>/<id:05d>_<part>.png "
            "or CelebAMask-HQ-mask/<id>.png")


def palette(beta: float = BETA) -> PaletteCodec:
    return PaletteCodec(CELEBAMASK_COLOURS, beta)


def locate(data_root: Path) -> tuple[Path, str]:
    """The data set's folder and its mask layout (``anno`` or ``merged``); a one-line error if absent."""
    root = Path(data_root) / NAME
    images = root / "CelebA-HQ-img"
    if not images.is_dir():
        raise UsageError(f"{NAME}: expected {EXPECTED} under {root}; {images} not found "
                         "(pass the folder that holds CelebAMask-HQ/ as --data-root)")
    if (root / "CelebAMask-HQ-mask").is_dir():
        return root, "merged"
    if (root / "CelebAMask-HQ-mask-anno").is_dir():
        return root, "anno"
    raise UsageError(f"{NAME}: expected {EXPECTED} under {root}; found images but no mask folder")


def merge_parts(root: Path, image_id: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """The 19-class mask of one face from its part PNGs (later parts overwrite earlier ones)."""
    folder = root / "CelebAMask-HQ-mask-anno" / str(image_id // 2000)
    mask = None if size is None else np.zeros(size, np.int64)
    for k, part in enumerate(PARTS, start=1):
        file = folder / f"{image_id:05d}_{part}.png"
        if not file.is_file():
            continue
        region = read_image(file, "L") > 0
        if mask is None:
            mask = np.zeros(region.shape, np.int64)
        if region.shape != mask.shape:
            raise UsageError(f"{file}: part mask is {region.shape[1]}x{region.shape[0]}, the face's other "
                             f"parts {mask.shape[1]}x{mask.shape[0]}; replace the file")
        mask[region] = k
    if mask is None:
        raise UsageError(f"{NAME}: no part masks for face {image_id} in {folder}")
    return mask


def split_ids(root: Path, split: str) -> list[int]:
    """Face ids of ``split`` by the standard split; a folder without its files is refused, since
    every face would then be in training and test alike."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    ids = sorted(int(p.stem) for p in (root / "CelebA-HQ-img").iterdir() if p.stem.isdigit())
    mapping, partition = root / "CelebA-HQ-to-CelebA-mapping.txt", root / "list_eval_partition.txt"
    missing = [f.name for f in (mapping, partition) if not f.is_file()]
    if missing:
        raise UsageError(f"{NAME}: no standard split under {root} ({' and '.join(missing)} missing), so every face "
                         "would be both a training and a test face; put CelebAMask-HQ's "
                         "CelebA-HQ-to-CelebA-mapping.txt and CelebA's list_eval_partition.txt there")
    part = {}
    for line in partition.read_text().split("\n"):
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit():
            part[fields[0]] = int(fields[1])
    wanted = set()
    for line in mapping.read_text().split("\n")[1:]:
        fields = line.split()
        if len(fields) >= 3 and part.get(fields[2]) == SPLITS[split]:
            wanted.add(int(fields[0]))
    return [i for i in ids if i in wanted]


def _resize_image(image: np.ndarray, size: tuple[int, int], where) -> np.ndarray:
    if image.shape[:2] == size:
        return image
    if image.shape[0] * size[1] != image.shape[1] * size[0]:
        return image  # different aspect: left for the size check to report
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BICUBIC))


def dataset(data_root: Path, split: str, size: int | None = 512, train: bool | None = None,
            seed: int = 0) -> PairDataset:
    """The ``split`` of CelebAMask-HQ as (image, mask) pairs, ``size`` crops."""
    root, layout = locate(data_root)
    ids = split_ids(root, split)
    if not ids:
        raise UsageError(f"{NAME}: no faces of split {split!r} under {root}")

    def load(image_id: int):
        image = read_image(root / "CelebA-HQ-img" / f"{image_id}.jpg")
        if layout == "merged":
            mask = read_image(root / "CelebAMask-HQ-mask" / f"{image_id}.png", "L")
        else:
            mask = merge_parts(root, image_id)
        return _resize_image(image, mask.shape, image_id), mask

    def mask_file(image_id: int) -> Path:  # the merged mask, or the face's first part (all parts share a size)
        if layout == "merged":
            return root / "CelebAMask-HQ-mask" / f"{image_id}.png"
        folder = root / "CelebAMask-HQ-mask-anno" / str(image_id // 2000)
        return next((f for part in PARTS if (f := folder / f"{image_id:05d}_{part}.png").is_file()), folder)

    return PairDataset(ids, load, NUM_CLASSES, None, size, split == "train" if train is None else train, seed,
                       mask_file=mask_file)
