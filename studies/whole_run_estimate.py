"""The whole of ``--table all`` at each training precision, as the dry run estimates it:
``python -m studies.whole_run_estimate --out results/cpu``.

For each precision (default fp32, the cpu profile's default, and bf16, what ``auto`` takes on a CPU
with native bf16), ``python -m benchmarks.run --table all --dry-run`` runs in a fresh results folder
-- an empty model cache, one seed -- and its estimate is read per table: every network a timed
stand-in, each training charged its budget at the median time of real steps of the training loop
(:mod:`benchmarks.cost`; the estimate against measured runs: results/cpu/estimates.md).  The dry
runs alternate precision (``--repeats`` of each), so that a slow spell of the machine hits both.
Writes ``<out>/whole-run-estimate.{md,json}``: per table and in all, each precision's estimate
(the median over the repeats) and their ratio against the target of issue 39, ``--table all`` at
bf16 at most :data:`TARGET` of its fp32 time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from studies.estimates import ROOT, per_table
from studies.records import as_given, write_record
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell

TARGET = 0.6
"""``--table all`` at the faster precision at most this fraction of today's (fp32) wall time."""


def two_precisions(text: str) -> list[str]:
    """``--precisions``: two different ones of fp32, bf16 and auto, today's first; else refused in one line."""
    precisions = [p.strip() for p in text.split(",") if p.strip()]
    if len(precisions) != 2 or len(set(precisions)) != 2 or set(precisions) - {"fp32", "bf16", "auto"}:
        raise UsageError(f"--precisions {text}: give two different ones of fp32, bf16, auto")
    return precisions


def dry_run(profile: str, precision: str, folder: Path) -> dict:
    """One dry run of every table at ``precision`` in the fresh ``folder``: its estimate per table,
    how long it took and the load average around it."""
    command = [sys.executable, "-m", "benchmarks.run", "--table", "all", "--profile", profile, "--seeds", "0",
               "--precision", precision, "--out", str(folder), "--dry-run", "--no-progress"]
    load, start = os.getloadavg()[0], time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"the dry run at {precision} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return {"precision": precision, "tables": per_table(done.stdout), "took_s": time.perf_counter() - start,
            "load_before": load, "load_after": os.getloadavg()[0],
            "command": " ".join(["python -m benchmarks.run", *command[3:]]).replace(str(folder), "<fresh folder>")}


def summary(runs: list[dict], precisions: list[str]) -> dict:
    """Per precision and table, the median estimate over the repeats, and the total."""
    out = {}
    for precision in precisions:
        mine = [r["tables"] for r in runs if r["precision"] == precision]
        tables = {t: statistics.median(r[t] for r in mine) for t in mine[0]}
        out[precision] = {"tables": tables, "total_s": statistics.median(sum(r.values()) for r in mine)}
    return out


def markdown(record: dict) -> str:
    """The record as Markdown."""
    origin, found, (base, other) = record["provenance"], record["summary"], record["precisions"]
    lines = ["# The whole of `--table all` at each training precision, estimated", "",
             f"`{record['command']}` -- `python -m benchmarks.run --table all --dry-run` (one seed, an empty model "
             "cache) at each precision, alternating, the median estimate over the repeats. The dry run's estimate "
             "against measured runs is in estimates.md.", "",
             f"Machine: {origin['device']}; {origin['machine']}; {origin['versions']}; commit "
             f"{origin.get('git_commit', '?')}.", "",
             f"| table | estimate at {base} | estimate at {other} | {other} / {base} |", "|---|---|---|---|"]
    for table, seconds in found[base]["tables"].items():
        theirs = found[other]["tables"].get(table)
        lines.append(f"| {table} | {seconds:,.0f} s | {theirs:,.0f} s | {theirs / seconds:.2f} |")
    ratio = found[other]["total_s"] / found[base]["total_s"]
    lines += [f"| all | {found[base]['total_s']:,.0f} s | {found[other]['total_s']:,.0f} s | {ratio:.2f} |", "",
              f"Target: `--table all` at {other} at most {record['target']:.1f}x its time at {base}: "
              f"{'met' if ratio <= record['target'] else 'missed'} ({ratio:.2f}x, by the dry run's estimate).", "",
              "## Dry runs", "", "| precision | estimate in all | dry run took | load average (1 min) before / after |",
              "|---|---|---|---|"]
    lines += [f"| {r['precision']} | {sum(r['tables'].values()):,.0f} s | {r['took_s']:.0f} s | "
              f"{r['load_before']:.2f} / {r['load_after']:.2f} |" for r in record["runs"]]
    lines += ["", "Commands (in a fresh folder each):", "",
              *dict.fromkeys(f"- `{r['command']}`" for r in record["runs"]), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m studies.whole_run_estimate", description=first_paragraph(__doc__))
    parser.add_argument("--out", type=Path, default=Path("results/cpu"),
                        help="Where whole-run-estimate.{md,json} go (default results/cpu).")
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu"),
                        help="The profile of the dry runs (default cpu).")
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="Two precisions, today's first (default fp32,bf16).")
    parser.add_argument("--repeats", type=int, default=1, help="Dry runs of each precision (default 1).")
    with CommandShell() as shell:
        args = parser.parse_args(argv)
        precisions = two_precisions(args.precisions)
        if args.repeats < 1:
            raise UsageError(f"--repeats {args.repeats}: give at least one repeat")
    if shell.stopped:
        return shell.status
    from benchmarks.provenance import provenance
    from tqdm import tqdm

    runs = []
    for _ in tqdm(range(args.repeats), desc="dry runs"):
        for precision in precisions:
            with tempfile.TemporaryDirectory() as folder:
                runs.append(dry_run(args.profile, precision, Path(folder) / "out"))
    record = {"provenance": provenance("cpu"), "command": as_given("studies.whole_run_estimate", argv),
              "precisions": precisions, "target": TARGET, "runs": runs, "summary": summary(runs, precisions)}
    return write_record(args.out, "whole-run-estimate", record, markdown(record))


if __name__ == "__main__":
    sys.exit(main())
