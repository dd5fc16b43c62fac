"""The whole of ``--table all`` at each training precision, timed:
``python -m studies.whole_run_time --out results/cpu``.

For each precision (default fp32, the cpu profile's default, then bf16, what ``auto`` takes on a
CPU with native bf16), ``python -m benchmarks.run --table all --seeds 0`` computes every table in a
fresh results folder -- an empty model cache, so every network is trained as a first run trains
it -- and its wall time is measured around the process, with the load average before and after
and the cores other work held meanwhile (:func:`studies.threads.foreign_cores`).  Each table's own
wall time is read from the run record the run writes beside its cells.  The record
``<out>/whole-run-time.{md,json}`` is written after each run, so an interrupted study keeps the runs
it finished and a rerun at the same commit goes on with the rest; the dry run's estimate of the
same command (results/cpu/whole-run-estimate.json), where present, stands beside each measurement.
Target (issue 39): ``--table all`` at bf16 at most :data:`studies.whole_run_estimate.TARGET` of its
fp32 wall time on the same machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from studies.estimates import ROOT
from studies.records import as_given, write_record
from studies.whole_run_estimate import TARGET, two_precisions
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell, SigtermAsInterrupt

ROW = re.compile(r"^\| (\w+) \| \d+ \| \d+ \| \d+ \| \d+ \| (\d+) \|", re.MULTILINE)
"""One table's line in a run record (benchmarks.run.write_run_record): the table and its wall seconds."""


def tables_wall(folder: Path) -> dict[str, float]:
    """Table -> its wall seconds, from the run records in ``folder/runs``."""
    found: dict[str, float] = {}
    for record in sorted((folder / "runs").glob("*.md")):
        for table, seconds in ROW.findall(record.read_text()):
            found[table] = found.get(table, 0.0) + float(seconds)
    return found


def timed_run(profile: str, precision: str, folder: Path) -> dict:
    """``--table all`` at ``precision`` in the fresh ``folder``, timed around the process."""
    from studies.threads import foreign_cores

    command = [sys.executable, "-m", "benchmarks.run", "--table", "all", "--profile", profile, "--seeds", "0",
               "--precision", precision, "--out", str(folder), "--no-progress"]
    errors = folder.parent / "stderr.txt"
    load, started, start = os.getloadavg()[0], time.strftime("%Y-%m-%d %H:%M:%S %Z"), time.perf_counter()
    with errors.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT)
        try:
            others = foreign_cores(process, (), interval=2.0)
        finally:  # an interrupted study leaves no run behind it
            if process.poll() is None:
                process.terminate()
                process.wait()
    wall = time.perf_counter() - start
    if process.returncode:
        raise RuntimeError(f"--table all at {precision} failed ({process.returncode}):\n{errors.read_text()[-2000:]}")
    return {"precision": precision, "wall_s": wall, "tables": tables_wall(folder), "started": started,
            "load_before": load, "load_after": os.getloadavg()[0], "other_cores": others,
            "command": " ".join(["python -m benchmarks.run", *command[3:]]).replace(str(folder), "<fresh folder>")}


def estimates(out: Path) -> dict:
    """Precision -> the dry run's estimate per table and in all, from ``out/whole-run-estimate.json``."""
    path = out / "whole-run-estimate.json"
    return json.loads(path.read_text())["summary"] if path.is_file() else {}


