"""One JSON file per cell, written last and atomically; a rerun skips finished cells and retries skipped ones."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from benchmarks.cells import Cell


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``path`` so that it is either complete or absent (temp file + rename); its
    permissions come from the umask, as for any new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_file(path: Path) -> tuple[int, Path]:
    """A new hidden sibling ``.<name>.<random>`` of ``path``, open for writing (mode 0666 less the
    umask; ``tempfile.mkstemp`` would give 0600)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


@contextmanager
def locked(path: Path, take: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if absent) for the block: a second
    run reaching the same lock waits.  ``take=False`` holds nothing (a process that follows the
    main process of its run)."""
    if not take:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class CellStore:
    """Cell records by key.  A record stored as skipped (data or weights were missing) is kept
    for rendering its reason, but the cell is not finished: :meth:`has` is false for it."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, cell: Cell) -> Path:
        return self.root / "cells" / f"table{cell.table}" / f"{cell.key}.json"

    def has(self, cell: Cell) -> bool:
        """Whether ``cell`` is finished: stored, and not as skipped."""
        record = self.load(cell)
        return record is not None and not is_skipped(record)

    def load(self, cell: Cell) -> dict | None:
        path = self.path(cell)
        return json.loads(path.read_text()) if path.is_file() else None

    def save(self, cell: Cell, record: dict) -> None:
        write_atomic(self.path(cell), json.dumps(record, indent=1, sort_keys=True, default=str))


def is_skipped(record: dict) -> bool:
    return record.get("status") == "skipped"
