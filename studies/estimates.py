"""The dry run's estimate against the run it estimates: ``python -m studies.estimates --out results/cpu``.

For each table (default: 1 and 11, cpu profile) in a fresh results folder -- an empty model
cache, so that every network is trained as a first run trains it -- ``python -m benchmarks.run
--dry-run`` prints its estimate, then the same command without ``--dry-run`` computes the table,
and the wall time of each is measured around the process.  Writes ``<out>/estimates.{csv,md}``:
estimate, measured time and their ratio per table, with the commit, the machine and its load
average when each run began; the rows of tables not measured this time are kept.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.provenance import provenance
from symmflow.device import PRECISIONS
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell
from symmflow.outputs import write_atomic

ROOT = Path(__file__).resolve().parent.parent
TOTAL = re.compile(r"table (\S+) \(seed \d+\): \d+ of \d+ cells to compute, about ([\d.]+) ([sh]) on")
TARGET = 1.5
"""The issue's bound: the estimate within a factor of 1.5 of the measured time, either way."""


def per_table(printed: str) -> dict[str, float]:
    """Table -> the dry run's estimate in seconds, from what it printed."""
    found = {table: float(value) * (3600 if unit == "h" else 1) for table, value, unit in TOTAL.findall(printed)}
    if not found:
        raise RuntimeError(f"the dry run printed no estimate:\n{printed[-2000:]}")
    return found


def estimated_seconds(printed: str) -> float:
    """The sum of the dry run's per-table totals (seconds)."""
    return sum(per_table(printed).values())


def measure(table: str, profile: str, threads: int | None, folder: Path, precision: str | None = None) -> dict:
    command = [sys.executable, "-m", "benchmarks.run", "--table", table, "--profile", profile, "--out",
               str(folder), "--no-progress", *(["--threads", str(threads)] if threads else []),
               *(["--precision", precision] if precision else [])]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    dry = subprocess.run(command + ["--dry-run"], capture_output=True, text=True, cwd=ROOT, check=True)
    dry_s = time.perf_counter() - start
    estimate = estimated_seconds(dry.stdout)
    load_real = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    measured = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    return {"table": table, "commit": provenance("cpu")["git_commit"], "profile": profile,
            "threads": threads or "harness's choice",
            "estimate_s": estimate, "measured_s": measured, "ratio": measured / estimate,
            "within_target": 1 / TARGET <= measured / estimate <= TARGET, "dry_run_s": dry_s,
            "load_before_dry_run": load, "load_before_run": load_real, "load_after_run": load_after,
            "command": " ".join(["python -m benchmarks.run", *command[3:]]).replace(str(folder), "<fresh folder>")}


def markdown(rows: pd.DataFrame, origin: dict) -> str:
    lines = ["# The dry run's estimate against the run", "",
             "`python -m studies.estimates` -- each table computed from an empty model cache right after its "
             "dry run (`--dry-run`: every network a timed stand-in, each training charged its budget at the "
             "median time of real steps of the training loop; benchmarks/cost.py).", "",
             f"- device: {origin['device']}", f"- machine: {origin['machine']}", "",
             "| table | profile | threads | estimate (s) | measured (s) | measured / estimate | within 1.5x | "
             "dry run took (s) | load average (1 min) before the dry run / before the run / after it | commit |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.table} | {r.profile} | {r.threads} | {r.estimate_s:.0f} | {r.measured_s:.0f} | {r.ratio:.2f} | "
              f"{'yes' if r.within_target else 'no'} | {r.dry_run_s:.0f} | {r.load_before_dry_run:.2f} / "
              f"{r.load_before_run:.2f} / {r.load_after_run:.2f} | {r.commit} |" for r in rows.itertuples()]
    lines += ["", "Commands (in a fresh folder each):", ""] + [f"- `{c}`" for c in rows["command"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m studies.estimates", description=first_paragraph(__doc__))
    parser.add_argument("--out", type=Path, default=Path("results/cpu"), help="Where estimates.{csv,md} go.")
    parser.add_argument("--tables", default="1,11", help="The tables, each measured alone (default 1,11).")
    parser.add_argument("--profile", default="cpu", help="The profile both runs use (default cpu).")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of both runs (default: the harness's).")
    parser.add_argument("--precision", default=None, choices=PRECISIONS,
                        help="The training precision of both runs (benchmarks.run's --precision; default: the "
                             "profile's).")
    with CommandShell() as shell:
        args = parser.parse_args(argv)
        if not args.out.parent.is_dir():
            raise UsageError(f"--out {args.out}: its parent folder does not exist; create it or pass another")
    if shell.stopped:
        return shell.status
    rows = []
    for table in args.tables.split(","):
        with tempfile.TemporaryDirectory() as folder:
            rows.append(measure(table, args.profile, args.threads, Path(folder) / "out", args.precision))
            print(f"table {table}: estimate {rows[-1]['estimate_s']:.0f} s, measured {rows[-1]['measured_s']:.0f} s "
                  f"(ratio {rows[-1]['ratio']:.2f})", file=sys.stderr)
    frame = pd.DataFrame(rows)
    earlier = args.out / "estimates.csv"
    if earlier.is_file():  # the rows of tables not measured this time stay, each with its own commit
        kept = pd.read_csv(earlier, dtype={"table": str})
        frame = pd.concat([kept[~kept["table"].isin(frame["table"])], frame], ignore_index=True)
        frame = frame.sort_values("table", key=lambda t: t.astype(int), kind="stable")
    write_atomic(earlier, frame.to_csv(index=False))
    write_atomic(args.out / "estimates.md", markdown(frame, provenance("cpu")))
    print(args.out / "estimates.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
