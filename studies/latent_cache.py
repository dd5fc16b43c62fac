"""Cached image latents against the authors' per-step encoding: ``python -m studies.latent_cache
--out DIR [--size 64] [--batch 2] [--rounds 7] [--draws 200]``.

On the Stable Diffusion 2.1-base-sized stand-ins of :mod:`studies.standins` (random weights, a
square CelebAMask-HQ layout at ``--size`` px, so that every training crop is fixed), the paper
profile's latent SymmFlow training step (eq. 3, AdamW) is timed both ways in one process,
interleaved round by round after a warm-up:

* per-step encoding -- the image encoded by a sample of the VAE posterior inside the step, as
  the authors' training does;
* cached -- the image latent drawn from its stored posterior (:mod:`symmflow.latent_cache`).

Masks are encoded inside the step both ways (their latent follows per-step noise), so the
time of encoding them alone is measured beside, with the image's: what caching masks would
save if their dequantisation noise were given up.  The two paths' loss distributions on one
fixed batch are compared too (``--draws`` losses each, the same network, no update): equal
means within the sampling error is what "the same distribution" predicts.  Writes
``<out>/latent-cache.{json,md}``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from studies.records import as_given, write_record
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell


def measure(size: int, batch: int, rounds: int, warmup: int, draws: int, work: Path, device: str = "cpu",
            scale: str = "sd21") -> dict:
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    from benchmarks.cells import RunOptions
    from benchmarks.experiments.segsynth import SegSynthExperiment
    from benchmarks.profiles import SEGSYNTH
    from benchmarks.timing import interleaved, paired_ratio, synchronizer, wall_seconds
    from studies.standins import write_celebamask, write_sd_folder
    from symmflow import latent_cache

    write_sd_folder(work / "sd21", scale)
    write_celebamask(work / "data", count=max(10, 2 * batch), size=size)  # 80% training faces
    settings = replace(SEGSYNTH["paper"], datasets=("CelebAMask-HQ",), resolution=size)
    options = RunOptions(profile="paper", device=device, out=work, data_root=work / "data",
                         pretrained=work / "sd21", progress=False)
    experiment = SegSynthExperiment("CelebAMask-HQ", settings, options)
    method, space, pairs = experiment.method("symmflow"), experiment.problem.space, experiment.data.train
    images, masks = (torch.stack(parts).to(device) for parts in zip(*(pairs[i] for i in range(batch))))
    moments = torch.from_numpy(latent_cache.load(latent_cache.build(pairs, space.vae, work / "cache.npy", batch,
                                                                    device, False), len(pairs))[:batch].copy())

    def cached_latents():
        return DiagonalGaussianDistribution(moments.to(device)).sample() * space.scale

    torch.manual_seed(0)
    model = method.build().to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.budget.lr)

    def step(x):
        loss = method.loss(model, (x, masks)).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    timed = interleaved({"per-step encoding": lambda: step(images), "cached": lambda: step(cached_latents())},
                        rounds=rounds, warmup=warmup, device=device)
    ratio = paired_ratio(timed["cached"].seconds, timed["per-step encoding"].seconds)
    synchronize = synchronizer(device)
    encode_image = statistics.median(wall_seconds(lambda: space.encode_image(images), synchronize)
                                     for _ in range(rounds))
    encode_masks = statistics.median(wall_seconds(lambda: space.mask_codec.encode(masks), synchronize)
                                     for _ in range(rounds))
    model.eval()
    with torch.no_grad():
        losses = {"per-step encoding": [float(method.loss(model, (images, masks)).total) for _ in range(draws)],
                  "cached": [float(method.loss(model, (cached_latents(), masks)).total) for _ in range(draws)]}
    means = {k: statistics.fmean(v) for k, v in losses.items()}
    errors = {k: statistics.stdev(v) / len(v) ** 0.5 for k, v in losses.items()}
    gap = means["cached"] - means["per-step encoding"]
    return {"scale": scale, "size": size, "batch": batch, "rounds": rounds, "warmup": warmup, "draws": draws,
            "step_s": {k: t.median_s for k, t in timed.items()},
            "ratio_median": ratio.median, "ratio_low": ratio.low, "ratio_high": ratio.high,
            "encode_images_s": encode_image, "encode_masks_s": encode_masks,
            "loss_mean": means, "loss_se": errors, "loss_gap": gap,
            "loss_gap_in_se": gap / (errors["cached"] ** 2 + errors["per-step encoding"] ** 2) ** 0.5}


def markdown(r: dict, origin: dict, command: str) -> str:
    per_step, cached = r["step_s"]["per-step encoding"], r["step_s"]["cached"]
    mean, se = r["loss_mean"], r["loss_se"]
    return "\n".join([
        "# Cached image latents against per-step encoding", "",
        f"Commit {origin['git_commit']}, {origin['device']}. Command: `{command}`. The paper profile's latent SymmFlow "
        f"training step (eq. 3, AdamW, float32) on random-weight stand-ins of "
        f"{'Stable Diffusion 2.1-base' if r['scale'] == 'sd21' else 'a toy-size Stable Diffusion'}'s U-Net and VAE "
        f"(`python -m studies.standins`), {r['size']} px images, batch {r['batch']}; medians of {r['rounds']} rounds "
        f"after {r['warmup']} warm-up, the two ways interleaved in one process.", "",
        "| measure | value |", "|---|---|",
        f"| training step, per-step encoding (the authors') | {per_step:.3f} s |",
        f"| training step, cached image latents (`--cache-latents`) | {cached:.3f} s |",
        f"| cached over per-step, per-round ratios (95% bootstrap interval) | **{r['ratio_median']:.3f}** "
        f"({r['ratio_low']:.3f} - {r['ratio_high']:.3f}) |",
        f"| encoding the batch's images alone: what the cache saves | {r['encode_images_s']:.3f} s |",
        f"| encoding the batch's masks alone: kept every step | {r['encode_masks_s']:.3f} s |",
        f"| loss on one fixed batch, per-step encoding ({r['draws']} draws, mean +- standard error) | "
        f"{mean['per-step encoding']:.5f} +- {se['per-step encoding']:.5f} |",
        f"| loss on the same batch, cached image latents | {mean['cached']:.5f} +- {se['cached']:.5f} |",
        f"| their difference, in standard errors | {r['loss_gap_in_se']:+.2f} |", "",
        "The masks stay encoded every step: their latent is the posterior's mode of the palette image after "
        "per-step dequantisation noise, which stored moments cannot reproduce; caching them too would save the "
        "mask row's time at the cost of that noise. The losses compare the two paths' distributions (the same "
        "network, no update): the same distribution predicts a difference within about two standard errors.", ""])


def main(argv=None) -> int:
    from benchmarks.provenance import provenance

    with CommandShell() as shell:
        p = OneLineParser(prog="python -m studies.latent_cache", description=first_paragraph(__doc__))
        p.add_argument("--out", type=Path, required=True, help="Where latent-cache.{json,md} go.")
        p.add_argument("--size", type=int, default=64, help="Image size in px, a multiple of 8 (default 64).")
        p.add_argument("--batch", type=int, default=2, help="Images per step (default 2).")
        p.add_argument("--rounds", type=int, default=7, help="Timed rounds of each way (default 7).")
        p.add_argument("--warmup", type=int, default=2, help="Untimed rounds first (default 2).")
        p.add_argument("--draws", type=int, default=200, help="Losses per way on the fixed batch (default 200).")
        p.add_argument("--device", default="cpu", help="Device of the stand-ins: cpu (default), cuda or cuda:N.")
        p.add_argument("--scale", default="sd21", choices=("sd21", "tiny"),
                       help="The stand-ins' size: Stable Diffusion 2.1-base's (default) or a toy's (the tests).")
        args = p.parse_args(argv)
        if args.size < 8 or args.size % 8:
            raise UsageError(f"--size {args.size}: use a multiple of 8 (the VAE downsamples by 8), e.g. --size 64")
        for name, least in (("batch", 1), ("rounds", 2), ("draws", 2), ("warmup", 0)):
            if getattr(args, name) < least:
                raise UsageError(f"--{name} {getattr(args, name)}: use at least {least}")
        if not args.out.is_dir():
            raise UsageError(f"--out {args.out}: not a folder; create it or pass another")
    if shell.stopped:
        return shell.status
    with tempfile.TemporaryDirectory() as work:
        record = measure(args.size, args.batch, args.rounds, args.warmup, args.draws, Path(work), args.device,
                         args.scale)
    origin = provenance(args.device)
    command = as_given("studies.latent_cache", argv)
    return write_record(args.out, "latent-cache", {**record, "provenance": origin, "command": command},
                        markdown(record, origin, command), print_markdown=True)


if __name__ == "__main__":
    sys.exit(main())
