"""Render ``results/<profile>/README.md``: one page that lists every stored table (tableN.csv),
the reproduced number beside the published one, and links to the files, plots and sample grids."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

from benchmarks.render.entries import fmt, fmt_like, mean_sd
from benchmarks.render.index_mark import INDEX_MARK, is_index
from benchmarks.render.summary import seed_summary
from symmflow.outputs import write_atomic
from symmflow.errors import OneLineParser, UsageError, first_paragraph

KEY = ["dataset", "method", "steps", "metric"]
TABLE_CSV = re.compile(r"table(\w+?)\.csv")
REASON_CHARS = 60


def table_csvs(out: Path) -> list[tuple[str, Path]]:
    """(name, path) of every tableN.csv in ``out``, in numeric order (1, 2, ..., 5, 11)."""
    found = [(m.group(1), p) for p in Path(out).glob("table*.csv") if (m := TABLE_CSV.fullmatch(p.name))]
    return sorted(found, key=lambda t: (not t[0].isdigit(), int(t[0]) if t[0].isdigit() else 0, t[0]))


def _cell(text) -> str:
    return "" if pd.isna(text) else str(text).replace("|", "\\|").replace("\n", " ")


def _short(reason) -> str:
    reason = _cell(reason) or "no reason recorded"
    return reason if len(reason) <= REASON_CHARS else reason[:REASON_CHARS - 1].rstrip() + "…"


def summarise(df: pd.DataFrame, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (dataset, method, steps, metric): the value, or mean ± sd over seeds (``summary``:
    :func:`benchmarks.render.summary.seed_summary` of ``df``, computed here where not given)."""
    summary = seed_summary(df) if summary is None else summary
    reproduced = [mean_sd(m, d, n) if s == "ok" else f"skipped: {_short(r)}"
                  for m, d, n, s, r in zip(summary["mean"], summary["sd"], summary["n"], summary["status"],
                                           summary["reason"])]
    return pd.DataFrame({"dataset": summary["dataset"].map(_cell), "method": summary["method"].map(_cell),
                         "steps": summary["steps"].map(lambda v: "" if pd.isna(v) else str(int(v))),
                         "metric": summary["metric"].map(_cell), "reproduced": reproduced,
                         "published": summary["published"].map(fmt),
                         "difference": [fmt_like(d, m) for d, m in zip(summary["difference"], summary["mean"])]},
                        columns=KEY + ["reproduced", "published", "difference"])


def _distinct(df: pd.DataFrame, column: str) -> str:
    values = sorted(set(df[column].dropna().astype(str))) if column in df else []
    return ", ".join(values) or "unknown"


def section(out: Path, name: str, df: pd.DataFrame, title: str | None,
            summary: pd.DataFrame | None = None) -> list[str]:
    """The page's part for table ``name``: its cells' counts and provenance, their summary over the
    seeds (computed here where not given), its files."""
    df = df.reindex(columns=list(dict.fromkeys([*df.columns, *KEY, "value", "published", "status", "reason"])))
    df["steps"] = pd.to_numeric(df["steps"], errors="coerce").astype("Int64")
    status = df["status"].fillna("unknown").value_counts()
    counts = ", ".join(f"{status[s]} {s}" for s in sorted(status.index, key=lambda s: (s != "ok", s)))
    wall = pd.to_numeric(df["wall_s"], errors="coerce").sum() if "wall_s" in df else 0.0
    stem = f"table{name}"
    lines = [f"## Table {name}" + (f": {title}" if title else ""), "",
             f"{len(df)} cells ({counts}); commit(s) {_distinct(df, 'git_commit')}; "
             f"device(s) {_distinct(df, 'device')}; {wall:.1f} s of evaluation wall time.", "",
             summarise(df, summary).to_markdown(index=False, disable_numparse=True), ""]
    files = [f"[{stem}{ext}]({stem}{ext})" for ext in (".md", ".tex", ".csv") if (out / f"{stem}{ext}").is_file()]
    lines += ["Files: " + " · ".join(files), ""]
    if (out / f"{stem}.png").is_file():
        lines += [f"![Table {name}]({stem}.png)", ""]
    for grid in sorted((out / "samples").glob(f"{stem}-*.png")):
        lines += [f"![{grid.stem}](samples/{grid.name})", ""]
    return lines


