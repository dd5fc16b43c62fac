"""One JSON file per finished cell, written last and atomically; a rerun skips what is done."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from benchmarks.cells import Cell


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``path`` so that it is either complete or absent (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CellStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, cell: Cell) -> Path:
        return self.root / "cells" / f"table{cell.table}" / f"{cell.key}.json"

    def has(self, cell: Cell) -> bool:
        return self.path(cell).is_file()

    def load(self, cell: Cell) -> dict | None:
        path = self.path(cell)
        return json.loads(path.read_text()) if path.is_file() else None

    def save(self, cell: Cell, record: dict) -> None:
        write_atomic(self.path(cell), json.dumps(record, indent=1, sort_keys=True, default=str))
