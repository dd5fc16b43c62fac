"""How a training step's cost grows with batch size and resolution: ``python -m studies.cost_growth
--out results/cpu``.

For the cpu profile's scene U-Net (:data:`benchmarks.profiles.SEGSYNTH`, 3 + classes channels) and
a stand-in of the paper's latent U-Net -- Stable Diffusion 2.1's U-Net layout (cross-attention
blocks, 8 channels in and out, the empty prompt's 77 tokens) at a tenth of its widths, since the
real one takes minutes a step here -- one training step (forward, the squared error, backward,
AdamW; bf16 autocast at bf16, the weights and optimiser state fp32) is timed at each batch size at
the base resolution and at each resolution at the base batch, every point of one network and
precision interleaved round by round with this machine's GEMM peak (:mod:`benchmarks.timing`),
its FLOPs counted by ``torch.utils.flop_counter``.

A straight line ``seconds = overhead + FLOPs / rate`` is fitted to each curve and extrapolated to
the steps the cost table prices (results/cost.json: the gpu profile's scene U-Net, the paper's SD
2.1 steps), beside what the cost table assumes -- time proportional to FLOPs at
:data:`studies.cost_table.UTILISATION` of the peak -- with that share of this machine's peak.
Writes ``<out>/cost-growth.{md,json}`` and ``<out>/cost-growth.png``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from studies.records import as_given, write_record
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell

LATENT_STANDIN = dict(sample_size=16, in_channels=8, out_channels=8, layers_per_block=2,
                      down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                      up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                      block_out_channels=(32, 64, 128, 128), attention_head_dim=8,
                      cross_attention_dim=1024, use_linear_projection=True, norm_num_groups=32)
"""SD 2.1's U-Net (:data:`studies.standins.SD21_UNET`) at a tenth of its widths, 8 channels in and out."""
NETWORKS = {"scene": "cpu scene U-Net (base 32)", "latent": "SD 2.1 U-Net layout at a tenth of its widths"}
SWEEPS = {"scene": {"base_size": 32, "base_batch": 8, "batches": (1, 2, 4, 8, 16, 32, 64), "sizes": (16, 32, 48, 64)},
          "latent": {"base_size": 16, "base_batch": 4, "batches": (1, 2, 4, 8, 16), "sizes": (8, 16, 24, 32)}}
"""Per network: the batch sizes timed at the base resolution and the resolutions (pixels; latent
pixels for the latent U-Net) timed at the base batch."""
PRICED = {"scene": (("cpu", "scenes"), ("gpu", "scenes")),
          "latent": (("paper", "CelebAMask-HQ"), ("paper", "COCO-Stuff"))}
"""The cost table's rows (profile, data set) each curve is extrapolated to."""


def network(kind: str) -> tuple[torch.nn.Module, int, dict]:
    """The network of ``kind``, its channels and the extra inputs of its forward."""
    if kind == "scene":
        from benchmarks.profiles import SEGSYNTH
        from symmflow.data.scenes import NUM_CLASSES
        from symmflow.models.pixel_unet import pixel_unet

        channels = 3 + NUM_CLASSES
        return pixel_unet(SEGSYNTH["cpu"].unet, channels, channels, 32), channels, {}
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**LATENT_STANDIN), 8, {"encoder_hidden_states": LATENT_STANDIN["cross_attention_dim"]}


def training_step(model: torch.nn.Module, channels: int, extras: dict, batch: int, size: int, precision: str):
    """One training step of ``model`` on fixed inputs of ``batch`` x ``channels`` x ``size``^2 as a call."""
    generator = torch.Generator().manual_seed(0)
    x, target = (torch.randn(batch, channels, size, size, generator=generator) for _ in range(2))
    t = torch.rand(batch, generator=generator)
    kwargs = {name: torch.randn(batch, 77, width, generator=generator) for name, width in extras.items()}
    from studies.peak import optimiser_step

    return optimiser_step(model, torch.optim.AdamW(model.parameters(), lr=1e-4), (x, t), kwargs, target, precision)


def along(points: list[dict], sweep: dict, by: str) -> list[dict]:
    """The points of ``sweep`` ``by`` batch (at its base resolution) or ``by`` size (at its base batch)."""
    if by == "batch":
        return [p for p in points if p["size"] == sweep["base_size"]]
    return [p for p in points if p["batch"] == sweep["base_batch"]]


