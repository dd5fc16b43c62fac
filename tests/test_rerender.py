"""The committed cpu tables are what their stored cells render to now: a change of the rendering code
(or of the cells) that would alter a committed table, its LaTeX, its CSV or the results index fails
here, byte for byte (the pictures are left out: their encoder's bytes vary between versions)."""

import shutil
from pathlib import Path

from benchmarks import run

COMMITTED = Path(__file__).resolve().parent.parent / "results" / "cpu"
RENDERS = [(("1",), "0,1,2,3,4"), (("2", "3", "4", "5", "11"), "0,1,2")]
"""(tables, seeds) as ``tox -e repro`` renders them (tox.ini)."""


def _rendered(folder: Path) -> dict[str, bytes]:
    names = [*folder.glob("table*.md"), *folder.glob("table*.csv"), *folder.glob("table*.tex"), folder / "README.md"]
    return {path.name: path.read_bytes() for path in names}


def test_the_committed_cpu_tables_rerender_unchanged_from_their_cells(tmp_path, monkeypatch):
    root = tmp_path
    out = root / "results" / "cpu"  # given as results/cpu from root: the index names the folder as given
    shutil.copytree(COMMITTED, out, ignore=shutil.ignore_patterns("checkpoints"))
    before = _rendered(out)
    monkeypatch.chdir(root)
    for tables, seeds in RENDERS:
        assert run.main(["--table", ",".join(tables), "--seeds", seeds, "--profile", "cpu", "--out", "results/cpu",
                         "--render-only", "--no-progress"]) == 0
    after = _rendered(out)
    assert sorted(after) == sorted(before)
    changed = [name for name in before if after[name] != before[name]]
    assert not changed, f"re-rendered differently: {changed}"
