"""Image grids: rows of labelled tiles as one PNG, the one helper every sample grid is drawn with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from benchmarks.render.figures import png_bytes
from symmflow.outputs import write_atomic
from symmflow.images import to_uint8


def grid_png(rows: list[tuple[str, np.ndarray]], tile_inches: float = 1.0) -> bytes:
    """Rows of equally sized tiles (uint8 (N, H, W, 3) or (N, H, W, 1)), each labelled on its left."""
    from matplotlib.figure import Figure

    n = max(len(tiles) for _, tiles in rows)
    labelled = any(name for name, _ in rows)
    fig = Figure(figsize=(tile_inches * n + (1.5 if labelled else 0.0), 1.1 * tile_inches * len(rows)))
    axes = fig.subplots(len(rows), 1, squeeze=False)
    for ax, (name, tiles) in zip(axes[:, 0], rows):
        strip = np.concatenate(list(tiles), 1)
        ax.imshow(strip[..., 0] if strip.shape[-1] == 1 else strip, cmap="gray", vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    return png_bytes(fig, dpi=100)


def image_tiles(images: Tensor) -> np.ndarray:
    """Images in [-1, 1] (N, C, H, W) as uint8 tiles (N, H, W, C)."""
    return to_uint8(images).numpy()


def mask_tiles(palette, masks: Tensor) -> np.ndarray:
    """Class maps (N, H, W) in their palette colours, uint8 (N, H, W, 3)."""
    return palette.colour_pixels(masks.cpu()).numpy()


def save_grid(path: Path, rows: list[tuple[str, np.ndarray]], tile_inches: float = 1.0) -> Path:
    write_atomic(path, grid_png(rows, tile_inches))
    return path


def preview(grid: str, rows: list[tuple[str, np.ndarray]], tile_inches: float = 1.0) -> dict:
    """What a measurement hands rendering (``preview`` of its result): labelled rows of uint8
    tiles of the grid ``samples/<grid>.png``.  Rows of one label are drawn once, from the first
    cell that has them, so cells that share a grid may repeat its common rows."""
    return {"grid": grid, "rows": rows, "tile_inches": tile_inches}


def segsynth_preview(grid: str, batch: tuple[Tensor, Tensor], palette, row: str, task: str, result: dict,
                     judged: bool = False) -> dict:
    """The first eight evaluation masks and images, then the first batch's ``preview`` of
    ``result`` as the row ``row``: class maps in the palette's colours, images as they are; with
    ``judged``, under a synthesis row what the judge segments in those samples (``judged_preview``)."""
    images, masks = batch
    preview_tiles = result["preview"]
    rows = [("mask", mask_tiles(palette, masks[:8])), ("image", image_tiles(images[:8])),
            (row, image_tiles(preview_tiles) if task == "synthesis" else mask_tiles(palette, preview_tiles))]
    if judged and result.get("judged_preview") is not None:
        rows.append((f"{row}: judge's seg", mask_tiles(palette, result["judged_preview"])))
    return preview(grid, rows)


def class_preview(grid: str, samples: Tensor, classes: int, per_row: int = 10) -> dict:
    """Class-conditional samples (classes x n, C, H, W), ordered by class: one row per class,
    labelled with the class it was asked for."""
    shown = samples.reshape(classes, -1, *samples.shape[1:])[:, :per_row]
    return preview(grid, [(f"class {c}", image_tiles(row)) for c, row in enumerate(shown)], tile_inches=0.4)


def merged(previews: list[dict]) -> dict[str, tuple[dict[str, np.ndarray], float]]:
    """Grid name -> (row label -> tiles, tile size) of ``previews`` in their order: a label's
    first rows are the ones drawn."""
    grids: dict[str, tuple[dict, float]] = {}
    for each in previews:
        rows, _ = grids.setdefault(each["grid"], ({}, each["tile_inches"]))
        for label, tiles in each["rows"]:
            rows.setdefault(label, tiles)
    return grids


def draw_previews(out: Path, previews: list[dict]) -> list[Path]:
    """``<out>/samples/<grid>.png`` for every grid ``previews`` (in cell order) make up."""
    return [save_grid(Path(out) / "samples" / f"{name}.png", list(rows.items()), inches)
            for name, (rows, inches) in merged(previews).items()]
