"""The prose the tables, their claims and the protocol page print, kept as data beside the published
numbers: ``paper_tables/notes.json`` (the notes under each table per profile, and those a cell
stores), ``paper_tables/claims.json`` (each claim's text by a stable id) and
``paper_tables/protocol_page.json`` (the protocol page's own sentences and what a profile does at
each point).  A text built from settings or results is a template whose named fields the caller
fills in (``str.format``), so every figure still comes from the settings or the record.

Each lookup reads its file afresh (nothing is cached or changed here); a text that is not there,
or a template field the code does not give, raises :class:`MissingProse`: one line naming the
file and the key.
"""

from __future__ import annotations

import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "paper_tables"
NOTES, CLAIMS, PROTOCOL = "notes.json", "claims.json", "protocol_page.json"


class MissingProse(LookupError):
    """A text the code asks for is not in its data file: the one line names the file and the key."""


def read(name: str) -> dict:
    """The whole data file ``name`` of :data:`FOLDER`, read now."""
    try:
        return json.loads((FOLDER / name).read_text())
    except (OSError, ValueError) as error:  # missing, unreadable, not JSON
        raise MissingProse(f"{FOLDER / name} could not be read ({error})") from None


def _filled(name: str, keys: tuple[str, ...], fields: dict) -> str:
    """The template at ``keys`` of data file ``name`` with its named ``fields`` filled in."""
    template = text(name, *keys)
    try:
        return template.format(**fields)
    except KeyError as missing:
        raise MissingProse(f"paper_tables/{name} at {'/'.join(keys)} names the field {missing}, "
                           "which the code does not give") from None


def text(name: str, *keys: str) -> str:
    """The text at ``keys`` (outermost first) of data file ``name``."""
    return _text_in(read(name), name, keys)


def _text_in(found, name: str, keys: tuple[str, ...]) -> str:
    """The text at ``keys`` of ``found``, the content of data file ``name``."""
    for key in keys:
        if not isinstance(found, dict) or key not in found:
            raise MissingProse(f"paper_tables/{name} has no text at {'/'.join(keys)}")
        found = found[key]
    if not isinstance(found, str):
        raise MissingProse(f"paper_tables/{name} has no text at {'/'.join(keys)} (a {type(found).__name__})")
    return found


def note(key: str) -> str:
    """The note ``key`` of ``notes.json``'s ``texts``."""
    return text(NOTES, "texts", key)


def table_notes(family: str) -> dict[str, str]:
    """Profile -> the note printed under every table of ``family`` (``notes.json``'s ``tables``)."""
    notes = read(NOTES)
    chosen = notes.get("tables", {}).get(family)
    if not isinstance(chosen, dict):
        raise MissingProse(f"paper_tables/{NOTES} has no notes at tables/{family}")
    return {profile: _text_in(notes, NOTES, ("texts", key)) for profile, key in chosen.items()}


def cell_note(key: str, **fields) -> str:
    """The note a measurement stores with its cell, ``notes.json``'s ``cells/key`` filled with ``fields``."""
    return _filled(NOTES, ("cells", key), fields)


def claim_text(key: str, **fields) -> str:
    """The text of claim ``key`` of ``claims.json``, filled with ``fields`` (its entries' step counts)."""
    return _filled(CLAIMS, ("claims", key), fields)


def page(key: str, **fields) -> str:
    """One of the protocol page's own sentences (``protocol_page.json``'s ``page``), filled with ``fields``."""
    return _filled(PROTOCOL, ("page", key), fields)


def reading(group: str, point: str, variant: str = "said", **fields) -> str:
    """What a profile does at ``point`` of ``group`` on the protocol page, in one of its ``variant``
    wordings (``protocol_page.json``'s ``readings``), filled with ``fields``."""
    return _filled(PROTOCOL, ("readings", group, point, variant), fields)
