"""Batched inference against one image at a time: ``python -m studies.batched_inference --out
results/cpu [--images 64] [--size 64] [--steps 2] [--rounds 3] [--batch-sizes 4,16,64] [--widths 8,32]``.

A segmentation model of ``symmflow train``'s network (5 classes; untrained: the weights do not
change the time) at each of ``--widths`` (its ``--base-channels``: 32 by default, 8 the tests'
tiny one) and ``--size`` px, saved and loaded through the Python API (:func:`symmflow.load`),
segments ``--images`` random images of that size one at a time (``batch_size=1``) and in batches,
round after round in one process; per round the batched run's images/s over the one-at-a-time
run's, the median over the rounds with a bootstrap interval (:func:`benchmarks.timing.paired_ratio`),
and whether the masks were equal.  The cores other processes' runnable threads held at start and
at the end are recorded (:func:`symmflow.threads.cores_held`; the study's own threads, which the
load average would count, are left out): on a shared machine the absolute rates move, the paired
ratio much less.  Target: batched at least 3x
one at a time.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell
from symmflow.threads import yield_while_waiting

yield_while_waiting()  # before torch is imported, as every entry point

TARGET = 3.0
"""Batched images/s over one-at-a-time images/s, at least."""


def model_folder(folder: Path, size: int, width: int):
    """The timed model: ``symmflow train``'s network at ``width``, saved in diffusers' layout."""
    import torch

    import symmflow
    from symmflow.model_folder import pixel_network, symmflow_of

    settings = {"task": "segmentation", "classes": 5, "size": size, "base_channels": width,
                "symmflow": {"beta": 10.0}}
    settings["symmflow"] = asdict(symmflow_of(settings).settings)
    torch.manual_seed(0)
    symmflow.save_model(pixel_network(settings), folder, settings)
    return symmflow.load(folder, device="cpu")


def measure(count: int, size: int, steps: int, rounds: int, batch_sizes: tuple[int, ...],
            widths: tuple[int, ...]) -> dict:
    rows = [row for width in widths for row in measure_width(count, size, steps, rounds, batch_sizes, width)]
    return {"images": count, "size": size, "steps": steps, "rounds": rounds, "rows": rows}


def measure_width(count: int, size: int, steps: int, rounds: int, batch_sizes: tuple[int, ...],
                  width: int) -> list[dict]:
    import torch

    from benchmarks.timing import paired_ratio

    with tempfile.TemporaryDirectory() as scratch:
        model = model_folder(Path(scratch) / "model", size, width)
        images = torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
        model.segment(images[:2], steps=1, batch_size=2)  # warm-up
        seconds = {b: [] for b in (1, *batch_sizes)}
        equal = {b: True for b in batch_sizes}
        for _ in range(rounds):
            alone = None
            for b in seconds:
                began = time.perf_counter()
                masks = model.segment(images, steps=steps, batch_size=b)
                seconds[b].append(time.perf_counter() - began)
                alone = masks if b == 1 else alone
                if b != 1:
                    equal[b] &= bool(torch.equal(masks, alone))
    rows = []
    for b, times in seconds.items():
        ratio = None if b == 1 else asdict(paired_ratio(seconds[1], times))  # one at a time / batched, in seconds
        rows.append({"width": width, "batch_size": b, "seconds": times, "images_per_s": [count / t for t in times],
                     "speed_up": ratio, "masks_equal": None if b == 1 else equal[b]})
    return rows


SHARED_CORES = 0.25
"""Other work holding more of a core than this, at start or at the end, makes the machine shared."""


def markdown(found: dict, origin: dict, held: tuple, command: str) -> str:
    import numpy as np

    cores = os.cpu_count()
    shared = max(held) > SHARED_CORES
    lines = ["# Batched inference on the CPU", "",
             f"Commit {origin['git_commit']}, {origin['device']} ({origin['machine']}), {origin['versions']}. "
             f"Command: `{command}`. {found['images']} random images of {found['size']} px segmented through "
             f"`symmflow.load(...).segment` ({found['steps']} Euler steps each) by `symmflow train`'s network at "
             f"the widths of the first column (`--base-channels`; 32 is the command's default, 8 the tests' tiny "
             f"network), {found['rounds']} rounds "
             "in one process after a warm-up, each batch size in every round; the speed-up is the median of the "
             "per-round ratios, with its 95% bootstrap interval.", "",
             f"The machine was {'shared' if shared else 'idle'}: other processes' runnable threads held "
             f"{held[0]:.2f} cores at start and {held[1]:.2f} at the end, of {cores}"
             + (" (other people's work ran beside the study; the "
             "absolute rates are low and move from round to round, the paired ratio less)." if shared else "."), "",
             "| width | batch size | images/s (median) | speed-up over one at a time | masks equal to one at a time |",
             "|---|---|---|---|---|"]
    for row in found["rows"]:
        up = row["speed_up"]
        shown = "1 (reference)" if up is None else f"{up['median']:.2f}x [{up['low']:.2f}, {up['high']:.2f}]"
        lines.append(f"| {row['width']} | {row['batch_size']} | {np.median(row['images_per_s']):.2f} | {shown} | "
                     f"{'-' if row['masks_equal'] is None else 'yes' if row['masks_equal'] else 'no'} |")
    verdicts = []
    for width in dict.fromkeys(r["width"] for r in found["rows"]):
        best = max((r for r in found["rows"] if r["speed_up"] and r["width"] == width),
                   key=lambda r: r["speed_up"]["median"])
        up = best["speed_up"]
        verdict = "met" if up["low"] >= TARGET else "missed" if up["high"] < TARGET else "within the noise"
        verdicts.append(f"width {width}: {verdict} (best at batch size {best['batch_size']}, {up['median']:.2f}x)")
    lines += ["", f"Target: batched at least {TARGET:g}x one at a time -- {'; '.join(verdicts)}. Each image draws "
              "its noise from its own seed, so every batch size gives the same masks (the last column). A batch "
              "saves the work of each network call (Python, dispatch, small-tensor overhead), not the convolutions' "
              "arithmetic per image, which a CPU already spreads over its cores at batch size 1: the wider the "
              "network, the less there is to save."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m studies.batched_inference", description=first_paragraph(__doc__))
    p.add_argument("--out", type=Path, required=True, help="Folder for batched-inference.md and .json.")
    p.add_argument("--images", type=int, default=64, help="Images segmented per run (default 64).")
    p.add_argument("--size", type=int, default=64, help="Their side and the model's, a multiple of 8 (default 64).")
    p.add_argument("--steps", type=int, default=2, help="Euler steps per image (default 2).")
    p.add_argument("--rounds", type=int, default=3, help="Rounds of every batch size (default 3).")
    p.add_argument("--batch-sizes", default="4,16,64",
                   help="Batch sizes timed against 1, comma-separated (default 4,16,64).")
    p.add_argument("--widths", default="8,32", help="Network widths (--base-channels), comma-separated (default 8,32).")
    with CommandShell(interrupted="nothing was written") as shell:
        args = p.parse_args(argv)
        try:
            sizes = tuple(int(b) for b in args.batch_sizes.split(","))
            widths = tuple(int(w) for w in args.widths.split(","))
        except ValueError:
            raise UsageError(f"--batch-sizes {args.batch_sizes!r} / --widths {args.widths!r}: write comma-separated "
                             "integers, e.g. 16,64") from None
        if min(args.images, args.steps, *sizes) < 1 or args.rounds < 2 or args.size < 8 or args.size % 8 or \
                any(w < 1 or (w > 32 and w % 32) for w in widths):
            raise UsageError("--images, --steps and --batch-sizes must be positive, --rounds at least 2, --size a "
                             "multiple of 8 and each width 1 to 32 or a multiple of 32")
        from benchmarks.provenance import provenance
        from studies.records import as_given, write_record

        from symmflow.threads import cores_held

        start = cores_held()
        found = measure(args.images, args.size, args.steps, args.rounds, sizes, widths)
        held, origin = (start, cores_held()), provenance("cpu")
        return write_record(args.out, "batched-inference", {"provenance": origin, "other_cores_held": held, **found},
                            markdown(found, origin, held, as_given("studies.batched_inference", argv)))
    return shell.status


if __name__ == "__main__":
    sys.exit(main())
