"""Stored cells + published numbers -> tableN.csv, .md, .tex and a plot (separate from compute).

The pieces, a concept each: the cells beside the published values (:mod:`.frame`), the text of an
entry (:mod:`.entries`), the summary over seeds (:mod:`.summary`), what the studies' records add to
the notes (:mod:`.notes`), and the Markdown (:mod:`.markdown`), LaTeX (:mod:`.latex`) and plot
(:mod:`.plots`) of a table; :mod:`.report` writes them all from one frame and one summary.  This
module re-exports the names their callers use."""

from __future__ import annotations

from benchmarks.render.entries import fmt, fmt_like, mean_sd, steps_text  # noqa: F401
from benchmarks.render.frame import frame, published  # noqa: F401
from benchmarks.render.latex import latex  # noqa: F401
from benchmarks.render.markdown import markdown  # noqa: F401
from benchmarks.render.notes import ladder, read_record, study_notes  # noqa: F401
from benchmarks.render.plots import plot  # noqa: F401
from benchmarks.render.report import Report, report  # noqa: F401
from benchmarks.render.summary import seed_summary  # noqa: F401
