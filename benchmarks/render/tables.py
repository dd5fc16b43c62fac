"""Stored cells + published numbers -> tableN.csv, .md, .tex and a plot (separate from compute)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from benchmarks.cells import Cell, RunOptions
from benchmarks.claims import LadderFailures, claims_notes
from benchmarks.precision import deviation_text
from benchmarks.render.figures import png_bytes
from benchmarks.render.grids import draw_previews
from benchmarks.store import CellStore
from symmflow.metrics import CLEAN_FID, PYTORCH_FID
from symmflow.outputs import write_atomic

PAPER_TABLES = Path(__file__).resolve().parents[2] / "paper_tables"
JOIN = ["dataset", "task", "method", "steps", "metric"]
COLUMNS = ["table", "dataset", "task", "method", "steps", "metric", "value", "published",
           "difference", "status", "reason", "nfe_per_sample", "samples_per_s", "wall_s",
           "train_s", "samples", "note", "seed", "profile", "solver", "git_commit", "versions",
           "device", "cell"]
LATER_COLUMNS = ["eval_precision", "train_precision", "machine"]
"""Columns of a record that older cells do not hold (the evaluation precision of bf16 cells, the
training precision and the machine of cells computed since): in a table's CSV only where one of
its cells has them."""


PUBLISHED_AS = {CLEAN_FID: "FID", PYTORCH_FID: "FID"}
"""Our metric -> the paper's column it is compared with (the paper's FID is pytorch-fid's)."""


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
    key["metric"] = key["metric"].replace(PUBLISHED_AS)
    if compare is not None:
        key["dataset"] = key["dataset"].map(compare)
    merged = key.merge(paper, on=JOIN, how="left")
    out["published"] = merged["published"].to_numpy()
    for column in COLUMNS:
        if column not in out:
            out[column] = pd.NA
    out["difference"] = pd.to_numeric(out["value"], errors="coerce") - out["published"]
    return out[COLUMNS + [column for column in LATER_COLUMNS if column in out]]


