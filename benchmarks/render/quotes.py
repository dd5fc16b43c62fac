"""Figures quoted in README.md and docs/, rendered from the stored records so that they cannot drift.

A measured figure appears in the project's prose only inside a generated block::

    <!-- figures: table 11 metric=accuracy -->
    ...rendered from results/cpu...
    <!-- /figures -->

``python -m benchmarks.render.quotes`` rewrites every block of README.md and docs/*.md from the records in
``--results`` (default results/cpu); ``--check`` only reports the files whose blocks differ from a
fresh rendering (exit 1), which is what the tests run.  The kinds of block:

* ``table N [metric=M] [method=X] [steps=S]``: the rows of tableN.csv (mean ± sd over the seeds,
  the seed count, the published value), filtered by whichever of metric, method and steps are
  given (``;`` separates several values, ``_`` stands for a space);
* ``claims N``: the paper's claims of table N checked on its cells, as the table renders them;
* ``include FILE [HEADING]``: the first Markdown table of a record the studies write (under the
  heading that starts with HEADING, if given).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

from benchmarks.claims import claims_notes
from benchmarks.render.entries import fmt, mean_sd, steps_text
from benchmarks.render.notes import SANITY_LADDER, ladder, read_record
from benchmarks.render.summary import seed_summary
from symmflow.outputs import write_atomic
from symmflow.errors import OneLineParser, UsageError, first_paragraph

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(<!-- figures: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- /figures -->)", re.S)


def documents(root: Path = ROOT) -> list[Path]:
    """The prose that may quote figures: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _filters(args: list[str]) -> dict[str, list[str]]:
    out = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key not in ("metric", "method", "steps"):
            raise UsageError(f"figures block: unknown filter {arg!r}; use metric=, method= or steps=")
        out[key] = [v.replace("_", " ") for v in value.split(";")]
    return out


def table_block(results: Path, name: str, filters: dict[str, list[str]]) -> str:
    path = results / f"table{name}.csv"
    summary = seed_summary(pd.read_csv(path, dtype={"table": str}))
    for key, values in filters.items():
        column = summary[key].map(steps_text) if key == "steps" else summary[key].astype(str)
        summary = summary[column.isin(values)]
    if not len(summary):
        raise UsageError(f"figures block: no row of {path} matches {filters}")
    lines = ["| dataset | method | steps | metric | reproduced | seeds | published |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.dataset} | {r.method} | {steps_text(r.steps)} | {r.metric} | "
              f"{mean_sd(r.mean, r.sd, r.n, count=False) if r.status == 'ok' else r.status} | {r.n} | "
              f"{fmt(r.published)} |" for r in summary.itertuples()]
    return "\n".join(lines)


def claims_block(results: Path, name: str) -> str:
    from benchmarks.tables import tables

    cells = pd.read_csv(results / f"table{name}.csv", dtype={"table": str})
    record, not_shown = read_record(results, SANITY_LADDER)
    if record is None and (results / SANITY_LADDER).exists():  # damaged: its verdicts would be left out unsaid
        raise UsageError(f"figures block claims {name}: {not_shown}")
    lines = claims_notes(tables()[name].claims, cells, ladder(record)[0])
    return "\n".join(line for line in lines[2:] if line)  # without the heading


def include_block(results: Path, file: str, heading: str | None) -> str:
    path = results / file
    text = path.read_text().splitlines()
    if heading:
        starts = [i for i, line in enumerate(text) if line.startswith("#") and line.lstrip("# ").startswith(heading)]
        if not starts:
            raise UsageError(f"figures block: no heading starting {heading!r} in {path}")
        text = text[starts[0] + 1:]
    rows = []
    for line in text:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    if not rows:
        raise UsageError(f"figures block: no table in {path}" + (f" under {heading!r}" if heading else ""))
    return "\n".join(rows)


def render_block(spec: str, results: Path) -> str:
    kind, *args = spec.split()
    if kind == "table" and args:
        return table_block(results, args[0], _filters(args[1:]))
    if kind == "claims" and len(args) == 1:
        return claims_block(results, args[0])
    if kind == "include" and args:
        return include_block(results, args[0], " ".join(args[1:]).replace("_", " ") or None)
    raise UsageError(f"figures block {spec!r}: use 'table N [filters]', 'claims N' or 'include FILE [HEADING]'")


def rendered(text: str, results: Path) -> str:
    """``text`` with every generated block rendered afresh."""
    return BLOCK.sub(lambda m: m.group(1) + render_block(m.group("spec"), results) + "\n" + m.group(4), text)


def outside_blocks(text: str) -> str:
    """``text`` without its generated blocks (what a person wrote)."""
    return re.sub(BLOCK.pattern + r"\n?", "", text, flags=re.S)


def main(argv=None) -> int:
    try:
        p = OneLineParser(prog="python -m benchmarks.render.quotes", description=first_paragraph(__doc__))
        p.add_argument("--results", type=Path, default=ROOT / "results" / "cpu",
                       help="The records the blocks are rendered from (default: results/cpu).")
        p.add_argument("--check", action="store_true", help="Only list the files whose blocks are stale (exit 1).")
        args = p.parse_args(argv)
        stale = []
        for path in documents():
            text = path.read_text()
            fresh = rendered(text, args.results)
            if fresh != text:
                stale.append(path)
                if not args.check:
                    write_atomic(path, fresh)
        for path in stale:
            print(f"{'stale' if args.check else 'rewrote'}: {path.relative_to(ROOT)}")
        return 1 if args.check and stale else 0
    except (UsageError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
