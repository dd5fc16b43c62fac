"""The record of :mod:`studies.peak`: the machine's peak, each training step's FLOPs, time,
fraction of the peak and speed-up over fp32, against the targets, as Markdown."""

from __future__ import annotations


def _interval(value: float, low: float, high: float, digits: str = ".2f") -> str:
    return f"{value:{digits}} [{low:{digits}}, {high:{digits}}]"


def _verdict(verdict: str, wanted: bool) -> str:
    """A ratio's verdict (:meth:`benchmarks.timing.Ratio.verdict`) where a target applies, else a dash."""
    return verdict if wanted else "-"


def peak_markdown(record: dict) -> str:
    origin, targets, rows = record["provenance"], record["targets"], record["rows"]
    lines = ["# Training steps against the machine's own peak", "",
             "`python -m studies.peak` (each network's command and commit under Peak) -- every GEMM and training "
             f"step of one network timed in one process, interleaved round by round, {record['rounds']} rounds "
             f"after {record['warmup']} warm-up rounds; medians, with bootstrap 95% intervals of the per-round "
             "ratios in brackets. A step is forward (bf16 autocast at bf16), the squared error, backward and AdamW, "
             "the weights, gradients and optimiser state fp32. FLOPs: `torch.utils.flop_counter.FlopCounterMode` "
             "over forward and backward. The fraction of the peak is the step's FLOPs over its time against the "
             "same round's GEMM at that precision.", "",
             f"Machine: {origin['device']}; {origin['machine']}; {origin['versions']}.",
             "", *([record["note"], ""] if record.get("note") else []),
             f"Targets: every cpu-profile U-Net step at bf16 (what `auto` takes on this machine) >= "
             f"{targets['speed_up']:g}x faster than fp32; the authors'-size step >= {targets['fraction']:.0%} of the "
             "bf16 peak. A target is met where the whole interval meets it, missed where the whole interval "
             "misses it, else within the noise.", "",
             "## Peak", "", "| network's rounds | GEMM fp32 (GFLOP/s) | GEMM bf16 (GFLOP/s) | bf16 / fp32 | "
             "load at start / end | measured | command | commit |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        peak, size = row["peak_flops_s"], row["peak_gemm"]
        lines.append(f"| {row['network']} | {peak['fp32'] / 1e9:,.0f} ({size['fp32']}^2) | "
                     f"{peak['bf16'] / 1e9:,.0f} ({size['bf16']}^2) | {peak['bf16'] / peak['fp32']:.1f}x | "
                     f"{row['load_before']} / {row['load_after']} | {row.get('measured', '')} | "
                     f"`python -m studies.peak {' '.join(row.get('argv', []))}` | {row.get('git_commit', '')} |")
    lines += ["", "## Step times", "",
              "| network | GFLOP / step | step | median (ms) | IQR (ms) | fraction of its precision's peak | "
              "speed-up over fp32 | speed-up target | fraction target |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for key, step in row["steps"].items():
            fp32 = key == "fp32"
            lines.append(
                f"| {row['network']} | {row['flops'] / 1e9:.1f} | {key} | {step['median_s'] * 1e3:,.0f} | "
                f"{step['iqr_s'] * 1e3:,.0f} | "
                f"{_interval(step['fraction'] * 100, step['fraction_low'] * 100, step['fraction_high'] * 100, '.1f')}"
                " % | "
                f"{'-' if fp32 else _interval(step['speed_up'], step['speed_up_low'], step['speed_up_high'])} | "
                f"{_verdict(step['verdict_speed_up'], key == 'bf16' and row['cpu_profile'])} | "
                f"{_verdict(step['verdict_fraction'], key != 'fp32' and not row['cpu_profile'])} |")
        for variant, why in row.get("failed", {}).items():
            lines.append(f"| {row['network']} | | bf16 {variant}: failed ({why}) | | | | | | |")
        if row.get("compile_s") is not None:
            lines.append(f"| {row['network']} | | bf16 compiled: first call (compiling) | "
                         f"{row['compile_s'] * 1e3:,.0f} | | | | | |")
    lines += ["", "The speed-up target is judged on the plain bf16 step, what `--precision auto` trains with; the "
              "fraction target on every bf16 variant of the authors'-size step. A variant faster than the plain "
              "bf16 step is a candidate for the training loop; one that is not is recorded here as not helping.", ""]
    return "\n".join(lines)