def markdown(record: dict) -> str:
    """The record as Markdown."""
    origin, runs, guess = record["provenance"], {r["precision"]: r for r in record["runs"]}, record["estimates"]
    base, other = record["precisions"]
    lines = ["# The whole of `--table all` at each training precision, timed", "",
             f"`{record['command']}` -- `python -m benchmarks.run --table all` (one seed, an empty model cache) at "
             "each precision in turn, its wall time measured around the process; each table's time from the run "
             "record the run writes. Beside it, the dry run's estimate of the same command "
             "(whole-run-estimate.md).", "",
             f"Machine: {origin['device']}; {origin['machine']}; {origin['versions']}; commit "
             f"{origin.get('git_commit', '?')}.", ""]
    header = " | ".join(f"{p} measured | {p} estimated" for p in record["precisions"])
    lines += [f"| table | {header} | {other} / {base} measured |", "|---" * 6 + "|"]
    tables = list(dict.fromkeys(t for r in runs.values() for t in r["tables"]))

    def measured(precision: str, table: str | None) -> float | None:  # table None: the whole process
        run = runs.get(precision)
        return None if run is None else run["wall_s"] if table is None else run["tables"].get(table)

    def estimated(precision: str, table: str | None) -> float | None:
        estimate = guess.get(precision, {})
        return estimate.get("total_s") if table is None else estimate.get("tables", {}).get(table)

    for table in [*tables, None]:
        seconds = [value(p, table) for p in (base, other) for value in (measured, estimated)]
        shown = " | ".join("-" if v is None else f"{v:,.0f} s" for v in seconds)
        ratio = "-" if None in (seconds[0], seconds[2]) else f"{seconds[2] / seconds[0]:.2f}"
        lines.append(f"| {table or 'all (the whole process)'} | {shown} | {ratio} |")
    if len(runs) == 2:
        ratio = runs[other]["wall_s"] / runs[base]["wall_s"]
        lines += ["", f"Target: `--table all` at {other} at most {record['target']:.1f}x its wall time at {base}: "
                      f"{'met' if ratio <= record['target'] else 'missed'} ({ratio:.2f}x, measured)."]
    else:
        lines += ["", f"Only {', '.join(runs) or 'no precision'} measured so far: a rerun at this commit goes on."]
    lines += ["", "## Runs", "", "| precision | started | wall | load average (1 min) before / after | "
              "cores other work held (mean) |", "|---|---|---|---|---|"]
    lines += [f"| {r['precision']} | {r['started']} | {r['wall_s']:,.0f} s | {r['load_before']:.2f} / "
              f"{r['load_after']:.2f} | {r['other_cores']:.2f} |" for r in record["runs"]]
    lines += ["", "Commands (in a fresh folder each):", "", *[f"- `{r['command']}`" for r in record["runs"]], ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m studies.whole_run_time", description=first_paragraph(__doc__))
    parser.add_argument("--out", type=Path, default=Path("results/cpu"),
                        help="Where whole-run-time.{md,json} go (default results/cpu).")
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu"),
                        help="The profile of the runs (default cpu).")
    parser.add_argument("--precisions", default="fp32,bf16", help="Two precisions, today's first (default fp32,bf16).")
    with CommandShell() as shell:
        args = parser.parse_args(argv)
        precisions = two_precisions(args.precisions)
        if not args.out.parent.is_dir():
            raise UsageError(f"--out {args.out}: its parent folder does not exist; create it or pass another")
    if shell.stopped:
        return shell.status
    from benchmarks.provenance import provenance

    origin, path = provenance("cpu"), args.out / "whole-run-time.json"
    earlier = json.loads(path.read_text()) if path.is_file() else {}
    same = earlier.get("provenance", {}).get("git_commit") == origin["git_commit"] and \
        earlier.get("precisions") == precisions and earlier.get("profile") == args.profile
    runs = [r for r in earlier.get("runs", []) if same and r["precision"] in precisions]
    record = {"provenance": origin, "command": as_given("studies.whole_run_time", argv), "profile": args.profile,
              "precisions": precisions, "target": TARGET, "estimates": estimates(args.out), "runs": runs}
    kept = f"the runs finished are in {path}; the same command at this commit times the rest"
    with CommandShell(interrupted=kept, terminated=kept, signals=SigtermAsInterrupt) as shell:
        write_record(args.out, "whole-run-time", record, markdown(record))
        for precision in (p for p in precisions if not any(r["precision"] == p for r in runs)):
            print(f"--table all at {precision}: running", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory() as folder:
                runs.append(timed_run(args.profile, precision, Path(folder) / "out"))
            print(f"--table all at {precision}: {runs[-1]['wall_s']:,.0f} s", file=sys.stderr, flush=True)
            write_record(args.out, "whole-run-time", record, markdown(record))
    return shell.status


if __name__ == "__main__":
    sys.exit(main())