def _records(out: Path) -> list[str]:
    """Links to the other records in ``out`` (design notes, overhead measurements, run logs)."""
    links = []
    for path in sorted(out.iterdir()):
        if path.suffix not in (".md", ".txt") or path.name == "README.md" or re.fullmatch(r"table\w+\.md", path.name):
            continue
        first = path.read_text(errors="replace").split("\n", 1)[0].lstrip("# ").strip() if path.suffix == ".md" else ""
        links.append(f"- [{path.name}]({path.name})" + (f": {first}" if first else ""))
    runs = [f"- [runs/{path.name}](runs/{path.name}): "
            f"{path.read_text(errors='replace').split(chr(10), 1)[0].lstrip('# ')}"
            for path in sorted((out / "runs").glob("*.md"))]
    links += runs
    return ["## Other records", "", *links, ""] if links else []


def _shown_path(out: Path) -> str:
    """``out`` relative to the working folder where it lies below it (``results/cpu``), else as given."""
    try:
        return Path(out).resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(out)


def render_index(out: Path, titles: dict[str, str] | None = None, reports: tuple = ()) -> Path:
    """Write ``out/README.md`` from every tableN.csv in ``out``; returns its path.  A table among
    ``reports`` (:class:`benchmarks.render.report.Report`, just rendered) is shown from its report,
    with its title; the others are read from their CSV.  A README.md this module did not write is
    never replaced."""
    out = Path(out)
    found = table_csvs(out) if out.is_dir() else []
    if not found:
        problem = f"no tableN.csv in {out}" if out.is_dir() else f"{out} is not a folder"
        raise FileNotFoundError(f"{problem}; run `python -m benchmarks.run --table N --out {out}` first, "
                                "or pass the folder that holds the tableN.csv files with --out")
    reported = {report.name: report for report in reports}
    frames, shown = {}, {}  # name -> its cells; name -> (its title, its summary where already computed)
    for name, path in found:
        if name in reported:
            frames[name], shown[name] = reported[name].frame, (reported[name].title, reported[name].summary)
            continue
        try:
            frames[name] = pd.read_csv(path, dtype={"table": str})
        except ValueError as error:  # empty or malformed (pandas' ParserError is a ValueError)
            raise ValueError(f"cannot read {path} ({error}); rerun `python -m benchmarks.run --table {name}`") from None
        shown[name] = ((titles or {}).get(name), None)
    profiles = sorted({str(p) for df in frames.values() if "profile" in df for p in df["profile"].dropna()})
    profiles = profiles or [out.resolve().name]
    if (out / "README.md").exists() and not is_index(out / "README.md"):
        raise ValueError(f"{out / 'README.md'} was not written by the results index; move it, or render the index "
                         "of another folder")
    lines = [f"# Results: profile `{', '.join(profiles)}`", "",
             f"{INDEX_MARK} (the tableN.csv files in this folder); "
             f"regenerate it with `python -m benchmarks.render.index --out {_shown_path(out)}`.", ""]
    for name, df in frames.items():
        lines += section(out, name, df, *shown[name])
    lines += _records(out)
    write_atomic(out / "README.md", "\n".join(lines))
    return out / "README.md"


def titles_from_markdown(out: Path, besides: tuple[str, ...] = ()) -> dict[str, str]:
    """Titles from the first line of each tableN.md (``# Table N: title``), where present, but for the
    tables named in ``besides``."""
    heads = {name: md.read_text(errors="replace").split("\n", 1)[0].strip()
             for name, _ in table_csvs(out) if name not in besides and (md := out / f"table{name}.md").is_file()}
    return {name: head.split(": ", 1)[1] for name, head in heads.items() if head.startswith(f"# Table {name}: ")}


def render_run_index(out: Path, reports: list) -> Path:
    """The results page after a run: its tables from their ``reports``, the folder's other tables
    (of earlier runs) from their files."""
    return render_index(out, titles_from_markdown(out, tuple(report.name for report in reports)), tuple(reports))


def main(argv=None) -> int:
    try:
        parser = OneLineParser(prog="python -m benchmarks.render.index", description=first_paragraph(__doc__))
        parser.add_argument("--out", type=Path, required=True, metavar="PATH",
                            help="Results folder holding tableN.csv, e.g. results/cpu.")
        args = parser.parse_args(argv)
        print(render_index(args.out, titles_from_markdown(args.out) if args.out.is_dir() else None))
    except (UsageError, OSError, ValueError) as error:  # bad arguments, missing folder, unreadable or empty CSV
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
