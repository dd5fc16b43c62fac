"""A table as Markdown (tableN.md): its profile, seeds, solver, precision, commits and devices, the
reproduced values over seeds beside the published ones, the training wall time, what the claims
and the sanity ladder say, the notes, the study records it could not show, and the rows quoted from
the paper."""

from __future__ import annotations

import pandas as pd

from benchmarks.cells import RunOptions
from benchmarks.claims import claims_notes
from benchmarks.precision import deviation_text
from benchmarks.render.entries import fmt, fmt_like, mean_sd, steps_text
from benchmarks.render.notes import ladder_lines
from benchmarks.render.summary import seed_summary


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
             notes: str = "", claims: tuple = (), ladder: tuple[dict, set] = ({}, set()),
             summary: pd.DataFrame | None = None, not_shown: tuple[str, ...] = ()) -> str:
    """The table's page: ``summary`` is ``df``'s over the seeds (computed here where not given), and
    ``not_shown`` a line for each study record the table reads that is missing or unreadable."""
    summary = seed_summary(df) if summary is None else summary
    spec_name = str(df["table"].iloc[0])
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
    if not_shown:
        lines += [*not_shown, ""]
    if quoted is not None and len(quoted):
        lines += ["Quoted from the paper (not re-run here):", "",
                  quoted.to_markdown(index=False, disable_numparse=True), ""]
    return "\n".join(lines)
