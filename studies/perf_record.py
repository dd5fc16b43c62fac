"""The performance record's Markdown and plot (``python -m studies.perf``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from studies.perf_cases import CLASS_COUNTS
from symmflow.outputs import write_atomic

def _interval(row, name: str) -> str:
    """``ratio_to_<name>`` as "median [low, high]"."""
    return f"{row[f'ratio_to_{name}']:.3f} [{row[f'ratio_to_{name}_low']:.3f}, {row[f'ratio_to_{name}_high']:.3f}]"


def _verdicts(rows, name: str) -> str:
    """How many rows met, missed or could not tell the target on ``name``: "12 met, 2 within the noise"."""
    counts = rows[f"verdict_{name}"].value_counts()
    return ", ".join(f"{counts[v]} {v}" for v in ("met", "within the noise", "missed") if v in counts)


def machine_text(row) -> str:
    """The machine of a record's provenance in brackets (cores, threads, instruction-set features,
    kernels, MKL / oneDNN; :func:`benchmarks.provenance.machine`), where the record names it."""
    machine = row.get("machine")
    return "" if machine is None or machine != machine else f" [{machine}]"


def perf_markdown(df, profiles: dict[str, str], rounds: int, warmup: int, targets: dict) -> str:
    """The performance record against the limit and the peers (``python -m studies.perf``)."""
    first = df.iloc[0]
    lines = ["# Performance against the limit and the peers", "",
             f"Commit {first['git_commit']}, {first['device']}{machine_text(first)}, {first['versions']}. Every "
             "contender timed in one "
             f"process, interleaved round by round, the order rotating; {rounds} rounds after {warmup} warm-up "
             "rounds (classification: 3 after 1), times as medians with the interquartile range as spread. A "
             "ratio is the median of the per-round ratios, with its bootstrap 95% interval in brackets; a target "
             "is *met* when the whole interval meets it, *missed* when the whole interval misses it, and "
             "*within the noise* otherwise (`benchmarks/timing.py`). Memory (`*peak_mib`): how far one more call "
             "raised the process's peak resident set (on a GPU: the memory allocated) above what it held before "
             "the call (MiB; the allocator's free memory handed back and the high-water mark reset first, "
             "`benchmarks/memory.py`). Command: `python -m studies.perf"
             + ("" if str(first["device"]).startswith("cpu") else " --device cuda") + "`.", ""]
    sampling = df[df["case"] == "sampling"]
    if len(sampling):
        view = sampling[[c for c in ("network", "method", "steps", "nfe", "symmflow_s", "limit_s", "flow_matching_s",
                                     "symmflow_peak_mib", "flow_matching_peak_mib", "skipped") if c in sampling]].copy()
        view.insert(7, "to the limit", [f"{_interval(r, 'limit')}: {r['verdict_limit']}"
                                        for _, r in sampling.iterrows()])
        summary = f"To the limit: {_verdicts(sampling, 'limit')}"
        if "ratio_to_flow_matching" in sampling:
            view.insert(8, "to flow_matching", [f"{_interval(r, 'flow_matching')}: {r['verdict_flow_matching']}"
                                                for _, r in sampling.iterrows()])
            summary += f"; to flow_matching: {_verdicts(sampling, 'flow_matching')}"
        lines += ["## Sampling", "",
                  f"`symmflow.solver.integrate` against NFE x one bare forward (the limit; target <= "
                  f"{targets['limit']}) and flow_matching's `ODESolver` on the same network and joint state "
                  f"(target <= {targets['flow_matching']}). {summary}.", "",
                  view.to_markdown(index=False, floatfmt=".4g"), ""]
    training = df[df["case"] == "training step"]
    if len(training):
        row = training.iloc[0]
        lines += ["## Training step", ""]
        if row["skipped"]:
            lines += [f"One SymmFlow step (eq. 3, the authors' channel label), {row['network']}, AdamW: "
                      f"{1000 * row['symmflow_s']:.1f} ms; torchcfm's step not measured: {row['skipped']}.", ""]
        else:
            lines += [f"One SymmFlow step (eq. 3, the authors' channel label) against one `torchcfm` "
                      f"`ConditionalFlowMatcher` step, {row['network']}, AdamW: {1000 * row['symmflow_s']:.1f} ms "
                      f"against {1000 * row['torchcfm_s']:.1f} ms, ratio {_interval(row, 'torchcfm')} (target <= "
                      f"{targets['torchcfm']}: {row['verdict_torchcfm']}); parameters "
                      f"{int(row['parameters_symmflow']):,} against {int(row['parameters_torchcfm']):,} (the label "
                      f"channel in and out); peak memory added "
                      f"{row['symmflow_peak_mib']:.0f} MiB against {row['torchcfm_peak_mib']:.0f} MiB.", ""]
        if "compiled_s" in training and row["compiled_s"] == row["compiled_s"]:  # measured (not NaN)
            lines += ["Speed switches of `TrainConfig` (`symmflow train --channels-last / --compile`), the same "
                      "SymmFlow step, interleaved with the rows above:", "",
                      "| step | median (ms) | against the eager step | pays (interval below 1)? |", "|---|---|---|---|",
                      f"| eager (NCHW) | {1000 * row['symmflow_s']:.1f} | 1.000 | |",
                      f"| channels-last weights | {1000 * row['channels_last_s']:.1f} | "
                      f"{_interval(row, 'eager_channels_last')} | {row['verdict_eager_channels_last']} |",
                      f"| torch.compile (inductor; compiling took {row['compile_s']:.0f} s) | "
                      f"{1000 * row['compiled_s']:.1f} | {_interval(row, 'eager_compiled')} | "
                      f"{row['verdict_eager_compiled']} |", ""]
        for name, table in profiles.items():
            clock = "CPU" if str(row["device"]).startswith("cpu") else "GPU"
            lines += [f"Profile of the {name} step (5 steps, self {clock} time):", "", "```", table.strip(), "```", ""]
    loop = df[df["case"] == "training loop"]
    if len(loop):
        row = loop.iloc[0]
        lines += ["## Training loop", "",
                  f"`symmflow.train.fit` (accelerate, the data stream, one-cycle schedule, EMA, loss logging) on "
                  f"the {row['network']}: {1000 * row['fit_step_s']:.1f} ms per step (marginal: the difference "
                  f"of two runs' wall times over their {int(row['steps'])} extra steps, so start-up does not "
                  f"count) against {1000 * row['bare_step_s']:.1f} ms for the bare step (forward, backward, "
                  f"AdamW), ratio {row['ratio_to_bare_step']:.3f}.", ""]
    classification = df[df["case"] == "classification"]
    if len(classification):
        one = classification[classification["method"] == "SymmFlow, 1 step"].iloc[0]
        view = classification[["method", "images", "nfe", "per_image_s", "per_image_iqr_s", "peak_mib"]].copy()
        view["speed-up of SymmFlow at 1 step"] = view["per_image_s"] / one["per_image_s"]
        view["NFE ratio"] = view["nfe"] / one["nfe"]
        view["speed-up / NFE ratio"] = view["speed-up of SymmFlow at 1 step"] / view["NFE ratio"]
        lines += ["## Classification against the Diffusion Classifier", "",
                  f"Per-image time and counted NFE on the same U-Net layout (target: speed-up >= "
                  f"{targets['nfe_ratio']} x the NFE ratio).", "", view.to_markdown(index=False, floatfmt=".4g"), ""]
    counts = df[df["case"] == "class count"]
    if len(counts):
        growth = []
        for method, group in counts.groupby("method", sort=False):
            first, last = group.iloc[0], group.iloc[-1]
            verdict = f": {last['verdict_growth']}" if isinstance(last.get("verdict_growth"), str) else ""
            growth.append(f"{method}: x{last['growth_median']:.3f} [{last['growth_low']:.3f}, "
                          f"{last['growth_high']:.3f}] in time{verdict}, NFE {first['nfe']:g} -> {last['nfe']:g} "
                          f"from {int(first['classes'])} to {int(last['classes'])} classes")
        view = counts[["method", "classes", "nfe", "per_image_s", "peak_mib"]]
        lines += ["## Cost against the number of classes", "",
                  "Times in one process, a task's class counts interleaved round by round; the growth is the "
                  "median of the per-round ratios of the most to the fewest classes, with its bootstrap 95% "
                  "interval. Memory and NFE from one fresh process per point (`benchmarks/footprint.py`). The "
                  "target: SymmFlow grows by < "
                  f"{targets['class_growth']:.0%} from 10 to 171 classes while the Diffusion Classifier grows "
                  "linearly. " + "; ".join(growth) + ".",
                  "", "![cost against classes](perf-classes.png)", "", view.to_markdown(index=False, floatfmt=".4g"),
                  ""]
    return "\n".join(lines)


def plot_class_count(rows: pd.DataFrame, path: Path) -> None:
    """Time per image and peak memory added against the number of classes, one line per method."""
    from matplotlib.figure import Figure

    from benchmarks.render.figures import png_bytes

    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for method, group in rows.groupby("method", sort=False):
        axes[0].plot(group["classes"], 1000 * group["per_image_s"], marker="o", label=method)
        axes[1].plot(group["classes"], group["peak_mib"], marker="o", label=method)
    axes[0].set(xscale="log", yscale="log", xlabel="classes", ylabel="ms per image", title="time")
    axes[1].set(xscale="log", xlabel="classes", ylabel="peak memory added (MiB)", title="memory")
    for ax in axes:
        ax.set_xticks(CLASS_COUNTS, [str(c) for c in CLASS_COUNTS])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    write_atomic(path, png_bytes(fig))


