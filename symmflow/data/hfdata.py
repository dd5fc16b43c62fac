"""The same data sets saved in the Hugging Face ``datasets`` format, read through ``datasets``.

Looked for at ``<root>/<name>-hf/``: either a ``save_to_disk`` folder (a ``DatasetDict`` with
``train`` / ``validation`` / ``test`` splits) or parquet files ``<split>-*.parquet`` (also under
``data/``).  Each row holds an image column (``image``) and a class-id mask column (``mask``,
``label``, ``annotation`` or ``segmentation``), as PIL images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from symmflow.data.segmentation import PairDataset
from symmflow.errors import UsageError

MASK_COLUMNS = ("mask", "label", "annotation", "segmentation")


def locate(data_root: Path, name: str) -> Path | None:
    folder = Path(data_root) / f"{name}-hf"
    return folder if folder.is_dir() else None


def splits(folder: Path) -> list[str]:
    """The splits of a copy, read from its metadata or file names (nothing loaded)."""
    import json

    meta = folder / "dataset_dict.json"
    if meta.is_file():
        return list(json.loads(meta.read_text()).get("splits", []))
    names = [f.name for f in (*folder.glob("*.parquet"), *folder.glob("data/*.parquet"))]
    return sorted({name.split("-", 1)[0] for name in names})


def evaluation_split(data_root: Path, name: str, wanted: str) -> str:
    """The split a copy is evaluated on: ``wanted`` where it has one, else its ``validation``
    split -- the CelebAMask-HQ copy the authors evaluate on (eurecom-ds/celeba_hq_mask) has only
    train and validation."""
    found = splits(locate(data_root, name))
    return wanted if wanted in found or "validation" not in found else "validation"


def _split(folder: Path, split: str):
    import datasets

    if (folder / "dataset_dict.json").is_file() or (folder / "dataset_info.json").is_file():
        data = datasets.load_from_disk(str(folder))
        if isinstance(data, datasets.DatasetDict):
            if split not in data:
                raise UsageError(f"{folder} has splits {', '.join(data)}, not {split!r}")
            return data[split]
        return data
    files = sorted(folder.glob(f"{split}-*.parquet")) + sorted(folder.glob(f"data/{split}-*.parquet"))
    if not files:
        raise UsageError(f"{folder}: expected a save_to_disk folder or {split}-*.parquet files")
    return datasets.load_dataset("parquet", data_files={split: [str(f) for f in files]}, split=split)


def dataset(data_root: Path, name: str, split: str, num_classes: int, ignore_index: int | None,
            size: int | None = 512, train: bool | None = None, seed: int = 0,
            remap: np.ndarray | None = None) -> PairDataset:
    folder = locate(data_root, name)
    if folder is None:
        raise UsageError(f"{name}: no Hugging Face copy at {Path(data_root) / (name + '-hf')}")
    rows = _split(folder, split)
    mask_column = next((c for c in MASK_COLUMNS if c in rows.column_names), None)
    if "image" not in rows.column_names or mask_column is None:
        raise UsageError(f"{folder}: expected columns 'image' and one of {', '.join(MASK_COLUMNS)}, "
                         f"found {', '.join(rows.column_names)}")

    def load(i: int):
        row = rows[i]
        image, mask = row["image"], row[mask_column]
        mask = np.asarray(mask).astype(np.int64)
        return np.asarray(image.convert("RGB")), mask if mask.ndim == 2 else mask[..., 0]

    return PairDataset(range(len(rows)), load, num_classes, ignore_index, size,
                       split == "train" if train is None else train, seed, remap)
