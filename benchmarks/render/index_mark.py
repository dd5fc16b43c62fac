"""The mark of a results page the index wrote (:mod:`benchmarks.render.index`): what may be rewritten."""

from __future__ import annotations

from pathlib import Path

INDEX_MARK = "This page is rendered from the stored cells"


def is_index(readme: Path) -> bool:
    """Whether ``readme`` is a results page the index wrote (and may rewrite)."""
    try:
        return INDEX_MARK in Path(readme).read_text(errors="replace")[:2000]
    except OSError:
        return False
