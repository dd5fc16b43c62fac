"""Inputs identified by their content: the sha256 of a weights file, computed once.

A file's digest is kept in a small record beside it (``.<name>.sha256``) holding its size and
modification time, so a rerun reads gigabytes of weights only when the file changed; where the
folder is not writable the record goes to ``$XDG_CACHE_HOME/symmflow/digests`` (else
``~/.cache``) instead.  A record whose size or time no longer match is ignored and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
"""What :func:`folder_digest` reads by content (every other file but configs is left out)."""


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _records(path: Path) -> list[Path]:
    """Where the digest record of ``path`` may lie: beside it, then in the user's cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "symmflow" / "digests"
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()
    return [path.with_name(f".{path.name}.sha256"), cache / f"{key}.json"]


def file_digest(path: Path) -> str:
    """The sha256 of ``path``'s bytes, from its record when the file is unchanged since."""
    path = Path(path)
    stamp = _stamp(path)
    for record in _records(path):
        try:
            kept = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(kept, dict) and {k: kept.get(k) for k in stamp} == stamp and isinstance(kept.get("sha256"), str):
            return kept["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    found = digest.hexdigest()
    for record in _records(path):  # the first place that takes it
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            partial = record.with_name(record.name + ".partial")
            partial.write_text(json.dumps({**stamp, "sha256": found}))
            os.replace(partial, record)
            break
        except OSError:
            continue
    return found


def folder_digest(folder: Path) -> str:
    """A folder of pretrained weights by what it holds: its JSON configs' bytes and the sha256 of
    each weights file (:data:`WEIGHTS`), with their paths inside the folder; 16 hex digits."""
    folder = Path(folder)
    digest = hashlib.sha1()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        name = path.relative_to(folder).as_posix().encode()
        if path.suffix == ".json":
            digest.update(name + path.read_bytes())
        elif path.suffix in WEIGHTS:
            digest.update(name + file_digest(path).encode())
    return digest.hexdigest()[:16]
