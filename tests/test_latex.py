"""Every LaTeX table compiles inside a minimal document with a real LaTeX engine, and reads as a
table should: one row per entry with mean ± sd and the seed count, NFE as an integer, small
values to three significant digits.

.ci/run installs pdflatex (Debian's texlive-latex-base and -recommended) and sets
SYMMFLOW_REQUIRE_LATEX=1, so that a missing engine fails there instead of skipping."""

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.render.tables import latex

RESULTS = Path(__file__).resolve().parent.parent / "results"
COMMITTED = sorted(RESULTS.glob("*/table*.tex"))


def engine() -> str:
    found = shutil.which("pdflatex")
    if found is None:
        if os.environ.get("SYMMFLOW_REQUIRE_LATEX"):
            pytest.fail("pdflatex is not installed (apt-get install texlive-latex-base texlive-latex-recommended)")
        pytest.skip("pdflatex is not installed here; .ci/run installs it")
    return found


def compiles(table: Path, folder: Path) -> subprocess.CompletedProcess:
    document = folder / "document.tex"
    document.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                        f"\\input{{{table.resolve().as_posix()}}}\n\\end{{document}}\n")
    return subprocess.run([engine(), "-interaction=nonstopmode", "-halt-on-error", document.name], cwd=folder,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("table", COMMITTED, ids=[f"{p.parent.name}/{p.name}" for p in COMMITTED])
def test_every_committed_table_compiles(table, tmp_path):
    done = compiles(table, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]


def cells(rows) -> pd.DataFrame:
    base = {"table": "9", "dataset": "d_1", "task": "t", "method": "SymmFlow", "metric": "accuracy", "status": "ok",
            "reason": "", "published": float("nan"), "nfe_per_sample": 25.0, "samples_per_s": 1.0, "samples": 100,
            "note": "", "seed": 0}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_a_table_with_special_characters_and_seeds_compiles_and_reads_well(tmp_path):
    df = cells([{"steps": 25, "value": 95.8, "seed": 0, "published": 99.6}, {"steps": 25, "value": 94.2, "seed": 1},
                {"steps": 25, "value": 95.5, "seed": 2}, {"steps": 25, "metric": "FD (100% & #1)", "value": 0.02791},
                {"steps": pd.NA, "metric": "speed-up", "value": 1984.7, "nfe_per_sample": float("nan")},
                {"steps": 25, "metric": "LPIPS", "status": "skipped", "reason": "no weights_here", "value": None}])
    text = latex(df, "Accuracy (%) of $ymmFlow_x")
    assert r"\caption{Accuracy (\%) of \$ymmFlow\_x}" in text
    rows = [line for line in text.splitlines() if line.startswith("d")]
    assert len(rows) == 4  # one per (dataset, method, steps, metric), the seeds folded into one
    assert r"95.17 $\pm$ 0.85 & 3 & 99.60 & -4.43 & 25 \\" in rows[0]  # mean ± sd, seeds, published, NFE integer
    assert r"FD (100\% \& \#1) & 0.0279 & 1 &" in rows[1]  # three significant digits below 1
    assert "speed-up & 1984.70 & 1 &" in rows[2] and rows[2].endswith(r"&  \\")  # no steps, no NFE
    assert "LPIPS & skipped &" in rows[3]
    table = tmp_path / "table9.tex"
    table.write_text(text)
    done = compiles(table, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
