"""Every relative link of README.md and docs/*.md points at a file of the repository, and a link to a
heading of a Markdown page (``page.md#heading``, ``#heading``) at a heading that page has, by the
anchors GitHub gives headings (lower case, punctuation dropped, spaces as hyphens, ``-1``, ``-2``
for repeats).  Links in code (backticks, fenced blocks) and to web addresses are not checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def headings_as_written(page: Path) -> set[str]:
    """The anchors of ``page``'s headings, code spans in them kept (GitHub slugs their text)."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    seen: dict[str, int] = {}
    out = set()
    for line in text.splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def broken(page: Path) -> list[str]:
    out = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        name = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else str(file)
        if not file.exists():
            out.append(f"{target}: no file {name}")
            continue
        if anchor and file.suffix == ".md" and anchor not in headings_as_written(file):
            out.append(f"{target}: {name} has no heading #{anchor}")
    return out


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_at_a_file(page):
    assert broken(page) == []


def test_a_broken_link_is_found(tmp_path):
    global ROOT
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Its `code` part\n")
    page = tmp_path / "docs" / "b.md"
    page.write_text("[ok](a.md#its-code-part) [top](#b) [gone](c.md) [no](a.md#other) `[code](x.md)`\n\n# B\n")
    ROOT, kept = tmp_path, ROOT
    try:
        assert broken(page) == ["c.md: no file docs/c.md", "a.md#other: docs/a.md has no heading #other"]
    finally:
        ROOT = kept
