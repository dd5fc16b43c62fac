"""A table's report: its cells' records (each stored file read once, by the run's store), one frame of
them beside the published values, one summary over the seeds, and every view written from that one
result -- tableN.csv, .md, .tex, .png and the sample grids -- and handed to the results page.

The study records a table shows are declared (:func:`study_records`): each is read once per report,
and one that is missing or unreadable is named in one line of the table's Markdown."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.cells import Cell, RunOptions
from benchmarks.render.frame import frame, published
from benchmarks.render.latex import latex
from benchmarks.render.markdown import markdown
from benchmarks.render.notes import FRONT_NOTES, SANITY_LADDER, ladder, read_record, study_notes
from benchmarks.render.plots import plot
from benchmarks.render.summary import seed_summary
from symmflow.outputs import write_atomic

STUDY_RECORDS = {name: (FRONT_NOTES, SANITY_LADDER) for name in ("2", "3", "4", "5", "11")}
"""Table name -> the study records of its folder its report reads (the front's notes on its data
sets; the sanity ladder's verdicts on its metrics, which its claims weigh)."""


def study_records(name: str) -> tuple[str, ...]:
    """The study records table ``name``'s report reads (none for a table not listed)."""
    return STUDY_RECORDS.get(name, ())


@dataclass(frozen=True)
class Report:
    """One table as rendered: its title, its cells as one frame (tableN.csv), their summary over the
    seeds, and the files written from them."""

    name: str
    title: str
    frame: pd.DataFrame
    summary: pd.DataFrame
    paths: tuple[Path, ...]


def report(spec, cells: list[Cell], records: list[dict], options: RunOptions) -> Report:
    """Write tableN.{csv,md,tex,png} under ``options.out`` from ``records`` (one per cell of
    ``cells``), summarised over the seeds once, and the sample grids the stored previews of ``cells``
    make up (samples/*.png)."""
    df = frame(cells, records, spec.name, spec.compare)
    summary = seed_summary(df)
    paper = published(spec.name)
    quoted = paper[paper["quoted"].astype(str).str.lower() == "true"]
    quoted = quoted.drop(columns=["table", "quoted"]).fillna("") if len(quoted) else None
    out, stem = Path(options.out), f"table{spec.name}"
    read = {name: read_record(out, name) for name in study_records(spec.name)}
    found = {name: data for name, (data, _) in read.items()}
    not_shown = tuple(line for _, line in read.values() if line)
    notes = spec.notes.get(options.profile, "")
    trades = [text for dataset, text in study_notes(found.get(FRONT_NOTES), options.profile).items()
              if dataset in set(df["dataset"])]
    notes = " ".join([notes, *trades]).strip()
    if options.train_steps is not None:
        notes = (f"every network trained for {options.train_steps:,} steps (--train-steps), not the "
                 f"{options.profile} profile's budget. " + notes)
    written = {out / f"{stem}.csv": df.to_csv(index=False),
               out / f"{stem}.md": markdown(df, spec.title, options, quoted, notes, spec.claims,
                                            ladder(found.get(SANITY_LADDER)), summary, not_shown),
               out / f"{stem}.tex": latex(df, spec.title, summary)}
    if spec.plot is not None:
        reported = paper[paper["status"] == "reported"]
        written[out / f"{stem}.png"] = plot(df, spec.title, spec.plot, reported, summary)
    for path, data in written.items():
        write_atomic(path, data)
    previews = [stored for cell in cells if (stored := options.store.load_preview(cell)) is not None]
    return Report(spec.name, spec.title, df, summary, (*written, *draw_previews(out, previews)))


def draw_previews(out: Path, previews: list[dict]) -> list[Path]:
    """The sample grids of ``previews`` (:func:`benchmarks.render.grids.draw_previews`; none: nothing drawn)."""
    if not previews:
        return []
    from benchmarks.render.grids import draw_previews as draw

    return draw(out, previews)
