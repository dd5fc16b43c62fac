"""SymmFlow's speed against the limit and the libraries a user would otherwise pick:
``python -m studies.perf --out results/cpu``.

Every case is timed in this one process, interleaved round by round in a rotating order (so a
slow spell of the machine hits every contender alike), after a warm-up; a ratio against a peer
or the limit is the median of the per-round ratios with its bootstrap 95% interval, and a target
is met only where the whole interval meets it (:mod:`benchmarks.timing`).  ``--device cuda`` runs
the same suite on a GPU (each call waited for; memory from the CUDA allocator).  Writes
``<out>/perf.{csv,md}``.

* sampling: :func:`symmflow.solver.integrate` (Euler, midpoint; 1 / 10 / 50 steps) against
  (a) the limit -- NFE x one bare forward of the same network on the same batch -- and (b)
  facebookresearch's ``flow_matching`` ``ODESolver`` driving the same network over the same
  joint state, on the toy MLP and a pixel U-Net;
* training step: one SymmFlow step (eq. 3, the authors' channel label: forward, backward,
  AdamW) against one standard conditional flow-matching step of ``torchcfm``'s
  ``ConditionalFlowMatcher`` on the same U-Net layout and batch, with the profile of each
  (where the difference goes: the label channel, the second loss term); and the same SymmFlow
  step with the speed switches (channels-last weights, ``torch.compile``);
* training loop: what :func:`symmflow.train.fit` adds to a bare step (its marginal time per
  step against the bare step's);
* classification: images/s and counted NFE per image of SymmFlow at 1 and 25 steps against
  the Diffusion Classifier at its published adaptive schedule and a reduced one, on the same
  backbone; the speed-up against the NFE ratio;
* class count: time per image and peak memory added of SymmFlow's classification and
  segmentation (one step) and of the Diffusion Classifier at 10, 19, 100 and 171 classes (the
  paper's data sets), each in a fresh process (:mod:`benchmarks.footprint`), plotted.

The peers come with the ``perf`` extra (``flow_matching``, ``torchcfm``; they need
torch 2.14.1); where one is absent its rows are recorded as skipped with the reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from benchmarks.provenance import provenance
from studies.perf_cases import TARGETS, class_count, classification, sampling, training_loop, training_step
from studies.perf_record import perf_markdown, plot_class_count
from symmflow.device import resolve_device
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell
from symmflow.outputs import write_atomic

# ---------------------------------------------------------------- the command


CASES = ("sampling", "training", "loop", "classification", "classes")


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m studies.perf", description=first_paragraph(__doc__))
    parser.add_argument("--out", type=Path, default=None,
                        help="Where perf.{csv,md} go (default results/cpu, or results/gpu with a CUDA --device).")
    parser.add_argument("--rounds", type=int, default=30, help="Timed rounds per case after the warm-up (default 30).")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed rounds first (default 3).")
    parser.add_argument("--only", default=",".join(CASES), help="Which cases, comma-separated (default: all).")
    parser.add_argument("--device", default="cpu", help="Where every case runs: cpu (default), cuda or cuda:N.")
    with CommandShell() as shell:
        args = parser.parse_args(argv)
        device = resolve_device(args.device)
        out = args.out or Path("results/gpu" if device.startswith("cuda") else "results/cpu")
        if args.rounds < 2 or args.warmup < 0:
            raise UsageError(f"--rounds {args.rounds} --warmup {args.warmup}: use at least 2 rounds, e.g. --rounds 20")
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in CASES]
        if unknown or not wanted:
            raise UsageError(f"--only {args.only!r}: choose from {', '.join(CASES)}")
    if shell.stopped:
        return shell.status
    origin = provenance(device)  # before this run writes anything: the commit it ran at, clean or not
    rows, profiles = [], {}
    for case in tqdm(wanted, desc="perf"):
        if case == "sampling":
            rows += sampling(args.rounds, args.warmup, device=device)
        elif case == "training":
            found, profiles = training_step(args.rounds, args.warmup, switches=True, device=device)
            rows += found
        elif case == "loop":
            rows += training_loop(device=device)
        elif case == "classification":
            rows += classification(device=device)
        else:
            rows += class_count(device=device)
    df = pd.DataFrame(rows)
    if "classes" in df:
        plot_class_count(df[df["case"] == "class count"], out / "perf-classes.png")
    for key, value in origin.items():
        df[key] = value
    write_atomic(out / "perf.csv", df.to_csv(index=False))
    write_atomic(out / "perf.md", perf_markdown(df, profiles, args.rounds, args.warmup, TARGETS))
    print(out / "perf.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
