"""One process of a scale-check launch (``python -m studies.scale_check worker ...``): a tiny
network on the latent path -- SymmFlow's velocity over the 8-channel concatenation of a 4-channel
image latent and a 4-channel mask latent (reference notes section 6), image weight 0.7, AdamW with a
one-cycle schedule and an EMA -- trained through the harness's model cache on a global batch of 16
for ceil(200 / 16) steps an epoch (notes section 11), the path's noise keyed by each sample's place
in its global batch."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch

from symmflow.errors import Terminated, terminated
from symmflow.outputs import write_atomic

ROWS, SIZE, LATENT, GLOBAL_BATCH, SEED = 200, 8, 4, 16, 0
"""Training rows, latent side, channels of each latent, the global batch, the seed."""


def _network():
    from benchmarks.profiles import SEGSYNTH
    from symmflow.method import SymmFlow
    from symmflow.models.pixel_unet import UNetConfig, pixel_unet

    settings = SEGSYNTH["paper"].symmflow  # the latent profile's SymmFlow: image weight 0.7
    unet = UNetConfig(base_channels=8, multipliers=(1, 2), layers_per_block=1, head_channels=8, norm_groups=4)
    return settings, unet, lambda: SymmFlow(settings).velocity(pixel_unet(unet, 2 * LATENT, 2 * LATENT, SIZE),
                                                              LATENT)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    """Stand-in image latents and mask latents (the mask a function of the image, so there is
    something to learn)."""
    generator = torch.Generator().manual_seed(SEED)
    images = torch.randn(ROWS, LATENT, SIZE, SIZE, generator=generator)
    return images, torch.tanh(images.flip(1) + 0.3 * torch.randn(images.shape, generator=generator))


def _with_noise(stream, split, shard):
    """The stream's micro-batches with the path's noise (t, eps_x, eps_y) drawn per global batch
    and cut as its rows are: each sample's noise is the same on every launch; and the global
    batch's number, where a pause is keyed."""
    from symmflow.data.streams import micro_batches

    rows = micro_batches(split.per_device, shard, split.accumulation)
    for k, (images, masks) in enumerate(stream):
        number, micro = divmod(k, split.accumulation)
        generator = torch.Generator().manual_seed(1_000_003 * (SEED + 1) + number)
        t = torch.rand(split.global_batch, generator=generator)
        eps_x = torch.randn(split.global_batch, *images.shape[1:], generator=generator)
        eps_y = torch.randn(split.global_batch, *masks.shape[1:], generator=generator)
        mine = rows[micro]
        yield images, masks, t[mine], eps_x[mine], eps_y[mine], number


def worker(case: Path, epochs: int, per_device: int | None, accumulation: int | None, pause_at: int) -> int:
    """Train the network of this study as one process of a launch and, on the main one, write
    ``case/result.json`` and ``case/weights.pt``; SIGTERM ends it with status 143."""
    from benchmarks.trained import trained_model
    from symmflow.batching import plan
    from symmflow.data.streams import epoch_batches
    from symmflow.distributed import close, gather, launched
    from symmflow.path import LossParts, SymmetricPath
    from symmflow.train import TrainConfig

    torch.set_num_threads(1)
    shard = launched()
    settings, unet, build = _network()
    path = SymmetricPath(settings.sigma_min, settings.image_weight)
    split = plan(GLOBAL_BATCH, shard.count, per_device, accumulation)
    steps = epochs * -(-ROWS // GLOBAL_BATCH)
    config = TrainConfig(steps=steps, lr=5e-3, batch_size=GLOBAL_BATCH, schedule="onecycle", warmup_steps=3,
                         ema_decay=0.9, log_every=1)
    seen = [0]

    def loss(model, batch):
        images, masks, t, eps_x, eps_y, number = batch
        if number + 1 == pause_at:  # the first micro-batch of that step: time for a signal to arrive
            if shard.is_main:
                print("paused", flush=True)
            time.sleep(2.0)
        seen[0] += len(images)
        p = path.sample(images, masks, t, eps_x, eps_y)
        pred_x, pred_y = model(p.x_t, p.y_t, t)
        x_err = ((pred_x - p.v_x) ** 2).flatten(1).mean(1)
        y_err = ((pred_y - p.v_y) ** 2).flatten(1).mean(1)
        w = settings.image_weight
        return LossParts((w * x_err + (1 - w) * y_err).mean(), x_err.mean(), y_err.mean())

    images, masks = _data()
    identity = {"study": "scale-check", "data": {"rows": ROWS, "size": SIZE, "seed": SEED}, "network": asdict(unet),
                "settings": settings}
    try:
        trained = trained_model(
            "scale-check", identity, build, loss,
            lambda: _with_noise(epoch_batches(images, masks, batch_size=split.per_device, seed=SEED + 1, shard=shard,
                                              accumulation=split.accumulation), split, shard),
            config, case, seed=SEED, progress=False, shard=shard, plan=split)
    except Terminated as why:
        return terminated(str(why))
    samples = sum(gather([seen[0]], shard))
    places = gather([{"rank": shard.index, "node_rank": int(os.environ.get("GROUP_RANK", 0))}], shard)
    if shard.is_main:
        folder = next(p for p in (case / "checkpoints").iterdir() if p.is_dir() and not p.name.endswith(".run"))
        torch.save({k: v.detach().clone() for k, v in trained.model.state_dict().items()}, case / "weights.pt")
        write_atomic(case / "result.json", json.dumps({
            **split.record(), "steps": len(trained.stats), "planned_steps": steps,
            "losses": [r["loss"] for r in trained.stats], "samples_this_part": samples, "identity": folder.name,
            "processes_where": places, "train_s": trained.train_s}))
    close(shard)
    return 0
