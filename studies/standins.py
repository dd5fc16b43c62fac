"""Stand-ins of what the paper profile reads, for measuring its code at full size where the real
files are absent: ``python -m studies.standins --out DIR [--scale sd21|tiny]``.

* ``DIR/sd21/``: a folder in diffusers layout -- ``unet/`` and ``vae/`` built from Stable
  Diffusion 2.1-base's published configs (the network of stable-diffusion-2-1 too, which the authors'
  latest code fine-tunes at 512 px: its config differs in the sample size; a 64x64x4 latent, cross-attention
  width 1024) with random weights, a one-layer text encoder of the right width and a tiny
  tokenizer (only the empty prompt is ever encoded);
* ``DIR/data/CelebAMask-HQ/`` and ``DIR/data/COCO-Stuff/``: synthetic images and masks in the
  published layouts (notes section 9) that the readers of :mod:`symmflow.data` open.

Random weights and synthetic data measure speed, memory and whether bf16 holds -- never quality;
nothing computed on them is a result of the paper's tables.  ``--scale tiny`` writes the same
layout at toy size (what the tests use).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell

SD21_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                 block_out_channels=(320, 640, 1280, 1280), attention_head_dim=(5, 10, 20, 20),
                 cross_attention_dim=1024, use_linear_projection=True, norm_num_groups=32)
"""stabilityai/stable-diffusion-2-1-base, unet/config.json (the fields that shape the network)."""
SD21_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                block_out_channels=(128, 256, 512, 512), norm_num_groups=32, sample_size=512, scaling_factor=0.18215)
"""stabilityai/stable-diffusion-2-1-base, vae/config.json."""
TINY_UNET = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                 down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                 up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), block_out_channels=(32, 64),
                 attention_head_dim=8, cross_attention_dim=32, norm_num_groups=32)
TINY_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
                down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                block_out_channels=(32, 32), norm_num_groups=32, sample_size=16, scaling_factor=0.18215)
SCALES = {"sd21": (SD21_UNET, SD21_VAE), "tiny": (TINY_UNET, TINY_VAE)}


def write_sd_folder(root: Path, scale: str = "sd21", in_channels: int = 4) -> Path:
    """A Stable Diffusion folder in diffusers layout with random weights (seed 0); ``in_channels``
    other than 4 writes a U-Net that is not Stable Diffusion's (to test that it is refused)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    unet, vae = SCALES[scale]
    root = Path(root)
    torch.manual_seed(0)
    UNet2DConditionModel(**{**unet, "in_channels": in_channels}).save_pretrained(root / "unet")
    AutoencoderKL(**vae).save_pretrained(root / "vae")
    width = unet["cross_attention_dim"]
    CLIPTextModel(CLIPTextConfig(vocab_size=50, hidden_size=width, intermediate_size=2 * width,
                                 num_attention_heads=max(1, width // 64), num_hidden_layers=1,
                                 max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                                 pad_token_id=1)).save_pretrained(root / "text_encoder")
    files = root / "tokenizer-files"
    files.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{c: i + 2 for i, c in enumerate("abcdefgh")}}
    (files / "vocab.json").write_text(json.dumps(vocab))
    (files / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(files / "vocab.json"), str(files / "merges.txt")).save_pretrained(root / "tokenizer")
    return root


def _png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


def _blobs(rng: np.random.Generator, size: int, ids: list[int]) -> np.ndarray:
    """A class map of a few rectangles of the given ids on id ``ids[0]``."""
    mask = np.full((size, size), ids[0], np.uint8)
    for k in ids[1:]:
        y, x = rng.integers(0, size // 2, 2)
        h, w = rng.integers(size // 8, size // 2, 2)
        mask[y:y + h, x:x + w] = k
    return mask


def write_celebamask(root: Path, count: int, size: int, seed: int = 0) -> Path:
    """CelebAMask-HQ's layout: CelebA-HQ-img/<i>.jpg, pre-merged CelebAMask-HQ-mask/<i>.png ids
    0-18 (background 0), and the standard split files (the last tenth validation, test alike)."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "CelebAMask-HQ"
    parts = []
    for i in range(count):
        mask = _blobs(rng, size, [0, *rng.choice(np.arange(1, 19), 4, replace=False).tolist()])
        _png(base / "CelebAMask-HQ-mask" / f"{i}.png", mask)
        _png(base / "CelebA-HQ-img" / f"{i}.jpg", (mask[..., None] * 13 + rng.integers(0, 30, (size, size, 3))) % 256)
        parts.append(0 if i < count * 0.8 else 1 if i < count * 0.9 else 2)
    (base / "CelebA-HQ-to-CelebA-mapping.txt").write_text(
        "idx orig_idx orig_file\n" + "".join(f"{i} {i} {i:06d}.jpg\n" for i in range(count)))
    (base / "list_eval_partition.txt").write_text("".join(f"{i:06d}.jpg {p}\n" for i, p in enumerate(parts)))
    return base


def write_cocostuff(root: Path, count: int, size: int, seed: int = 0) -> Path:
    """COCO-Stuff's layout: images/{train,val}2017/*.jpg and stuffthingmaps_trainval2017/ raw ids
    (0-181 with the unused ones skipped, 255 unlabelled); a tenth of the images for validation."""
    from symmflow.data.cocostuff import remap_table

    rng = np.random.default_rng(seed)
    used = [raw for raw, k in enumerate(remap_table()[:182]) if k != 255]
    base = Path(root) / "COCO-Stuff"
    for i in range(count):
        split = "val2017" if i % 10 == 9 else "train2017"
        mask = _blobs(rng, size, [255, *rng.choice(used, 4, replace=False).tolist()])
        _png(base / "stuffthingmaps_trainval2017" / split / f"{i:012d}.png", mask)
        _png(base / "images" / split / f"{i:012d}.jpg", (mask[..., None] + rng.integers(0, 30, (size, size, 3))) % 256)
    return base


def main(argv=None) -> int:
    with CommandShell() as shell:
        p = OneLineParser(prog="python -m studies.standins", description=first_paragraph(__doc__))
        p.add_argument("--out", type=Path, required=True, help="Folder to write sd21/ and data/ into.")
        p.add_argument("--scale", default="sd21", help="Sizes: sd21 (the published ones, default) or tiny.")
        p.add_argument("--images", type=int, default=64, help="Synthetic images per data set (default 64).")
        p.add_argument("--size", type=int, default=512, help="Their size in pixels (default 512).")
        args = p.parse_args(argv)
        if args.scale not in SCALES:
            raise UsageError(f"--scale {args.scale!r}: choose sd21 or tiny")
        if args.images < 10 or args.size < 8:
            raise UsageError(f"--images {args.images} --size {args.size}: use at least 10 images of 8 px")
    if shell.stopped:
        return shell.status
    print(write_sd_folder(args.out / "sd21", args.scale))
    print(write_celebamask(args.out / "data", args.images, args.size))
    print(write_cocostuff(args.out / "data", args.images, args.size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
