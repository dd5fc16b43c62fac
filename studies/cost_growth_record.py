"""The record of :mod:`studies.cost_growth`: each curve's points, its fitted line, and the line
extrapolated to the cost table's steps beside the cost table's assumption."""

from __future__ import annotations


def _si(value: float, unit: str) -> str:
    """``value`` with a G/T/P prefix."""
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _seconds(value: float) -> str:
    """Seconds in words a reader compares at a glance (ms below a second, hours above one)."""
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    if value < 3600:
        return f"{value:,.1f} s"
    return f"{value / 3600:,.1f} h"


def markdown(record: dict) -> str:
    """The record as Markdown."""
    origin, rows = record["provenance"], record["rows"]
    held = [c for row in rows for c in row["other_cores_held"]]
    load = [a for row in rows for a in row["load_average"]]
    lines = ["# How a training step's cost grows", "",
             f"`{record['command']}` -- each network's training step (forward, squared error, backward, AdamW; bf16 "
             "autocast at bf16, the weights and optimiser state fp32) at every batch size at the base resolution and "
             "every resolution at the base batch, the points of one network and precision timed in one process, "
             f"interleaved round by round with a 2048^2 GEMM at that precision; {record['rounds']} rounds after "
             f"{record['warmup']} warm-up, medians. FLOPs: `torch.utils.flop_counter.FlopCounterMode` over forward and "
             "backward.", "",
             f"Machine: {origin['device']}; {origin['machine']}; {origin['versions']}; commit "
             f"{origin.get('git_commit', '?')}. Other work of the study's priority held "
             f"{min(held):.2f} to {max(held):.2f} cores at the start and end of each network's rounds; 1-minute load "
             f"averages (the study's own threads counted) {min(load):.2f} to {max(load):.2f}.", "",
             "## Points", "",
             "| network | precision | batch | resolution (px) | GFLOP / step | median (ms) | IQR (ms) | "
             "GFLOP/s | of the GEMM peak |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for p in row["points"]:
            rate = p["flops"] / p["median_s"]
            lines.append(f"| {row['network']} | {row['precision']} | {p['batch']} | {p['size']} | "
                         f"{p['flops'] / 1e9:.2f} | {p['median_s'] * 1e3:.1f} | {p['iqr_s'] * 1e3:.1f} | "
                         f"{rate / 1e9:.0f} | {100 * rate / row['peak_flops_s']:.1f} % |")
    lines += ["", "## Fitted lines", "",
              "`seconds = overhead + FLOPs / rate`, least squares over each sweep's points; the largest residual is "
              "relative to the point's median.", "",
              "| network | precision | parameters | GEMM peak (GFLOP/s) | sweep | overhead (ms) | rate (GFLOP/s) | "
              "rate / peak | largest residual |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for key, sweep in (("fit_batch", "batch"), ("fit_size", "resolution")):
            f = row[key]
            lines.append(f"| {row['network']} | {row['precision']} | {row['parameters'] / 1e6:.2f} M | "
                         f"{row['peak_flops_s'] / 1e9:,.0f} | {sweep} | {f['overhead_s'] * 1e3:.1f} | "
                         f"{f['rate_flops_s'] / 1e9:,.0f} | {100 * f['rate_flops_s'] / row['peak_flops_s']:.1f} % | "
                         f"{100 * f['max_residual']:.1f} % |")
    share = record["utilisation"]
    lines += ["", "## Extrapolated to the cost table's steps", "",
              "Each line at the FLOPs of one training step the cost table prices (results/cost.json), against the "
              f"cost table's assumption -- time proportional to FLOPs at {share:.0%} of the peak -- taken on this "
              f"machine (its FLOPs over {share:.0%} of the GEMM peak measured beside the curve). A ratio above 1: the "
              "line says the step costs more than the assumption does.", "",
              "| network (timed) | precision | cost-table step | its batch | its FLOPs | by the batch line | "
              "by the resolution line | the assumption | batch line / assumption | resolution line / assumption |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for e in row["extrapolations"]:
            lines.append(f"| {row['network']} | {row['precision']} | {e['profile']} {e['dataset']}: {e['network']} | "
                         f"{e['batch']} | {_si(e['flops'], 'FLOP')} | {_seconds(e['fit_batch_s'])} | "
                         f"{_seconds(e['fit_size_s'])} | {_seconds(e['assumed_s'])} | {e['batch_over_assumed']:.2f} | "
                         f"{e['size_over_assumed']:.2f} |")
    lines += ["", "![seconds per step against FLOPs per step](cost-growth.png)", ""]
    return "\n".join(lines)
