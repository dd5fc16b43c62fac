"""No figure in README.md or docs/ that the records do not back: measured figures live in generated
blocks that match a fresh rendering from results/cpu, and outside them only settings and the
paper's published numbers appear."""

import re
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.render import quotes

ROOT = Path(__file__).resolve().parent.parent
FIGURE = re.compile(r"(?<![\w.(])[-+]?\d[\d,]*\.\d+(?![\w.])|\d+(?:\.\d+)?\s?%|\b\d[\d,]*(?:\.\d+)?\s?(?:s|min|minutes|"
                    r"seconds|hours|MiB|GiB)\b|\b\d[\d,]*(?:\.\d+)?x\b|\bx\d+(?:\.\d+)?\b")
"""What reads as a measured figure: a decimal, a percentage, a duration or size, a ratio."""
SETTINGS = {
    # versions and packages
    "3.10", "2.13.0", "2.14.1", "0.29.1", "2.1",
    # the authors' settings (reference notes) and the profiles' budgets
    "0.9", "0.7", "0.999", "0.995", "0.18215", "6.375", "-6.375", "0.5", "0.1", "0.04", "0.6", "0.3", "60%", "40%",
    "x2", "x3", "x1000", "1.5",
    # the budgets and targets, stated as such
    "60 min", "45 min", "10 minutes", "30 minutes", "90%", "97%", "0.85",
    # the confidence level of the perf suite's and symmflow evaluate's bootstrap intervals (its JSON: 0.95)
    "95%", "0.95",
}
"""Numbers that are settings, versions or targets, not measurements."""


def published() -> set[str]:
    """Every number the paper publishes (paper_tables/), as it may be written."""
    values = set()
    for path in (ROOT / "paper_tables").glob("*.csv"):
        for value in pd.to_numeric(pd.read_csv(path)["value"], errors="coerce").dropna():
            values |= {f"{value:g}", f"{value:.1f}", f"{value:.2f}", f"{value:.3f}", f"{value:g}%"}
    return values


@pytest.mark.parametrize("path", quotes.documents(ROOT), ids=lambda p: p.name)
def test_generated_blocks_match_the_records(path):
    text = path.read_text()
    assert quotes.rendered(text, ROOT / "results" / "cpu") == text, (
        f"{path.name} quotes figures the records no longer hold: run python -m benchmarks.render.quotes")


@pytest.mark.parametrize("path", quotes.documents(ROOT), ids=lambda p: p.name)
def test_no_measured_figure_outside_a_generated_block(path):
    allowed = SETTINGS | published()
    prose = quotes.outside_blocks(path.read_text())
    prose = re.sub(r"`[^`\n]*`", "", prose)  # commands and code
    prose = re.sub(r"\]\([^)]*\)", "]", prose)  # link targets
    found = [m.group(0).strip() for m in FIGURE.finditer(prose)]
    assert [f for f in found if f not in allowed] == []


def test_a_block_renders_the_rows_asked_for(tmp_path):
    (tmp_path / "table9.csv").write_text(
        "table,dataset,task,method,steps,metric,value,published,status,reason,seed,samples,nfe_per_sample,"
        "samples_per_s,note\n"
        "9,d,t,SymmFlow,1,accuracy,97.0,99.3,ok,,0,100,1,,\n9,d,t,SymmFlow,1,accuracy,98.0,99.3,ok,,1,100,1,,\n"
        "9,d,t,SymmFlow,25,accuracy,96.0,,ok,,0,100,25,,\n9,d,t,SymmFlow,25,FD x,0.0279,,ok,,0,100,25,,\n")
    text = "a\n<!-- figures: table 9 metric=accuracy steps=1 -->\nstale\n<!-- /figures -->\nb\n"
    fresh = quotes.rendered(text, tmp_path)
    assert "| d | SymmFlow | 1 | accuracy | 97.50 ± 0.71 | 2 | 99.30 |" in fresh and "stale" not in fresh
    assert "| 25 |" not in fresh and fresh.startswith("a\n") and fresh.endswith("<!-- /figures -->\nb\n")
    assert "0.0279" in quotes.rendered(text.replace("metric=accuracy steps=1", "metric=FD_x"), tmp_path)
    assert quotes.outside_blocks(fresh) == "a\nb\n"
