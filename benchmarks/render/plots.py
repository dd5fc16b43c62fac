"""A table's plot (tableN.png): each metric against the ODE steps on a log axis, the reproduced mean
over seeds beside the published points, and where asked each curve relative to its 1-step value."""

from __future__ import annotations

import pandas as pd

from benchmarks.render.figures import png_bytes
from benchmarks.render.summary import seed_summary


def _step_axis(ax, steps, metric: str) -> None:
    ax.set_xscale("log")
    ticks = sorted(set(int(v) for v in steps))
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("ODE steps")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # below the axes, never over the data
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)


def plot(df: pd.DataFrame, title: str, spec, published_rows: pd.DataFrame | None = None,
         summary: pd.DataFrame | None = None) -> bytes:
    """Each metric of ``spec`` (a :class:`~benchmarks.cells.PlotSpec`) against steps: the
    reproduced mean (a band of ± sd over seeds) and the published points of the same data set;
    with ``spec.relative``, a second row where every curve, ours and the paper's on its own data
    sets (``published_rows``), is divided by its own 1-step value.  ``summary``: ``df``'s over the
    seeds, where computed."""
    from matplotlib.figure import Figure

    # a metric whose every cell is skipped gets no panel (the Markdown table says why)
    metrics = [m for m in spec.metrics if ((df["metric"] == m) & (df["status"] == "ok")).any()]
    relative = [m for m in metrics if m in spec.relative]
    summary = seed_summary(df) if summary is None else summary
    rows = 2 if relative else 1
    fig = Figure(figsize=(5.0 * max(1, len(metrics)), 4.6 * rows))
    axes = fig.subplots(rows, max(1, len(metrics)), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        part = summary[(summary["metric"] == metric) & (summary["status"] == "ok")].dropna(subset=["steps"])
        for i, (name, g) in enumerate(part.groupby(list(spec.group), sort=False)):
            g = g.sort_values("steps")
            label = " / ".join(map(str, name)) if isinstance(name, tuple) else str(name)
            colour, steps = f"C{i}", g["steps"].astype(int)
            seeds = int(g["n"].max())
            shown = f"{label} (reproduced{'' if seeds <= 1 else f', mean ± sd of {seeds} seeds'})"
            ax.plot(steps, g["mean"].astype(float), "o-", color=colour, label=shown)
            if seeds > 1:
                sd = g["sd"].astype(float).fillna(0.0)
                ax.fill_between(steps, g["mean"] - sd, g["mean"] + sd, color=colour, alpha=0.2, linewidth=0)
            pub = g.dropna(subset=["published"])
            if len(pub):
                ax.plot(pub["steps"].astype(int), pub["published"].astype(float), "s--", color=colour,
                        mfc="none", label=f"{label} (published)")
        _step_axis(ax, part["steps"], metric)
    below = dict(zip(metrics, axes[1])) if relative else {}  # each relative panel under its own metric
    for metric, ax in below.items():
        ax.set_visible(metric in relative)
    for metric in relative:
        ax = below[metric]
        part = summary[(summary["metric"] == metric) & (summary["status"] == "ok")].dropna(subset=["steps"])
        curves = [(" / ".join(map(str, name)) + " (reproduced)", g.set_index("steps")["mean"].astype(float), "o-")
                  for name, g in part.groupby(list(spec.group), sort=False)]
        theirs = pd.DataFrame() if published_rows is None else published_rows[
            published_rows["metric"] == spec.relative[metric]]
        curves += [(f"{dataset} / {method} (published {spec.relative[metric]})",
                    g.set_index("steps")["value"].astype(float), "s--")
                   for (dataset, method), g in theirs.groupby(["dataset", "method"], sort=False)]
        for i, (label, curve, style) in enumerate(curves):
            curve = curve.sort_index()
            if 1 in curve.index and curve.loc[1]:
                ax.plot(curve.index.astype(int), curve / curve.loc[1], style, color=f"C{i}", label=label,
                        **({"mfc": "none"} if style == "s--" else {}))
        _step_axis(ax, [*part["steps"], *theirs.get("steps", [])], f"{metric} / its 1-step value")
    fig.suptitle(title + ("\n(lower row: every curve divided by its own 1-step value; the paper's curves are "
                          "on its own data sets)" if relative else ""), fontsize=10)
    return png_bytes(fig, dpi=110)
