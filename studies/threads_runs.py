"""Whole table runs beside a busy process: ``python -m studies.threads_runs --out results/cpu``.

The step timings of :mod:`studies.threads` say what each configuration costs a network; this says
what a user sees.  The README's first table command (``python -m benchmarks.run --table 1``) and a
U-Net table (Table 5 at ``--train-steps``, the scene U-Net trained and evaluated) each run from an
empty folder, timed as whole commands: on an idle machine, and beside one busy process at the
user's own priority (``nice -n 0``) -- once as the run chooses its threads (:mod:`symmflow.threads`:
yielding where such work holds a core at start) and once with OpenMP's spinning wait forced
(``GOMP_SPINCOUNT=300000``, libgomp's default spin count, which every run had before).  A run's bars
hold their speed where its wall time beside the busy process stays near the idle one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm.auto import tqdm

from studies.threads import ROOT, STRIPPED, busy, foreign_cores
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell

CONDITIONS = {"idle, the run's default": (0, {}), "beside 1 busy process, the run's default": (1, {}),
              "beside 1 busy process, spinning threads": (1, {"GOMP_SPINCOUNT": "300000"})}
"""(busy processes, environment) of each condition a command is timed under."""


def commands(train_steps: int) -> dict[str, list[str]]:
    """The commands timed, each run with ``--out`` a fresh folder appended."""
    run = [sys.executable, "-m", "benchmarks.run", "--no-progress"]
    return {"python -m benchmarks.run --table 1": [*run, "--table", "1"],
            f"python -m benchmarks.run --table 5 --train-steps {train_steps}":
                [*run, "--table", "5", "--train-steps", str(train_steps)]}


def timed(command: list[str], extra: dict, load: int, nice: int) -> dict:
    """``command`` from an empty folder beside ``load`` busy processes: wall seconds, the policy its
    run recorded (the machine line of its run record) and the cores other work than the run and the
    busy processes held meanwhile (``foreign``, the mean of a snapshot every half second)."""
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    with tempfile.TemporaryDirectory() as folder, busy(load, nice) as ours:
        start = time.perf_counter()
        with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: a talkative run never blocks on it
            process = subprocess.Popen([*command, "--out", folder], env={**env, **extra}, cwd=ROOT,
                                       stdout=subprocess.DEVNULL, stderr=err)
            foreign = foreign_cores(process, ours, interval=0.5)
            seconds = time.perf_counter() - start
            if process.returncode != 0:
                err.seek(0)
                raise RuntimeError(f"{' '.join(command)} failed: {err.read().strip().splitlines()[-1:]}")
        lines = [line for record in Path(folder, "runs").glob("*.md") for line in record.read_text().splitlines()
                 if line.startswith("- machine: ")]
    return {"seconds": seconds, "policy": policy_of(lines[0]) if lines else "not recorded",
            "foreign": foreign}


def policy_of(machine: str) -> str:
    """The wait policy in a run record's machine line (:func:`benchmarks.provenance.machine`)."""
    parts = machine.split("; ")
    found = [part for part in parts if "OMP_" in part or "OpenMP" in part or "GOMP_" in part or "cores held" in part]
    return "; ".join(found) or "not recorded"


def markdown(rows: list[dict], origin: dict, nice: int, invocation: str) -> str:
    lines = ["# Whole table runs beside a busy process", "",
             f"Commit {origin['git_commit']}, {origin['device']} ({origin['machine']}), {origin['versions']}. "
             f"Each command once from an empty folder (fresh model cache); the busy process is a pure-Python loop "
             f"at `nice -n {nice}`. Command: `{invocation}`.", "",
             "| command | " + " | ".join(CONDITIONS) + " | busy default / idle | busy spinning / idle |",
             "|---|" + "---|" * (len(CONDITIONS) + 2)]
    for command in dict.fromkeys(r["command"] for r in rows):
        at = {r["condition"]: r["seconds"] for r in rows if r["command"] == command}
        idle, ours, spinning = (at[c] for c in CONDITIONS)
        lines.append(f"| `{command}` | " + " | ".join(f"{at[c]:,.0f} s" for c in CONDITIONS)
                     + f" | {ours / idle:.2f} | {spinning / idle:.2f} |")
    lines += ["", "The runs' wait policies, as their run records name them: " + "; ".join(
        sorted({f"{r['condition']}: {r['policy']}" for r in rows})) + "."]
    worst = max(rows, key=lambda r: r.get("foreign", 0.0))
    lines += ["", f"Other work than the study's beside a timed run: at most {worst.get('foreign', 0.0):.2f} of a "
              f"core on average ({worst['condition']}, `{worst['command']}`)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m studies.threads_runs", description=first_paragraph(__doc__))
    p.add_argument("--out", type=Path, required=True, help="Folder for threads-runs.md and threads-runs.json.")
    p.add_argument("--train-steps", type=int, default=100, help="Training steps of Table 5's networks.")
    p.add_argument("--busy-nice", type=int, default=0, choices=range(0, 20), metavar="0-19",
                   help="Niceness of the busy process (0: as a user's own work).")
    p.add_argument("--no-progress", action="store_true", help="No progress bar.")
    with CommandShell(interrupted="nothing was written") as shell:
        args = p.parse_args(argv)
        if args.train_steps < 1:
            raise UsageError(f"--train-steps {args.train_steps}: use a positive number of steps, e.g. 100")
        if not args.out.is_dir():
            raise UsageError(f"--out {args.out} is not a folder; create it or pass another")
        from benchmarks.provenance import provenance
        from studies.records import as_given, write_record

        runs = [(c, k) for c in commands(args.train_steps).items() for k in CONDITIONS]
        rows = []
        for (name, command), condition in tqdm(runs, desc="whole runs under load", disable=args.no_progress):
            load, extra = CONDITIONS[condition]
            rows.append({"command": name, "condition": condition, **timed(command, extra, load, args.busy_nice)})
        origin = provenance("cpu")
        return write_record(args.out, "threads-runs", {"provenance": origin, "rows": rows},
                            markdown(rows, origin, args.busy_nice, as_given("studies.threads_runs", argv)))
    return shell.status


if __name__ == "__main__":
    sys.exit(main())
