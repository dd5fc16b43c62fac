"""Stored cells + published numbers -> tableN.csv, .md, .tex and a plot (separate from compute).

The pieces, a concept each: the cells beside the published values (:mod:`.frame`), the text of an
entry (:mod:`.entries`), the summary over seeds (:mod:`.summary`), what the studies' records add to
the notes (:mod:`.notes`), and the Markdown (:mod:`.markdown`), LaTeX (:mod:`.latex`) and plot
(:mod:`.plots`) of a table; this module writes them all, and re-exports the names its callers use."""

from __future__ import annotations

from pathlib import Path

from benchmarks.cells import Cell, RunOptions
from benchmarks.render.entries import fmt, fmt_like, mean_sd, steps_text  # noqa: F401
from benchmarks.render.frame import frame, published
from benchmarks.render.grids import draw_previews
from benchmarks.render.latex import latex
from benchmarks.render.markdown import markdown
from benchmarks.render.notes import ladder, study_notes
from benchmarks.render.plots import plot
from benchmarks.render.summary import seed_summary  # noqa: F401
from benchmarks.store import CellStore
from symmflow.outputs import write_atomic


def render(spec, cells: list[Cell], records: list[dict], options: RunOptions) -> list[Path]:
    """Write tableN.{csv,md,tex,png} under ``options.out``, and the sample grids the stored
    previews of ``cells`` make up (samples/*.png); returns the paths written."""
    df = frame(cells, records, spec.name, spec.compare)
    paper = published(spec.name)
    quoted = paper[paper["quoted"].astype(str).str.lower() == "true"]
    quoted = quoted.drop(columns=["table", "quoted"]).fillna("") if len(quoted) else None
    out, stem = Path(options.out), f"table{spec.name}"
    notes = spec.notes.get(options.profile, "")
    trades = [text for dataset, text in study_notes(out, "front-notes.json", options.profile).items()
              if dataset in set(df["dataset"])]
    notes = " ".join([notes, *trades]).strip()
    if options.train_steps is not None:
        notes = (f"every network trained for {options.train_steps:,} steps (--train-steps), not the "
                 f"{options.profile} profile's budget. " + notes)
    written = {out / f"{stem}.csv": df.to_csv(index=False),
               out / f"{stem}.md": markdown(df, spec.title, options, quoted, notes, spec.claims,
                                            ladder(out)),
               out / f"{stem}.tex": latex(df, spec.title)}
    if spec.plot is not None:
        reported = paper[paper["status"] == "reported"]
        written[out / f"{stem}.png"] = plot(df, spec.title, spec.plot, reported)
    for path, data in written.items():
        write_atomic(path, data)
    store = CellStore(out)
    previews = [stored for cell in cells if (stored := store.load_preview(cell)) is not None]
    return [*written, *draw_previews(out, previews)]
