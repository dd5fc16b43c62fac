"""Stored cells + published numbers -> tableN.csv, .md, .tex and a plot (separate from compute)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from benchmarks.cells import Cell, RunOptions
from benchmarks.claims import claims_notes
from benchmarks.store import write_atomic

PAPER_TABLES = Path(__file__).resolve().parent.parent / "paper_tables"
JOIN = ["dataset", "task", "method", "steps", "metric"]
COLUMNS = ["table", "dataset", "task", "method", "steps", "metric", "value", "published",
           "difference", "status", "reason", "nfe_per_sample", "samples_per_s", "wall_s",
           "train_s", "samples", "note", "seed", "profile", "solver", "git_commit", "versions",
           "device", "cell"]


def published(table: str) -> pd.DataFrame:
    file = PAPER_TABLES / f"table{table}.csv"
    if not file.is_file():
        return pd.DataFrame(columns=JOIN + ["value", "status", "quoted", "note"])
    frame = pd.read_csv(file, dtype={"table": str})
    frame["steps"] = frame["steps"].astype("Int64")
    return frame


def frame(cells: list[Cell], records: list[dict], table: str, compare=None) -> pd.DataFrame:
    """One row per cell, the published value beside it (``compare`` maps our dataset name
    to the paper's when they differ, e.g. a smaller offline stand-in)."""
    rows = []
    for cell, record in zip(cells, records):
        row = {"table": cell.table, "dataset": cell.dataset, "task": cell.task, "method": cell.method,
               "steps": cell.steps, "metric": cell.metric, "cell": cell.key, **record}
        rows.append(row)
    out = pd.DataFrame(rows)
    out["steps"] = out["steps"].astype("Int64")
    paper = published(table)
    paper = paper[paper["status"] == "reported"][JOIN + ["value"]].rename(columns={"value": "published"})
    paper["published"] = paper["published"].astype(float)
    key = out[JOIN].copy()
    if compare is not None:
        key["dataset"] = key["dataset"].map(compare)
    merged = key.merge(paper, on=JOIN, how="left")
    out["published"] = merged["published"].to_numpy()
    for column in COLUMNS:
        if column not in out:
            out[column] = pd.NA
    out["difference"] = pd.to_numeric(out["value"], errors="coerce") - out["published"]
    return out[COLUMNS]


def fmt(value, digits=2) -> str:
    """A table entry: floats to ``digits`` decimals, one more below 1 in size (Frechet distances
    of the scene set are around 0.03); missing values empty."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits + (0 < abs(value) < 1 and digits > 0)}f}"
    return str(value)


SUMMARY_KEY = ["dataset", "task", "method", "steps", "metric"]


def seed_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, task, method, steps, metric) over the seeds of ``df``: the mean,
    sample standard deviation and count of the finished values (sd empty for one seed), the
    published value, the first skip reason where none finished, the median NFE and rate, the
    fewest samples a value was measured on, and the seeds and notes seen."""
    df = df.reindex(columns=list(dict.fromkeys([*df.columns, *COLUMNS])))
    rows = []
    for key, group in df.groupby(SUMMARY_KEY, sort=False, dropna=False):
        done = group[group["status"] == "ok"]
        values = pd.to_numeric(done["value"], errors="coerce").dropna()
        published = pd.to_numeric(group["published"], errors="coerce").dropna()
        rows.append({**dict(zip(SUMMARY_KEY, key)), "mean": values.mean() if len(values) else float("nan"),
                     "sd": values.std(ddof=1) if len(values) > 1 else float("nan"), "n": len(values),
                     "published": published.iloc[0] if len(published) else float("nan"),
                     "status": "ok" if len(values) else str(group["status"].iloc[0]),
                     "reason": "" if len(values) else str(group["reason"].iloc[0]),
                     "nfe_per_sample": pd.to_numeric(done["nfe_per_sample"], errors="coerce").median(),
                     "samples_per_s": pd.to_numeric(done["samples_per_s"], errors="coerce").median(),
                     "samples": pd.to_numeric(done["samples"], errors="coerce").min() if "samples" in done else
                     float("nan"),
                     "seeds": ",".join(str(v) for v in sorted(set(group["seed"].dropna().astype(int)))),
                     "note": " ".join(sorted(set(group["note"].dropna().astype(str)) - {""}))})
    out = pd.DataFrame(rows)
    out["difference"] = out["mean"] - out["published"]
    out["steps"] = out["steps"].astype("Int64")
    return out


def mean_sd(mean, sd, n) -> str:
    """``mean``, or ``mean ± sd (n seeds)`` over several seeds."""
    if n <= 1:
        return fmt(mean)
    digits = len(fmt(float(mean)).split(".")[-1])  # the sd to the mean's decimals
    return f"{fmt(mean)} ± {sd:.{digits}f} ({n} seeds)"


def markdown(df: pd.DataFrame, title: str, options: RunOptions, quoted: pd.DataFrame | None,
             notes: str = "", claims: tuple = ()) -> str:
    summary = seed_summary(df)
    view = pd.DataFrame({
        "dataset": summary["dataset"], "method": summary["method"], "steps": summary["steps"].astype(str),
        "metric": summary["metric"],
        "reproduced": [mean_sd(m, d, n) if s == "ok" else f"skipped: {r}"
                       for m, d, n, s, r in zip(summary["mean"], summary["sd"], summary["n"], summary["status"],
                                                summary["reason"])],
        "published": summary["published"].map(fmt), "difference": summary["difference"].map(lambda v: fmt(v)),
        "NFE / sample": summary["nfe_per_sample"].map(lambda v: fmt(v, 0)),
        "samples / s": summary["samples_per_s"].map(lambda v: "" if pd.isna(v) else f"{float(v):.3g}"),
    })
    if summary["note"].str.len().any():
        view["note"] = summary["note"]
    commits = ", ".join(sorted(set(df["git_commit"].dropna().astype(str))))
    devices = ", ".join(sorted(set(df["device"].dropna().astype(str))))
    seeds = sorted(set(df["seed"].dropna().astype(int)))
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))} (mean ± sd)"
    lines = [f"# Table {df['table'].iloc[0]}: {title}", "",
             f"Profile `{options.profile}`, {seed_text}, solver `{options.solver}`. "
             f"Computed at commit(s) {commits} on {devices}.", "",
             view.to_markdown(index=False, disable_numparse=True), ""]
    trained = pd.to_numeric(df["train_s"], errors="coerce").dropna()
    if len(trained):
        lines += [f"Training wall time of the model(s) behind these cells: "
                  f"{', '.join(f'{v:.0f} s' for v in sorted(set(trained.round(1))))}.", ""]
    lines += claims_notes(claims, summary)
    if notes:
        lines += [f"Notes: {notes}", ""]
    if quoted is not None and len(quoted):
        lines += ["Quoted from the paper (not re-run here):", "",
                  quoted.to_markdown(index=False, disable_numparse=True), ""]
    return "\n".join(lines)


