"""One network, whatever the launch: ``python -m studies.scale_check --processes 1,2,4 --out DIR
[--epochs 2]``.

A tiny network on the latent path -- SymmFlow's velocity over the 8-channel concatenation of a
4-channel image latent and a 4-channel mask latent (reference notes section 6), image weight 0.7,
AdamW with a one-cycle schedule and an EMA -- is trained through the harness's model cache
(:func:`benchmarks.trained.trained_model`) on a global batch of 16 for ``--epochs`` epochs of
ceil(200 / 16) steps (notes section 11), on 1, 2 and 4 CPU processes (``torchrun --standalone``,
gloo), on 2 processes with at most 2 samples per device (gradient accumulation), and on two
"nodes" (two ``torchrun --nnodes 2`` agents on a localhost c10d rendezvous).  The path's noise is
keyed by each sample's place in its global batch, so every launch computes the same steps and
differs from one process only by the order of float reductions.  Then:

* a training on 4 processes is stopped by SIGTERM to its launcher midway (the state saved at the
  current step) and resumed on 2;
* a training on one process is stopped by SIGTERM midway: it saves its state, exits 143 with one
  line on stderr, and the same command run again resumes it.

Writes ``DIR/scale-check.{json,md}``: per launch the optimiser steps, the split of the global
batch, the samples seen, the network's identity, the loss at every step and the final weights'
largest difference from one process.  ``python -m studies.scale_check worker ...`` is one
process of a launch (:mod:`studies.scale_worker`); the launches are :mod:`studies.scale_launches`,
the record's words :mod:`studies.scale_record`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from studies.records import as_given, write_record
from studies.scale_launches import LOSS_TOLERANCE, ROOT, WEIGHT_TOLERANCE, study  # noqa: F401
from studies.scale_record import markdown
from studies.scale_worker import GLOBAL_BATCH, LATENT, ROWS, SEED, SIZE, worker  # noqa: F401
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell


def parse_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(c) for c in text.split(",") if c.strip())
    except ValueError:
        raise UsageError(f"--processes {text!r} is not a comma-separated list of integers, e.g. 1,2,4") from None
    if 1 not in counts or min(counts) < 1 or any(GLOBAL_BATCH % c for c in counts) or 2 not in counts:
        raise UsageError(f"--processes {text!r}: give counts that divide the global batch of {GLOBAL_BATCH}, "
                         "1 and 2 among them, e.g. 1,2,4")
    return counts


def main(argv=None) -> int:
    from benchmarks.provenance import provenance

    argv = sys.argv[1:] if argv is None else list(argv)
    with CommandShell() as shell:
        if argv[:1] == ["worker"]:
            p = OneLineParser(prog="python -m studies.scale_check worker", description="One process of a launch.")
            p.add_argument("--case", type=Path, required=True, help="The folder of this launch.")
            p.add_argument("--epochs", type=int, required=True, help="Epochs over the training rows.")
            p.add_argument("--batch-size-per-device", type=int, default=None,
                           help="The most samples per device (default: the process's whole share).")
            p.add_argument("--pause-at", type=int, default=0,
                           help="Pause two seconds in this step, for a signal to arrive (default 0: never).")
            args = p.parse_args(argv[1:])
            return worker(args.case, args.epochs, args.batch_size_per_device, None, args.pause_at)
        p = OneLineParser(prog="python -m studies.scale_check", description=first_paragraph(__doc__))
        p.add_argument("--processes", type=parse_counts, default=(1, 2, 4),
                       help="Process counts to train on, 1 and 2 among them (default: 1,2,4).")
        p.add_argument("--epochs", type=int, default=2, help="Epochs over the 200 rows (default: 2).")
        p.add_argument("--out", type=Path, required=True, help="The folder scale-check.json and .md go to.")
        args = p.parse_args(argv)
        if args.epochs < 1:
            raise UsageError(f"--epochs {args.epochs}: use at least 1")
        args.out.mkdir(parents=True, exist_ok=True)
    if shell.stopped:
        return shell.status
    origin = provenance("cpu")  # the code the record ran, as it starts
    record = study(args.out, args.processes, args.epochs)
    command = as_given("studies.scale_check", argv)
    return write_record(args.out, "scale-check", {**record, "provenance": origin, "command": command},
                        markdown(record, origin, command), print_markdown=True)


if __name__ == "__main__":
    sys.exit(main())
