"""The training steps against the machine's own peak: ``python -m studies.peak --out results/cpu``.

This machine's matmul peak at fp32 and at bf16 -- a large square GEMM (``--gemm`` sizes, the best
throughput of them), warmed up -- and, for the training step of each U-Net the harness trains on
the CPU (the cpu profile's MNIST U-Net, batch 64; its scene U-Net, batch 32; the authors'-size MNIST
U-Net of the gpu profile, batch 128), the step's FLOPs counted by
``torch.utils.flop_counter.FlopCounterMode`` (forward and backward) and its time at fp32 and at bf16
autocast (the weights and AdamW's state fp32, as :func:`symmflow.train.fit` trains), beside the
variants of the bf16 step asked for (``--variants``: channels-last, ``torch.compile`` with inductor,
a fused AdamW).  Every GEMM and step of one network is timed in one process, interleaved round by
round after a warm-up (:mod:`benchmarks.timing`), so each ratio is the median of per-round ratios
with a bootstrap 95% interval: the speed-up of bf16 over fp32, and the fraction of the peak a step
reaches (its FLOPs over its time, against the same round's GEMM).

Targets (issue 39): every cpu-profile U-Net step at ``auto`` (bf16 where native) >= 1.4x faster than
fp32; the authors'-size step >= 25% of the bf16 peak.  Writes ``<out>/perf-peak.{md,json}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

from benchmarks.provenance import provenance
from benchmarks.timing import interleaved, paired_ratio, wall_seconds
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.outputs import write_atomic

TARGETS = {"speed_up": 1.4, "fraction": 0.25}
"""bf16 over fp32 >= 1.4x on every cpu-profile U-Net step; the authors'-size step >= 25% of the bf16 peak."""
VARIANTS = ("channels_last", "compiled", "fused")
"""Variants of the bf16 step: channels-last weights and inputs, ``torch.compile`` (inductor), fused AdamW."""


def networks() -> dict[str, tuple]:
    """Name -> (U-Net config, channels in and out, batch, whether a cpu-profile network): the
    layouts and channel counts the harness trains (:mod:`benchmarks.profiles`)."""
    from benchmarks.profiles import CPU_UNET, SEGSYNTH
    from symmflow.data.scenes import NUM_CLASSES
    from symmflow.models.pixel_unet import MNIST_UNET

    return {"cpu MNIST U-Net (base 16), batch 64": (CPU_UNET, 2, 64, True),
            "cpu scene U-Net (base 32), batch 32": (SEGSYNTH["cpu"].unet, 3 + NUM_CLASSES, 32, True),
            "authors'-size MNIST U-Net (base 32), batch 128": (MNIST_UNET, 2, 128, False)}


def gemm(n: int, dtype: torch.dtype):
    """One ``n`` x ``n`` matmul at ``dtype`` as a call, and its FLOPs (2 n^3)."""
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=generator).to(dtype) for _ in range(2))
    return (lambda: torch.mm(a, b)), 2 * n ** 3


def training_step(config, channels: int, batch: int, precision: str, variant: str | None = None):
    """One training step of a U-Net of ``config`` on fixed inputs as a call: forward (under bf16
    autocast at ``bf16``) and the squared error against a target velocity, backward, AdamW -- the
    weights, gradients and optimiser state fp32.  ``variant``: one of :data:`VARIANTS`."""
    from symmflow.models.pixel_unet import pixel_unet

    torch.manual_seed(0)
    model = pixel_unet(config, channels, channels, 32).train()
    x, target, t = torch.randn(batch, channels, 32, 32), torch.randn(batch, channels, 32, 32), torch.rand(batch)
    if variant == "channels_last":
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=variant == "fused" or None)
    forward = torch.compile(model) if variant == "compiled" else model
    return optimiser_step(forward, optimizer, (x, t), {}, target, precision), model, (x, t)


def optimiser_step(forward, optimizer, inputs: tuple, extras: dict, target: torch.Tensor, precision: str):
    """One training step as a call: ``forward(*inputs, **extras).sample`` (under bf16 autocast at
    ``bf16``), the squared error against ``target``, backward, ``optimizer``'s step."""
    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = forward(*inputs, **extras).sample
        (out.float() - target).pow(2).mean().backward()
        optimizer.step()

    return step


