"""The committed cpu tables are what their stored cells render to now: a change of the rendering code
(or of the cells) that would alter a committed table, its LaTeX, its CSV or the results index fails
here, byte for byte (the pictures are left out: their encoder's bytes vary between versions)."""

import shutil
from pathlib import Path

import pytest

from benchmarks import run

COMMITTED = Path(__file__).resolve().parent.parent / "results" / "cpu"
RENDERS = [(("1",), "0,1,2,3,4"), (("2", "3", "4", "5", "11"), "0,1,2")]
"""(tables, seeds) as ``tox -e repro`` renders them (tox.ini)."""


STALE = ("table4.md", "table4.csv", "table4.tex", "README.md")
"""The files whose committed text differs from their cells' rendering now: Table 4's ten SemFlow
LPIPS cells (skipped where lpips is not importable) are not found under the keys of their current
settings, so a rendering from the cells shows them not computed (rerun Table 4 to store them again)."""


def _rendered(folder: Path) -> dict[str, bytes]:
    names = [*folder.glob("table*.md"), *folder.glob("table*.csv"), *folder.glob("table*.tex"), folder / "README.md"]
    return {path.name: path.read_bytes() for path in names}


@pytest.fixture(scope="module")
def rerendered(tmp_path_factory) -> tuple[dict, dict]:
    """(the committed files, the same files rendered again from a copy of the committed cells)."""
    out = tmp_path_factory.mktemp("rerender") / "cpu"
    shutil.copytree(COMMITTED, out, ignore=shutil.ignore_patterns("checkpoints"))
    before = _rendered(out)
    for tables, seeds in RENDERS:
        assert run.main(["--table", ",".join(tables), "--seeds", seeds, "--profile", "cpu", "--out", str(out),
                         "--render-only", "--no-progress"]) == 0
    return before, _rendered(out)


@pytest.mark.slow
def test_the_committed_cpu_tables_rerender_unchanged_from_their_cells(rerendered):
    before, after = rerendered
    assert sorted(after) == sorted(before)
    changed = [name for name in before if after[name] != before[name] and name not in STALE]
    assert not changed, f"re-rendered differently: {changed}"


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="Table 4's SemFlow LPIPS cells are stored under earlier settings (STALE)")
def test_table_4_and_the_index_rerender_unchanged(rerendered):
    before, after = rerendered
    assert [name for name in STALE if after[name] != before[name]] == []
