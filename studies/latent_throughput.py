"""The paper profile's latent SymmFlow training step at its real size: ``python -m
studies.latent_throughput --pretrained DIR --data-root DIR --device cuda --out DIR``.

The step the harness trains for Tables 2, 4 and 5 (:class:`~benchmarks.experiments.segsynth.SegSynthExperiment`
on the paper profile: VAE encoding of the images and masks, SD 2.1's U-Net widened to 8
channels, eq. 3, AdamW, bf16 autocast on a GPU) at the paper's per-GPU batch (32), on each data
set: samples/s (median of timed steps after a warm-up), peak device memory, whether the loss
stays finite in bf16, and the GPU-hours the published budgets would take at that speed (200
epochs of the standard training split: CelebAMask-HQ on 2 GPUs, COCO-Stuff on 4; notes section 6).
With the stand-ins of :mod:`studies.standins` the weights are random: these are speed and
memory, never quality.  Writes ``<out>/latent-throughput.{json,md}``.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.cells import RunOptions
from benchmarks.profiles import SEGSYNTH
from benchmarks.provenance import provenance
from symmflow.outputs import write_atomic
from symmflow.device import resolve_device
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell

TRAIN_IMAGES = {"CelebAMask-HQ": 24_183, "COCO-Stuff": 118_287}
"""The published training splits the budgets count epochs over (notes section 9)."""


def measure(dataset: str, pretrained: Path, data_root: Path, device: str, batch: int, steps: int,
            warmup: int, work: Path, resolution: int | None = None) -> dict:
    """Samples/s, peak memory and bf16 finiteness of the paper profile's SymmFlow step on
    ``dataset`` (at the profile's 512 px unless ``resolution`` says otherwise)."""
    from dataclasses import replace

    from benchmarks.experiments.segsynth import SegSynthExperiment

    settings = SEGSYNTH["paper"]
    settings = replace(settings, resolution=resolution or settings.resolution)
    options = RunOptions(profile="paper", device=device, out=work, data_root=data_root, pretrained=pretrained,
                         progress=False)
    experiment = SegSynthExperiment(dataset, settings, options)
    method = experiment.method("symmflow")
    torch.manual_seed(0)
    model = method.build().to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.budget.lr)
    bf16 = device.startswith("cuda") and settings.budget.mixed_precision == "bf16"
    batches = experiment.data.train_batches(0, batch, device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for step in range(warmup + steps):
        images, masks = next(batches)
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            loss = method.loss(model, (images, masks)).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)
        if step >= warmup:
            times.append(time.perf_counter() - start)
            losses.append(float(loss.detach()))
    per_step = statistics.median(times)
    rate = batch / per_step
    gpus = settings.latent["gpus"][dataset]
    samples = settings.latent["epochs"] * TRAIN_IMAGES[dataset]
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.startswith("cuda") else None
    return {"dataset": dataset, "device": device, "resolution": settings.resolution, "batch_per_gpu": batch,
            "bf16": bf16, "timed_steps": steps, "step_s": per_step, "samples_per_s": rate,
            "loss_finite": all(math.isfinite(v) for v in losses), "peak_memory_gib": peak,
            "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6, "published_gpus": gpus,
            "projected_gpu_hours": samples / rate / 3600, "projected_wall_hours": samples / rate / 3600 / gpus}


def markdown(rows: list[dict], origin: dict, command: str) -> str:
    lines = ["# The paper profile's latent training step at full size", "",
             f"Commit {origin['git_commit']}, {origin['device']}, {origin['versions']}. Command: `{command}`. "
             "Random-weight stand-ins of SD 2.1-base's U-Net and VAE (`python -m studies.standins`): speed and "
             "memory only.", "",
             "| data set | size (px) | batch / GPU | bf16 | step (s) | samples/s | peak memory (GiB) | loss finite | "
             "GPU-hours of 200 epochs | wall hours on the published GPUs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        memory = "n/a (cpu)" if r["peak_memory_gib"] is None else f"{r['peak_memory_gib']:.1f}"
        lines.append(f"| {r['dataset']} | {r['resolution']} | {r['batch_per_gpu']} | {r['bf16']} | {r['step_s']:.3f} | "
                     f"{r['samples_per_s']:.1f} | {memory} | {r['loss_finite']} | {r['projected_gpu_hours']:.0f} | "
                     f"{r['projected_wall_hours']:.0f} on {r['published_gpus']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    with CommandShell() as shell:
        p = OneLineParser(prog="python -m studies.latent_throughput", description=first_paragraph(__doc__))
        p.add_argument("--pretrained", type=Path, required=True, help="Stable Diffusion 2.1 folder (diffusers layout).")
        p.add_argument("--data-root", type=Path, required=True, help="Folder holding CelebAMask-HQ/ and COCO-Stuff/.")
        p.add_argument("--device", default="auto",
                       help="Device: auto (default: the GPU when there is one), cpu, cuda or cuda:N.")
        p.add_argument("--batch", type=int, default=32, help="Per-GPU batch (default 32, the paper's).")
        p.add_argument("--steps", type=int, default=20, help="Timed steps after the warm-up (default 20).")
        p.add_argument("--warmup", type=int, default=3, help="Untimed steps first (default 3).")
        p.add_argument("--datasets", default="CelebAMask-HQ,COCO-Stuff",
                       help="Data sets to time, comma-separated (default: CelebAMask-HQ,COCO-Stuff).")
        p.add_argument("--resolution", type=int, default=None, help="Image size (default: the profile's 512).")
        p.add_argument("--out", type=Path, default=Path("results/gpu"),
                       help="Folder the record goes to (default: results/gpu).")
        args = p.parse_args(argv)
        datasets = [d for d in args.datasets.split(",") if d]
        if not datasets or any(d not in TRAIN_IMAGES for d in datasets):
            raise UsageError(f"--datasets {args.datasets!r}: choose from {', '.join(TRAIN_IMAGES)}")
        if min(args.batch, args.steps) <= 0 or args.warmup < 0:
            raise UsageError("--batch and --steps must be positive and --warmup non-negative")
        device = resolve_device(args.device)
        from symmflow.models.latent import check_folder

        check_folder(args.pretrained)
    if shell.stopped:
        return shell.status
    rows = [measure(d, args.pretrained, args.data_root, device, args.batch, args.steps, args.warmup,
                    args.out / "latent-throughput-work", args.resolution) for d in datasets]
    origin = provenance(device)
    command = "python -m studies.latent_throughput " + " ".join(argv if argv is not None else sys.argv[1:])
    write_atomic(args.out / "latent-throughput.json", json.dumps({"rows": rows, "provenance": origin,
                                                                  "command": command}, indent=1))
    write_atomic(args.out / "latent-throughput.md", markdown(rows, origin, command))
    print(args.out / "latent-throughput.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