def fmt(value, digits=2) -> str:
    """A table entry: floats to ``digits`` decimals, and to three significant digits below 1 in
    size (Frechet distances of the scene set are around 0.03); missing values empty."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    if isinstance(value, float):
        if 0 < abs(value) < 1 and digits > 0:
            return f"{value:.{max(digits, 2 - math.floor(math.log10(abs(value))))}f}"
        return f"{value:.{digits}f}"
    return str(value)


def fmt_like(value, like) -> str:
    """``value`` to as many decimals as :func:`fmt` gives ``like`` (a difference to its value's)."""
    if pd.isna(value) or pd.isna(like):
        return fmt(value)
    text = fmt(float(like))
    return f"{float(value):.{len(text.split('.')[1]) if '.' in text else 0}f}"


def steps_text(steps) -> str:
    """A step count as a table shows it (empty where a row has none)."""
    return "" if pd.isna(steps) else str(int(steps))


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


def mean_sd(mean, sd, n, count: bool = True) -> str:
    """``mean``, or ``mean ± sd (n seeds)`` over several seeds (without the count: ``mean ± sd``)."""
    if n <= 1:
        return fmt(mean)
    digits = len(fmt(float(mean)).split(".")[-1])  # the sd to the mean's decimals
    return f"{fmt(mean)} ± {sd:.{digits}f}" + (f" ({n} seeds)" if count else "")


def study_notes(out: Path, name: str, profile: str) -> dict[str, str]:
    """Sentences a study writes for the tables' notes of one profile, by data set
    (``front-notes.json``: ``python -m studies.front``); empty where the study has not run."""
    try:
        record = json.loads((Path(out) / name).read_text())
        notes = record["notes"] if record["profile"] == profile else {}
        return {str(k): str(v) for k, v in notes.items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def ladder(out: Path) -> tuple[dict[tuple[str, str], LadderFailures], set[tuple[str, str]]]:
    """From the sanity ladder's record in ``out`` (``sanity-ladder.json``, written by
    ``python -m studies.sanity_ladder``): (dataset, metric) -> what the ladder found wrong with the
    metric, for each that failed it, and every (dataset, metric) the ladder checked; empty where
    there is no record."""
    path = Path(out) / "sanity-ladder.json"
    try:
        metrics = json.loads(path.read_text())["metrics"]
        failures = {(m["dataset"], m["metric"]): LadderFailures(tuple(m["blind_to"]),
                                                                tuple(m.get("not_monotone_in", ())))
                    for m in metrics}
        return ({key: f for key, f in failures.items() if str(f)}, {(m["dataset"], m["metric"]) for m in metrics})
    except (OSError, ValueError, KeyError, TypeError):
        return {}, set()


def ladder_lines(df: pd.DataFrame, failures: dict, checked: set) -> list[str]:
    """What the sanity ladder says of the generation metrics of this table."""
    lines = []
    for dataset, metric in sorted({(d, m) for d, m in zip(df["dataset"], df["metric"])} & checked):
        found = failures.get((dataset, metric))
        lines.append(f"- {dataset}, {metric}: " + (f"fails: {found}" if found
                                                    else "passes: moves monotonically with every degradation"))
    return ["Sanity ladder of the generation metrics (sanity-ladder.md): real images degraded step by step; "
            "a metric blind to a degradation cannot see it (and does not decide a claim its seeing peers "
            "contradict); one not monotone in it scores some step better than a milder one.", "", *lines, ""] \
        if lines else []


def precision_text(options: RunOptions) -> str:
    """What a table's first line says of its evaluation precision: nothing at fp32 (the default, what
    the committed cells were computed at), else the precision (``--eval-precision``)."""
    if options.eval_precision == "fp32":
        return ""
    return (f", evaluation at {options.eval_precision} (every network evaluation of the evaluated methods under "
            f"{options.eval_precision} autocast, weights fp32; training and the judges fp32)")


def on_text(device, machine) -> str:
    """A cell's device in the "computed on" line, with its machine where the record names it
    (:func:`benchmarks.provenance.machine`: cores, threads, instruction-set features, kernels)."""
    return str(device) if machine is None or pd.isna(machine) else f"{device} [{machine}]"


def markdown(df: pd.DataFrame, title: str, options: RunOptions, quoted: pd.DataFrame | None,
             notes: str = "", claims: tuple = (), ladder: tuple[dict, set] = ({}, set())) -> str:
    summary, spec_name = seed_summary(df), str(df["table"].iloc[0])
    view = pd.DataFrame({
        "dataset": summary["dataset"], "method": summary["method"], "steps": summary["steps"].map(steps_text),
        "metric": summary["metric"],
        "reproduced": [mean_sd(m, d, n) if s == "ok" else f"skipped: {r}" if s == "skipped" else s
                       for m, d, n, s, r in zip(summary["mean"], summary["sd"], summary["n"], summary["status"],
                                                summary["reason"])],
        "published": summary["published"].map(fmt),
        "difference": [fmt_like(d, m) for d, m in zip(summary["difference"], summary["mean"])],
        "NFE / sample": summary["nfe_per_sample"].map(lambda v: fmt(v, 0)),
        "samples / s": summary["samples_per_s"].map(lambda v: "" if pd.isna(v) else f"{float(v):.3g}"),
    })
    if summary["note"].str.len().any():
        view["note"] = summary["note"]
    commits = ", ".join(sorted(set(df["git_commit"].dropna().astype(str))))
    devices = ", ".join(sorted(set(on_text(device, machine) for device, machine in
                                   zip(df["device"], df["machine"] if "machine" in df else [None] * len(df))
                                   if not pd.isna(device))))
    seeds = sorted(set(df["seed"].dropna().astype(int)))
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))} (mean ± sd)"
    lines = [f"# Table {df['table'].iloc[0]}: {title}", "",
             f"Profile `{options.profile}`, {seed_text}, solver `{options.solver}`{precision_text(options)}"
             f"{deviation_text(options.profile, options.train_deviations.get(spec_name), options.precision)}. "
             f"Computed at commit(s) {commits} on {devices}.", "",
             view.to_markdown(index=False, disable_numparse=True), ""]
    trained = pd.to_numeric(df["train_s"], errors="coerce").dropna()
    if len(trained):
        lines += [f"Training wall time of the model(s) behind these cells: "
                  f"{', '.join(f'{v:.0f} s' for v in sorted(set(trained.round(1))))}.", ""]
    lines += claims_notes(claims, df, ladder[0])
    lines += ladder_lines(df, *ladder)
    if notes:
        lines += [f"Notes: {notes}", ""]
    if quoted is not None and len(quoted):
        lines += ["Quoted from the paper (not re-run here):", "",
                  quoted.to_markdown(index=False, disable_numparse=True), ""]
    return "\n".join(lines)


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex(text) -> str:
    """``text`` with LaTeX's special characters escaped (and ± as math)."""
    out = "".join(LATEX_SPECIALS.get(ch, ch) for ch in str(text))
    return out.replace("±", r"$\pm$")


def latex(df: pd.DataFrame, title: str) -> str:
    """One row per (dataset, method, steps, metric): mean ± sd over the seeds and their count,
    the published value and the difference, NFE as an integer; a booktabs table that compiles
    inside any document that loads booktabs."""
    summary = seed_summary(df)
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


def plot(df: pd.DataFrame, title: str, spec, published_rows: pd.DataFrame | None = None) -> bytes:
    """Each metric of ``spec`` (a :class:`~benchmarks.cells.PlotSpec`) against steps: the
    reproduced mean (a band of ± sd over seeds) and the published points of the same data set;
    with ``spec.relative``, a second row where every curve, ours and the paper's on its own data
    sets (``published_rows``), is divided by its own 1-step value."""
    from matplotlib.figure import Figure

    # a metric whose every cell is skipped gets no panel (the Markdown table says why)
    metrics = [m for m in spec.metrics if ((df["metric"] == m) & (df["status"] == "ok")).any()]
    relative = [m for m in metrics if m in spec.relative]
    summary = seed_summary(df)
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