def flops_of(step) -> int:
    """The FLOPs of one call of ``step`` (forward and backward; AdamW's elementwise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def fit(points: list[dict]) -> dict:
    """The least-squares line ``seconds = overhead_s + flops / rate`` through ``points`` and its
    largest relative residual."""
    flops = np.array([p["flops"] for p in points], dtype=float)
    seconds = np.array([p["median_s"] for p in points])
    slope, overhead = np.polyfit(flops, seconds, 1)
    residual = np.abs(overhead + slope * flops - seconds) / seconds
    return {"overhead_s": float(overhead), "rate_flops_s": float(1 / slope), "max_residual": float(residual.max())}


def measure(kind: str, precision: str, rounds: int, warmup: int, sweep: dict | None = None) -> dict:
    """Every point of the ``kind`` network's two sweeps (``sweep``, default :data:`SWEEPS`) at
    ``precision``, timed interleaved beside the GEMM peak at that precision, and each sweep's fitted line."""
    from benchmarks.timing import interleaved
    from studies.peak import gemm
    from symmflow.threads import cores_held

    torch.manual_seed(0)
    model, channels, extras = network(kind)
    sweep = SWEEPS[kind] if sweep is None else sweep
    shapes = sorted({*((b, sweep["base_size"]) for b in sweep["batches"]),
                     *((sweep["base_batch"], s) for s in sweep["sizes"])})
    steps = {f"batch {b}, {s} px": training_step(model, channels, extras, b, s, precision) for b, s in shapes}
    flops = {name: flops_of(step) for name, step in steps.items()}
    peak_call, peak_flops = gemm(2048, torch.bfloat16 if precision == "bf16" else torch.float32)
    held, load = [cores_held()], [os.getloadavg()[0]]
    timed = interleaved({"gemm": peak_call, **steps}, rounds, warmup)
    held.append(cores_held())
    load.append(os.getloadavg()[0])
    points = [{"batch": b, "size": s, "flops": flops[f"batch {b}, {s} px"],
               "median_s": timed[f"batch {b}, {s} px"].median_s, "iqr_s": timed[f"batch {b}, {s} px"].iqr_s}
              for b, s in shapes]
    return {"network": NETWORKS[kind], "kind": kind, "precision": precision, "peak_flops_s": peak_flops /
            timed["gemm"].median_s, "parameters": sum(p.numel() for p in model.parameters()), "points": points,
            "sweep": sweep, "fit_batch": fit(along(points, sweep, "batch")),
            "fit_size": fit(along(points, sweep, "size")), "other_cores_held": held, "load_average": load,
            "measured": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def extrapolations(row: dict, priced: list[dict], utilisation: float) -> list[dict]:
    """Each cost-table step of the row's network: the fitted lines' seconds at its FLOPs against the
    cost table's assumption (its FLOPs at ``utilisation`` of this machine's peak)."""
    out = []
    for profile, dataset in PRICED[row["kind"]]:
        found = next((r for r in priced if r["profile"] == profile and r["dataset"] == dataset), None)
        if found is None:
            continue
        flops = found["train_step_flops"]
        assumed = flops / (utilisation * row["peak_flops_s"])
        line = {key: row[key]["overhead_s"] + flops / row[key]["rate_flops_s"] for key in ("fit_batch", "fit_size")}
        out.append({"profile": profile, "dataset": dataset, "network": found["network"],
                    "batch": found["global_batch"], "flops": flops, "assumed_s": assumed,
                    **{f"{key}_s": seconds for key, seconds in line.items()},
                    "batch_over_assumed": line["fit_batch"] / assumed, "size_over_assumed": line["fit_size"] / assumed})
    return out


def plot(rows: list[dict], path: Path) -> None:
    """Seconds per step against FLOPs per step, each curve with its fitted line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len({r["kind"] for r in rows}), figsize=(11, 4.2), squeeze=False)
    for ax, kind in zip(axes[0], dict.fromkeys(r["kind"] for r in rows)):
        for row in (r for r in rows if r["kind"] == kind):
            for by, key, marker in (("batch", "fit_batch", "o"), ("size", "fit_size", "s")):
                chosen = along(row["points"], row["sweep"], by)
                x = np.array([p["flops"] for p in chosen]) / 1e9
                line = ax.plot(x, [p["median_s"] * 1e3 for p in chosen], marker, label=f"{row['precision']}, by {by}")
                grid = np.linspace(0, x.max(), 50)
                fitted = (row[key]["overhead_s"] + grid * 1e9 / row[key]["rate_flops_s"]) * 1e3
                ax.plot(grid, fitted, "-", color=line[0].get_color(), alpha=0.5)
        ax.set(title=NETWORKS[kind], xlabel="GFLOP per training step", ylabel="ms per step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m studies.cost_growth", description=first_paragraph(__doc__))
    parser.add_argument("--out", type=Path, default=Path("results/cpu"),
                        help="Where cost-growth.{md,json,png} go (default results/cpu).")
    parser.add_argument("--precisions", default="fp32,bf16", help="Precisions timed, comma-separated (default both).")
    parser.add_argument("--networks", default="scene,latent", help="Networks timed, comma-separated (default both).")
    parser.add_argument("--rounds", type=int, default=9, help="Timed rounds after the warm-up (default 9).")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed rounds first (default 2).")
    parser.add_argument("--cost", type=Path, default=Path("results/cost.json"),
                        help="The cost table's record the curves are extrapolated to (default results/cost.json).")
    with CommandShell() as shell:
        args = parser.parse_args(argv)
        precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
        kinds = [k.strip() for k in args.networks.split(",") if k.strip()]
        if set(precisions) - {"fp32", "bf16"} or not precisions or set(kinds) - set(NETWORKS) or not kinds:
            raise UsageError(f"--precisions {args.precisions} --networks {args.networks}: choose precisions from "
                             f"fp32, bf16 and networks from {', '.join(NETWORKS)}")
        if args.rounds < 2 or args.warmup < 0:
            raise UsageError(f"--rounds {args.rounds} --warmup {args.warmup}: at least 2 rounds, no negative warm-up")
        if not args.cost.is_file():
            raise UsageError(f"{args.cost} not found: pass --cost with the cost table's record "
                             "(python -m studies.cost_table --out results writes results/cost.json)")
        priced = json.loads(args.cost.read_text())
    if shell.stopped:
        return shell.status
    from benchmarks.provenance import provenance
    from studies.cost_growth_record import markdown
    from studies.cost_table import UTILISATION
    from tqdm import tqdm

    rows = []
    for kind, precision in tqdm([(k, p) for k in kinds for p in precisions], desc="cost growth"):
        row = measure(kind, precision, args.rounds, args.warmup)
        rows.append({**row, "extrapolations": extrapolations(row, priced, UTILISATION)})
    record = {"provenance": provenance("cpu"), "command": as_given("studies.cost_growth", argv),
              "rounds": args.rounds, "warmup": args.warmup, "utilisation": UTILISATION,
              "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, args.out / "cost-growth.png")
    return write_record(args.out, "cost-growth", record, markdown(record))


if __name__ == "__main__":
    sys.exit(main())
