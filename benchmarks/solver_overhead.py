"""How much the integrator adds to the network calls: ``python -m benchmarks.solver_overhead``.

For each network and step count, the wall time of ``integrate(method="euler")`` is divided by
(counted NFE x one bare forward of the same network on the same batch).  Both are timed in
this process, interleaved round by round, and compared as medians after a warm-up; the target
is a ratio of at most 1.05.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from benchmarks.provenance import provenance
from benchmarks.render_records import solver_overhead_markdown
from benchmarks.store import write_atomic
from symmflow.errors import OneLineParser, UsageError
from symmflow.models.mlp import ToyMLP
from symmflow.models.pixel_unet import ConcatVelocity, UNetConfig, pixel_unet
from symmflow.solver import NFECounter, integrate

LIMIT = 1.05


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@torch.no_grad()
def overhead(velocity, x: torch.Tensor, y: torch.Tensor, steps: int, rounds: int = 15, warmup: int = 3) -> dict:
    """Median integrate time over median (NFE x bare forward time), interleaved per round."""
    t = torch.ones(x.shape[0])
    counter = NFECounter(velocity)
    bare, solve = [], []
    for r in range(warmup + rounds):
        b = _timed(lambda: velocity(x, y, t))
        counter.reset()
        s = _timed(lambda: integrate(counter, x, y, direction="infer", steps=steps, method="euler"))
        if r >= warmup:
            bare.append(b)
            solve.append(s)
    nfe = counter.calls
    forward, integrated = statistics.median(bare), statistics.median(solve)
    return {"steps": steps, "nfe": nfe, "forward_s": forward, "integrate_s": integrated,
            "ratio": integrated / (nfe * forward)}


def cases():
    torch.manual_seed(0)
    toy = ToyMLP().eval()
    yield "toy MLP, 10,000 points", toy, torch.randn(10_000, 2), torch.randn(10_000, 1), (1, 10, 50)
    unet = pixel_unet(UNetConfig(base_channels=16, multipliers=(1, 2), layers_per_block=1, norm_groups=8), 2, 2, 32)
    net = ConcatVelocity(unet.eval(), x_channels=1)
    yield "pixel U-Net (base 16), 32 images 32x32", net, torch.randn(32, 1, 32, 32), torch.randn(32, 1, 32, 32), (1, 10)


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m benchmarks.solver_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/cpu"))
    parser.add_argument("--rounds", type=int, default=60)
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = []
    todo = [(name, net, x, y, s) for name, net, x, y, steps in cases() for s in steps]
    for name, net, x, y, steps in tqdm(todo, desc="solver overhead"):
        rows.append({"network": name, **overhead(net, x, y, steps, rounds=args.rounds)})
    df = pd.DataFrame(rows)
    df["within_limit"] = df["ratio"] <= LIMIT
    for key, value in provenance("cpu").items():
        df[key] = value
    write_atomic(args.out / "solver_overhead.csv", df.to_csv(index=False))
    view = df[["network", "steps", "nfe", "forward_s", "integrate_s", "ratio", "within_limit"]]
    write_atomic(args.out / "solver_overhead.md", solver_overhead_markdown(df, args.rounds, LIMIT))
    print(view.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