def latex(df: pd.DataFrame, title: str) -> str:
    view = df[["dataset", "method", "steps", "metric", "value", "published", "difference", "nfe_per_sample"]].copy()
    view.columns = ["Dataset", "Method", "Steps", "Metric", "Reproduced", "Published", "Diff.", "NFE"]
    return view.to_latex(index=False, float_format="%.2f", na_rep="--", caption=title)


def plot(df: pd.DataFrame, title: str, metrics, group) -> bytes:
    from matplotlib.figure import Figure

    # a metric whose every cell is skipped gets no panel (the Markdown table says why)
    metrics = [m for m in metrics if ((df["metric"] == m) & (df["status"] == "ok")).any()]
    summary = seed_summary(df)
    fig = Figure(figsize=(5.5 * max(1, len(metrics)), 4))
    axes = fig.subplots(1, max(1, len(metrics)), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        part = summary[(summary["metric"] == metric) & (summary["status"] == "ok")].dropna(subset=["steps"])
        for i, (name, g) in enumerate(part.groupby(list(group), sort=False)):
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
        ax.set_xscale("log")
        ticks = sorted(part["steps"].astype(int).unique())
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("ODE steps")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return png_bytes(fig, dpi=120)


def png_bytes(fig, dpi: int = 110) -> bytes:
    """A matplotlib ``Figure``, laid out tightly, as PNG bytes (written atomically by the caller)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def render(spec, cells: list[Cell], records: list[dict], options: RunOptions) -> list[Path]:
    """Write tableN.{csv,md,tex,png} under ``options.out``; returns the paths written."""
    df = frame(cells, records, spec.name, getattr(spec, "compare", None))
    paper = published(spec.name)
    quoted = paper[paper["quoted"].astype(str).str.lower() == "true"]
    quoted = quoted.drop(columns=["table", "quoted"]).fillna("") if len(quoted) else None
    out, stem = Path(options.out), f"table{spec.name}"
    notes = getattr(spec, "notes", {}).get(options.profile, "")
    if options.train_steps is not None:
        notes = (f"every network trained for {options.train_steps:,} steps (--train-steps), not the "
                 f"{options.profile} profile's budget. " + notes)
    written = {out / f"{stem}.csv": df.to_csv(index=False),
               out / f"{stem}.md": markdown(df, spec.title, options, quoted, notes, getattr(spec, "claims", ())),
               out / f"{stem}.tex": latex(df, spec.title)}
    if getattr(spec, "plot", None) is not None:
        written[out / f"{stem}.png"] = plot(df, spec.title, spec.plot.metrics, spec.plot.group)
    for path, data in written.items():
        write_atomic(path, data)
    return list(written)
