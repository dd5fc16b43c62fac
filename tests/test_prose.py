"""The prose in ``paper_tables/`` (notes, claims, the protocol page's wording) and the code that asks
:mod:`benchmarks.prose` for it agree: every text asked for is there, every text there is asked for,
and a missing one is named in one line (its file and key)."""

import ast
import inspect
import itertools
from pathlib import Path

import pytest

from benchmarks import prose

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("baselines", "benchmarks", "studies", "symmflow")
LOOKUPS = {"note": (prose.NOTES, ("texts",), 1), "cell_note": (prose.NOTES, ("cells",), 1),
           "table_notes": (prose.NOTES, ("tables",), 1), "claim_text": (prose.CLAIMS, ("claims",), 1),
           "stated": (prose.CLAIMS, ("claims",), 1), "page": (prose.PROTOCOL, ("page",), 1),
           "reading": (prose.PROTOCOL, ("readings",), 3)}
"""Each function that looks a text up -> (its data file, the section its keys are in, how many of its
first arguments are keys); ``stated`` is :func:`benchmarks.claims.stated`."""
SAID = inspect.signature(prose.reading).parameters["variant"].default
ANY = None
"""A key the code computes at run time: every key at that place counts as asked for."""


def _alternatives(node: ast.expr) -> set | None:
    """The strings an argument can be (a constant, or a conditional between such); None: computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        body, orelse = _alternatives(node.body), _alternatives(node.orelse)
        return None if body is None or orelse is None else body | orelse
    return None


def _looked_up(call: ast.Call, names: dict[str, str], modules: set[str]) -> str | None:
    """The lookup function ``call`` calls, where it is one (by its imported name or ``prose.NAME``)."""
    func = call.func
    if isinstance(func, ast.Name):
        return names.get(func.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
        return func.attr if func.attr in LOOKUPS else None
    return None


def asked() -> set[tuple]:
    """(file, key, ...) of every lookup in the project's code; a key ``ANY`` where it is computed."""
    found = set()
    for path in (p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")):
        if path == ROOT / "benchmarks" / "prose.py":
            continue
        tree = ast.parse(path.read_text())
        names, modules = {}, set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("benchmarks.prose", "benchmarks.claims"):
                names.update((a.asname or a.name, a.name) for a in node.names if a.name in LOOKUPS)
            elif isinstance(node, ast.ImportFrom) and node.module == "benchmarks":
                modules.update(a.asname or a.name for a in node.names if a.name == "prose")
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            function = _looked_up(call, names, modules)
            if function is None or not call.args or _alternatives(call.args[0]) is None:
                continue  # not a lookup, or one that passes its caller's key on
            name, section, keys = LOOKUPS[function]
            args = [_alternatives(a) for a in call.args[:keys]]
            args += [{SAID}] * (keys - len(args))
            for chosen in itertools.product(*[[ANY] if a is None else sorted(a) for a in args]):
                found.add((name, *section, *chosen))
    return found


def _leaves(tree: dict, at: tuple = ()) -> set[tuple]:
    out = set()
    for key, value in tree.items():
        out |= _leaves(value, (*at, key)) if isinstance(value, dict) else {(*at, key)}
    return out


def _matched(name: str, keys: tuple) -> set[tuple]:
    """The texts of data file ``name`` a lookup of ``keys`` may read: those at ``keys`` (``ANY`` any key
    there), or under them where the last is ``ANY`` or the lookup is a table's notes per profile."""
    under = keys[-1] is ANY or keys[0] == "tables"
    return {leaf for leaf in _leaves(prose.read(name)) if len(leaf) >= len(keys)
            and all(k is ANY or k == part for k, part in zip(keys, leaf)) and (under or len(leaf) == len(keys))}


def test_the_code_asks_for_texts():
    wanted = asked()
    assert (prose.CLAIMS, "claims", "table1/accuracy-falls-with-steps") in wanted
    assert (prose.PROTOCOL, "readings", "classification", "data", ANY) in wanted
    assert {name for name, *_ in wanted} == {prose.NOTES, prose.CLAIMS, prose.PROTOCOL}


def test_every_text_the_code_asks_for_is_in_the_data_files():
    for name, *keys in sorted(asked(), key=str):
        found = _matched(name, tuple(keys))
        assert found if ANY in keys or keys[0] == "tables" else found == {tuple(keys)}, \
            f"paper_tables/{name} has no text at {'/'.join(map(str, keys))}"
        if keys[0] == "tables":  # a table's notes name texts of the same file
            texts = prose.read(name)["texts"]
            assert all(prose.read(name)["tables"][keys[1]][leaf[2]] in texts for leaf in found), keys


def test_every_text_in_the_data_files_is_asked_for():
    used = set()
    for name, *keys in asked():
        found = _matched(name, tuple(keys))
        used |= {(name, *leaf) for leaf in found}
        if keys[0] == "tables":
            used |= {(name, "texts", prose.read(name)["tables"][keys[1]][leaf[2]]) for leaf in found}
    for name in (prose.NOTES, prose.CLAIMS, prose.PROTOCOL):
        stored = {(name, *leaf) for leaf in _leaves(prose.read(name)) if leaf != ("about",)}
        assert not stored - used, f"texts of paper_tables/{name} nothing asks for: {sorted(stored - used)}"


def test_the_protocol_page_words_the_authors_points():
    points = {group: {point["key"] for point in prose.read("authors_protocol.json")[group]}
              for group in ("classification", "segmentation")}
    readings = prose.read(prose.PROTOCOL)["readings"]
    assert set(readings) == {"recipe", *points}
    for group, keys in points.items():
        assert set(readings[group]) <= keys, group


@pytest.mark.parametrize("look_up, wanted", [
    (lambda: prose.claim_text("table9/none"), "paper_tables/claims.json has no text at claims/table9/none"),
    (lambda: prose.note("none"), "paper_tables/notes.json has no text at texts/none"),
    (lambda: prose.cell_note("none", samples=1), "paper_tables/notes.json has no text at cells/none"),
    (lambda: prose.table_notes("none"), "paper_tables/notes.json has no notes at tables/none"),
    (lambda: prose.page("none"), "paper_tables/protocol_page.json has no text at page/none"),
    (lambda: prose.reading("segmentation", "fid"),
     "paper_tables/protocol_page.json has no text at readings/segmentation/fid/said"),
    (lambda: prose.text(prose.PROTOCOL, "readings", "segmentation"),
     "paper_tables/protocol_page.json has no text at readings/segmentation (a dict)"),
])
def test_a_missing_text_is_named_in_one_line(look_up, wanted):
    with pytest.raises(prose.MissingProse) as raised:
        look_up()
    assert str(raised.value) == wanted


def test_an_unfilled_field_or_an_unreadable_file_is_named_in_one_line(tmp_path, monkeypatch):
    with pytest.raises(prose.MissingProse) as raised:
        prose.cell_note("judged")
    assert str(raised.value) == ("paper_tables/notes.json at cells/judged names the field 'samples', which the code "
                                 "does not give")
    monkeypatch.setattr(prose, "FOLDER", tmp_path)
    with pytest.raises(prose.MissingProse, match=r"notes\.json could not be read \(") as raised:
        prose.note("cpu-scenes")
    assert "\n" not in str(raised.value)


def test_a_claim_takes_the_step_counts_of_its_text_from_its_entries():
    from benchmarks.claims import stated

    claim = stated("table4/synthesis-improves-with-steps", ("SymmFlow", 50), ("SymmFlow", 2), ())
    assert claim.text == "SymmFlow's synthesis improves from 2 to 50 steps (FID 88.5 -> 11.9, 102.6 -> 7.0)"
