"""A table as LaTeX (tableN.tex): a booktabs table of the reproduced values over seeds beside the
published ones, its text escaped, that compiles inside any document that loads booktabs."""

from __future__ import annotations

import pandas as pd

from benchmarks.render.entries import fmt, fmt_like, mean_sd, steps_text
from benchmarks.render.summary import seed_summary

LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex(text) -> str:
    """``text`` with LaTeX's special characters escaped (and ± as math)."""
    out = "".join(LATEX_SPECIALS.get(ch, ch) for ch in str(text))
    return out.replace("±", r"$\pm$")


def latex(df: pd.DataFrame, title: str, summary: pd.DataFrame | None = None) -> str:
    """One row per (dataset, method, steps, metric): mean ± sd over the seeds and their count,
    the published value and the difference, NFE as an integer; a booktabs table that compiles
    inside any document that loads booktabs (``summary``: ``df``'s over the seeds, where computed)."""
    summary = seed_summary(df) if summary is None else summary
    rows = []
    for r in summary.itertuples():
        reproduced = mean_sd(r.mean, r.sd, r.n, count=False) if r.status == "ok" else r.status
        cells = [r.dataset, r.method, steps_text(r.steps), r.metric, reproduced, str(r.n) if r.n else "",
                 fmt(r.published), fmt_like(r.difference, r.mean),
                 "" if pd.isna(r.nfe_per_sample) else f"{r.nfe_per_sample:.0f}"]
        rows.append(" & ".join(tex(c) for c in cells) + r" \\")
    head = ["Dataset", "Method", "Steps", "Metric", "Reproduced", "Seeds", "Published", "Diff.", "NFE"]
    return "\n".join([r"\begin{table}", r"\centering", r"\small", rf"\caption{{{tex(title)}}}",
                      r"\begin{tabular}{lllllrrrr}", r"\toprule", " & ".join(head) + r" \\", r"\midrule",
                      *rows, r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])