def step_flops(config, channels: int, batch: int) -> int:
    """The FLOPs of one step's forward and backward (``FlopCounterMode``; AdamW's elementwise work
    is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    step, _, _ = training_step(config, channels, batch, "fp32")
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def load() -> str:
    """The 1-, 5- and 15-minute load averages, in words."""
    return "load averages " + " / ".join(f"{v:.2f}" for v in os.getloadavg())


def measure(name: str, spec: tuple, sizes: tuple[int, ...], variants: tuple[str, ...], rounds: int,
            warmup: int) -> dict:
    """One network's row: its FLOPs, the GEMMs and steps timed interleaved, the peak of each
    precision (the GEMM size of the best median throughput), each step's median and interquartile
    range, and the ratios with their intervals."""
    config, channels, batch, cpu_profile = spec
    contenders, flops = {}, {}
    for n in sizes:
        for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            contenders[f"gemm {precision} {n}"], flops[f"gemm {precision} {n}"] = gemm(n, dtype)
    steps = {"fp32": training_step(config, channels, batch, "fp32")[0],
             "bf16": training_step(config, channels, batch, "bf16")[0]}
    compile_s, failed = None, {}
    for variant in variants:
        steps[f"bf16 {variant}"] = training_step(config, channels, batch, "bf16", variant)[0]
        if variant == "compiled":  # the first call compiles forward and backward
            try:
                compile_s = wall_seconds(steps["bf16 compiled"], lambda: None)
            except Exception as error:  # a compiler that fails here is recorded, not fatal to the study
                failed[variant] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                del steps[f"bf16 {variant}"]
    contenders.update({f"step {k}": v for k, v in steps.items()})
    counted = step_flops(config, channels, batch)
    before = load()
    timed = interleaved(contenders, rounds, warmup)
    peaks = {}
    for precision in ("fp32", "bf16"):
        best = max(sizes, key=lambda n: flops[f"gemm {precision} {n}"] / timed[f"gemm {precision} {n}"].median_s)
        peaks[precision] = (best, flops[f"gemm {precision} {best}"] / timed[f"gemm {precision} {best}"].median_s)
    row = {"network": name, "measured": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpu_profile": cpu_profile,
           "batch": batch, "channels": channels, "flops": counted,
           "compile_s": compile_s, "failed": failed, "load_before": before, "load_after": load(),
           "peak_flops_s": {p: v for p, (_, v) in peaks.items()}, "peak_gemm": {p: n for p, (n, _) in peaks.items()},
           "gemm_s": {k: timed[k].median_s for k in contenders if k.startswith("gemm")}, "steps": {}}
    for key in steps:
        seconds = timed[f"step {key}"].seconds
        precision = "fp32" if key == "fp32" else "bf16"
        n = peaks[precision][0]
        gemm_s = timed[f"gemm {precision} {n}"].seconds
        ideal = [g * counted / flops[f"gemm {precision} {n}"] for g in gemm_s]  # the step's FLOPs at that round's peak
        over_peak = paired_ratio(seconds, ideal)  # step time / ideal time = 1 / fraction of the peak
        against_fp32 = paired_ratio(seconds, timed["step fp32"].seconds)  # < 1: faster than fp32
        row["steps"][key] = {"median_s": timed[f"step {key}"].median_s, "iqr_s": timed[f"step {key}"].iqr_s,
                             "fraction": 1 / over_peak.median, "fraction_low": 1 / over_peak.high,
                             "fraction_high": 1 / over_peak.low, "speed_up": 1 / against_fp32.median,
                             "speed_up_low": 1 / against_fp32.high, "speed_up_high": 1 / against_fp32.low,
                             "verdict_speed_up": against_fp32.verdict(1 / TARGETS["speed_up"]),
                             "verdict_fraction": over_peak.verdict(1 / TARGETS["fraction"])}
    return row


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m studies.peak", description=first_paragraph(__doc__))
    parser.add_argument("--out", type=Path, default=Path("results/cpu"),
                        help="Where perf-peak.{md,json} go (default results/cpu).")
    parser.add_argument("--rounds", type=int, default=15, help="Timed rounds after the warm-up (default 15).")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed rounds first (default 3).")
    parser.add_argument("--gemm", default="2048,4096", help="GEMM sizes, comma-separated (default 2048,4096).")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"Variants of the bf16 step, comma-separated from {', '.join(VARIANTS)}, or none "
                             "(default: all).")
    parser.add_argument("--only", default=None, metavar="WORDS",
                        help="Only the networks whose name holds WORDS (default: every network).")
    parser.add_argument("--note", default="", help="A sentence on the conditions of the run (e.g. other work).")
    try:
        args = parser.parse_args(argv)
        sizes = tuple(int(n) for n in args.gemm.split(",") if n.strip())
        variants = () if args.variants == "none" else tuple(v.strip() for v in args.variants.split(",") if v.strip())
        if set(variants) - set(VARIANTS) or args.rounds < 2 or args.warmup < 0 or not sizes or min(sizes) < 64:
            raise UsageError(f"--variants {args.variants} --rounds {args.rounds} --gemm {args.gemm}: choose variants "
                             f"from {', '.join(VARIANTS)}, at least 2 rounds and GEMM sizes from 64")
    except (UsageError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from studies.peak_record import peak_markdown

    origin = provenance("cpu")
    rows = [{**measure(name, spec, sizes, variants, args.rounds, args.warmup), "git_commit": origin["git_commit"],
             "argv": sys.argv[1:] if argv is None else list(argv)}
            for name, spec in networks().items() if args.only is None or args.only in name]
    earlier = args.out / "perf-peak.json"
    if args.only is not None and earlier.is_file():  # the networks not measured this time keep their rows
        measured = {row["network"] for row in rows}
        kept = [row for row in json.loads(earlier.read_text())["rows"] if row["network"] not in measured]
        rows = sorted(kept + rows, key=lambda row: list(networks()).index(row["network"]))
    record = {"provenance": origin, "rounds": args.rounds, "warmup": args.warmup, "targets": TARGETS,
              "note": args.note, "rows": rows}
    write_atomic(args.out / "perf-peak.json", json.dumps(record, indent=1, default=str))
    write_atomic(args.out / "perf-peak.md", peak_markdown(record))
    print(args.out / "perf-peak.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
