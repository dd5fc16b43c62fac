"""One JSON file per cell, written last and atomically; a rerun skips finished cells and retries
skipped ones.  A cell whose measurement showed samples keeps them beside it (``<key>.preview.npz``:
the rows of uint8 tiles rendering draws its sample grids from)."""

from __future__ import annotations

import fcntl
import io
import json
import math
import os
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from symmflow.outputs import set_aside, write_atomic

if TYPE_CHECKING:  # the cells name their store (RunOptions.store); the store reads only their keys
    from benchmarks.cells import Cell


@contextmanager
def locked(path: Path, take: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` for the block: a second run reaching the same
    lock waits.  The file exists only while it is held -- it is removed on release, however the
    block ends (a refused or interrupted run leaves no lock behind); a waiter that wakes on a
    removed file takes the lock anew.  ``take=False`` holds nothing (a process that follows the
    main process of its run)."""
    if not take:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(path, "a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break  # the file still at the path: the lock is ours
        except FileNotFoundError:
            pass
        handle.close()  # its holder removed it while this run waited
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class CellStore:
    """Cell records by key.  A record stored as skipped (data or weights were missing) is kept
    for rendering its reason, but the cell is not finished: :meth:`has` is false for it.  A store
    reads each cell's file once: what it read or wrote is kept (:attr:`known`) for the rest of the
    run that holds it (its checks, its computing and its report)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.known: dict[str, dict | None] = {}
        """Cell key -> the record read or written through this store (None: none stored)."""

    def path(self, cell: Cell) -> Path:
        return self.root / "cells" / f"table{cell.table}" / f"{cell.key}.json"

    def has(self, cell: Cell) -> bool:
        """Whether ``cell`` is finished: stored, and not as skipped."""
        record = self.load(cell)
        return record is not None and not is_skipped(record)

    def load(self, cell: Cell) -> dict | None:
        """The stored record of ``cell``; None when there is none -- or when it is damaged (not
        JSON, not a record, a finished cell without a number), which is then moved aside.  The file
        is read the first time only."""
        if cell.key not in self.known:
            self.known[cell.key] = self.read(cell)
        return self.known[cell.key]

    def read(self, cell: Cell) -> dict | None:
        """The record in the cell's file, read now (None: no file, or a damaged one, moved aside)."""
        path = self.path(cell)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
            problem = record_problem(record)
        except (OSError, ValueError) as error:  # unreadable, not UTF-8, not JSON
            problem = str(error)
        if problem:
            set_aside(path, problem)
            return None
        return record

    def save(self, cell: Cell, record: dict, preview: dict | None = None) -> dict:
        """Store ``record`` as the cell's, with its ``preview`` (:func:`benchmarks.render.grids.preview`)
        beside it, the preview first: a stored record always has the preview it was measured with.
        Returns the record as its file holds it (what a later read would give)."""
        if preview is not None:
            meta = {"grid": preview["grid"], "tile_inches": preview["tile_inches"],
                    "labels": [label for label, _ in preview["rows"]]}
            buffer = io.BytesIO()
            np.savez_compressed(buffer, meta=np.array(json.dumps(meta)),
                                **{f"row{i}": tiles for i, (_, tiles) in enumerate(preview["rows"])})
            write_atomic(self.preview_path(cell), buffer.getvalue())
        else:  # a recomputed cell that shows nothing leaves no earlier samples behind
            self.preview_path(cell).unlink(missing_ok=True)
        text = json.dumps(record, indent=1, sort_keys=True, default=str)
        write_atomic(self.path(cell), text)
        self.known[cell.key] = json.loads(text)
        return self.known[cell.key]

    def preview_path(self, cell: Cell) -> Path:
        return self.path(cell).with_suffix(".preview.npz")

    def load_preview(self, cell: Cell) -> dict | None:
        """The cell's stored preview; None when it has none (or it cannot be read: then no grid
        is drawn from it, and the cell's number stands)."""
        path = self.preview_path(cell)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                meta = json.loads(str(stored["meta"]))
                rows = [(label, stored[f"row{i}"]) for i, label in enumerate(meta["labels"])]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None
        return {"grid": meta["grid"], "tile_inches": meta["tile_inches"], "rows": rows}


def record_problem(record) -> str | None:
    """What is wrong with a stored cell record (None: nothing): it must be an object whose
    status is ``ok`` with a finite number as its value, or ``skipped`` with a reason."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not a cell record"
    status = record.get("status")
    if status == "skipped":
        return None if isinstance(record.get("reason"), str) else "a skipped cell without its reason"
    if status != "ok":
        return f"status {status!r}, neither 'ok' nor 'skipped'"
    value = record.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"a finished cell whose value {value!r} is not a finite number"
    return None


NOT_COMPUTED = {"status": "not computed", "reason": "not stored in this results folder (rendered with --render-only)"}
"""What a table shows for a cell a --render-only rendering did not find: never stored, never a value."""


def is_skipped(record: dict) -> bool:
    return record.get("status") == "skipped"
