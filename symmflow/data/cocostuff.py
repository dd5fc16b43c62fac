"""COCO-Stuff 2017 in its published layout (notes sections 2 and 9).

``<root>/COCO-Stuff/images/{train2017,val2017}/<name>.jpg`` with
``<root>/COCO-Stuff/stuffthingmaps_trainval2017/{train2017,val2017}/<name>.png``.  The PNGs hold
raw ids 0-181 (91 things, 11 of them unused, and 91 stuff classes) and 255 for unlabelled
pixels.  The raw ids are remapped here to 171 contiguous classes 0-170, 255 staying the
ignored "unlabelled" id.  The reference does not remap: it colours a mask by raw id but decodes
to the first 171 grid colours, so its last stuff classes collide by nearest palette colour; this
is a recorded deviation that fixes it, and :func:`palette` keeps the authors' raw-id colours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from symmflow.codecs import COCOSTUFF_IGNORE_COLOUR, PaletteCodec, cocostuff_colours
from symmflow.data.segmentation import PairDataset, read_image
from symmflow.errors import UsageError

NAME = "COCO-Stuff"
NUM_CLASSES = 171
IGNORE_INDEX = 255
BETA = 6.0
#: The 0-based raw ids of COCO's 11 unused thing categories (1-based 12, 26, 29, 30, 45, 66,
#: 68, 69, 71, 83, 91).
UNUSED_RAW_IDS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
RAW_NAMES = (
    # things, raw ids 0-90 (COCO's category ids 1-91; the unused ones in brackets)
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "[street sign]", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep",
    "cow", "elephant", "bear", "zebra", "giraffe", "[hat]", "backpack", "umbrella", "[shoe]", "[eye glasses]",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat",
    "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "[plate]", "wine glass", "cup", "fork",
    "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
    "donut", "cake", "chair", "couch", "potted plant", "bed", "[mirror]", "dining table", "[window]", "[desk]",
    "toilet", "[door]", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster",
    "sink", "refrigerator", "[blender]", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush", "[hair brush]",
    # stuff, raw ids 91-181 (COCO-Stuff's 92-182)
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard", "carpet",
    "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard", "curtain", "desk-stuff",
    "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood",
    "flower", "fog", "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house",
    "leaves", "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper",
    "pavement", "pillow", "plant-other", "plastic", "platform", "playingfield", "railing", "railroad", "river",
    "road", "rock", "roof", "rug", "salad", "sand", "sea", "shelf", "sky-other", "skyscraper", "snow",
    "solid-other", "stairs", "stone", "straw", "structural-other", "table", "tent", "textile-other", "towel",
    "tree", "vegetable", "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile",
    "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
)
"""The names of raw ids 0-181 (COCO-Stuff's ``labels.txt``; the 11 unused thing ids in brackets)."""
SPLITS = {"train": "train2017", "validation": "val2017", "test": "val2017"}
EXPECTED = "images/{train2017,val2017}/<name>.jpg and stuffthingmaps_trainval2017/{train2017,val2017}/<name>.png"


def remap_table() -> np.ndarray:
    """Lookup raw id (0-255) -> contiguous class 0-170, or 255 for unlabelled / unused ids."""
    table = np.full(256, IGNORE_INDEX, np.int64)
    used = used_raw_ids()
    table[used] = np.arange(len(used))
    return table


COLOURS = ("contiguous", "raw-id")
"""How the 171 classes are coloured from the 6x6x6 grid: ``contiguous`` -- class k gets entry k (the
harness's own networks of the cpu profile); ``raw-id`` -- class k gets the entry of its raw COCO id,
as the authors colour their masks, so that their released ``LatFM_coco_beta6.0.pt`` is conditioned on
and decoded with the colours it was trained with (reference notes section 11).  Either way decoding
takes the nearest of the 171 classes' colours (and the unlabelled one)."""


def used_raw_ids() -> list[int]:
    """The raw ids of the 171 classes, in class order."""
    return [i for i in range(182) if i not in UNUSED_RAW_IDS]


CLASS_NAMES = tuple(RAW_NAMES[raw] for raw in used_raw_ids())
"""The 171 classes' names, in class order (the unlabelled id 255 has none)."""


def palette(beta: float = BETA, colours: str = "contiguous") -> PaletteCodec:
    if colours not in COLOURS:
        raise ValueError(f"colours must be one of {', '.join(COLOURS)}, got {colours!r}")
    grid = cocostuff_colours(216)
    table = grid[:NUM_CLASSES] if colours == "contiguous" else [grid[raw] for raw in used_raw_ids()]
    return PaletteCodec(table, beta, IGNORE_INDEX, COCOSTUFF_IGNORE_COLOUR)


def locate(data_root: Path) -> Path:
    root = Path(data_root) / NAME
    for sub in ("images/train2017", "images/val2017", "stuffthingmaps_trainval2017/train2017",
                "stuffthingmaps_trainval2017/val2017"):
        if not (root / sub).is_dir():
            raise UsageError(f"{NAME}: expected {EXPECTED} under {root}; {root / sub} not found "
                             "(pass the folder that holds COCO-Stuff/ as --data-root)")
    return root


def dataset(data_root: Path, split: str, size: int | None = 512, train: bool | None = None,
            seed: int = 0) -> PairDataset:
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    root = locate(data_root)
    images = root / "images" / SPLITS[split]
    masks = root / "stuffthingmaps_trainval2017" / SPLITS[split]
    items = [(p, masks / f"{p.stem}.png") for p in sorted(images.glob("*.jpg"))]
    if not items:
        raise UsageError(f"{NAME}: no .jpg images in {images}")
    for image, mask in items:
        if not mask.is_file():
            raise UsageError(f"{NAME}: no mask {mask} for image {image}; expected {EXPECTED}")
    raw = remap_table()
    raw[255] = IGNORE_INDEX
    valid = np.zeros(256, bool)
    valid[:182], valid[255] = True, True

    def load(item):
        mask = read_image(item[1], "L")
        bad = ~valid[np.clip(mask, 0, 255)] | (mask > 255)
        if bad.any():
            raise UsageError(f"{item[1]}: mask id {int(mask[bad][0])} is outside COCO-Stuff's raw ids "
                             "(0-181 and 255); check that the mask belongs to this data set")
        return read_image(item[0]), mask

    return PairDataset(items, load, NUM_CLASSES, IGNORE_INDEX, size,
                       split == "train" if train is None else train, seed, remap=raw, mask_file=lambda item: item[1])
