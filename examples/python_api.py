# %% [markdown]
# # SymmFlow from Python
#
# One model that segments images and synthesises images from masks: train a tiny one on a toy
# set (``symmflow.train_model``), load its folder, segment a batch (of any shapes) and synthesise
# images from the masks.
# Run as a script (``python examples/python_api.py --out /tmp/symmflow-example``) or cell by
# cell; docs/python-api.md describes the API.

# %%
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import symmflow


def toy_pair(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """An image of a bright rectangle on a dark, noisy background, and its mask (0 background, 1 rectangle)."""
    mask = np.zeros((height, width), np.uint8)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    mask[top:top + height // 2, left:left + width // 2] = 1
    image = np.where(mask[..., None] == 1, 220, 30) + rng.integers(-20, 20, (height, width, 3))
    return image.clip(0, 255).astype(np.uint8), mask


def main(out: Path, steps: int, size: int) -> dict:
    # %% 1. A toy data set as image files: images/ and masks/ named alike
    rng = np.random.default_rng(0)
    for i in range(16):
        image, mask = toy_pair(rng, 24, 24)
        for folder, pixels in (("images", image), ("masks", mask)):
            (out / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(out / folder / f"{i}.png")

    # %% 2. Train for a few steps (what `symmflow train` runs), a quarter of the pairs held out
    folder = symmflow.train_model(out / "images", out / "masks", out=out / "model", size=size, steps=steps,
                                  batch_size=8, base_channels=8, validation_split=0.25, device="cpu",
                                  progress=False, overwrite=True)  # overwrite: the cell can run again

    # %% 3. Load the folder: diffusers' layout (config.json, safetensors weights, the model card README.md)
    model = symmflow.load(folder, device="cpu")
    print(model, "held out:", model.settings["validation"])

    # %% 4. Segment a batch of new images, square and not: each mask comes back at its image's size
    pairs = [toy_pair(rng, h, w) for h, w in ((24, 24), (20, 36), (32, 16), (24, 24))]
    masks = model.segment([image for image, _ in pairs], steps=10, seed=0, batch_size=4)
    agreement = float(np.mean([(m.numpy() == truth).mean() for m, (_, truth) in zip(masks, pairs)]))
    print("mask shapes:", [tuple(m.shape) for m in masks], f"pixels agreeing with the truth: {agreement:.2f}")

    # %% 5. Synthesise images from those masks, at the masks' sizes, and write them
    images = model.synthesise(masks, steps=10, seed=0, batch_size=4)
    for i, x in enumerate(images):
        Image.fromarray(((x.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)).save(
            out / f"synthesised-{i}.png")
    print("synthesised:", [tuple(x.shape) for x in images])
    return {"masks": masks, "images": images, "agreement": agreement}


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Train a tiny SymmFlow model, then segment and synthesise through "
                                                 "the Python API.")
    parser.add_argument("--out", type=Path, default=None, help="Folder to write into (default: a temporary one).")
    parser.add_argument("--steps", type=int, default=300, help="Training steps.")
    parser.add_argument("--size", type=int, default=16, help="Side the model runs at (a multiple of 8).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        main(args.out or Path(scratch), args.steps, args.size)
