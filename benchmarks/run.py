"""Reproduce the paper's tables: ``python -m benchmarks.run --table 1 [--profile cpu]``.

Each table is a grid of cells (:mod:`benchmarks.cells`); a finished cell is stored at once
(:mod:`benchmarks.store`), a rerun skips stored cells (``--force`` recomputes them; cells stored
as skipped are retried on every run), and the CSV / Markdown / LaTeX / plot are rendered from
the stored cells (:mod:`benchmarks.render`); the command line is :mod:`benchmarks.options`.  The
same command runs on several processes (``accelerate launch -m benchmarks.run ...``, ``torchrun
-m benchmarks.run ...``): they train and evaluate together (:mod:`symmflow.distributed`) and the
main process stores and renders.
Bad input gets one line naming the problem and the remedy, and exit status 2; Ctrl-C ends a run
with 130, SIGTERM (a cluster's preemption) with 143, a training under way saving its state first.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmarks import cost, parts, precision
from benchmarks.cells import Cell, RunOptions
from benchmarks.options import options_from
from benchmarks.store import NOT_COMPUTED, CellStore, is_skipped
from symmflow.distributed import close
from symmflow.errors import Terminated, UsageError
from symmflow.shell import CommandShell, RunSignals


def stored_state(record: dict | None) -> str:
    """What a dry run says of a cell with this stored record (a skipped cell is retried)."""
    if record is None:
        return "to compute"
    if is_skipped(record):
        return f"skipped earlier: {record.get('reason') or 'no reason recorded'}; will retry"
    return "stored"


def print_cost(spec, cells: list[Cell], todo: list[Cell], options: RunOptions, store: CellStore,
               experiments: dict, blocked: bool = False) -> dict | None:
    """What ``--dry-run`` prints for one table and seed: each cell's state and, for those to
    compute, their estimated cost; the trainings they need; the table's total and its spread
    (:mod:`benchmarks.cost`).  ``blocked``: a required input is missing, so nothing is estimated.
    Returns the totals (seconds, fastest, slowest, seconds per data set), None where not estimated."""
    trained_before, unestimated, estimates = set(options.ledger.trainings), None, {}
    if todo and not blocked:
        try:
            estimates = cost.estimate(spec, todo, replace(options, progress=False), experiments, options.progress)
        except UsageError as why:  # an input the requirements do not cover: the real run would stop here
            unestimated = str(why)
    for cell in cells:
        estimate = f"; {estimates[cell]}" if cell in estimates else ""
        print(f"{cell.label()} (seed {options.seed}): {stored_state(store.load(cell))}{estimate}")
    trained = [name for name in options.ledger.trainings if name not in trained_before]
    for name in trained:
        charged = options.ledger.trainings[name]
        print(f"table {spec.name} (seed {options.seed}) trains {name}: {charged['steps']:,} steps of about "
              f"{charged['step_s']:.3g} s (timed steps {charged['step_min_s']:.3g} - {charged['step_max_s']:.3g} s), "
              f"about {cost.hours(charged['seconds'])}")
    head = f"table {spec.name} (seed {options.seed}): {len(todo)} of {len(cells)} cells to compute"
    if blocked and todo:
        print(f"{head}; not estimated: a required input is missing (listed below)")
        return None
    if unestimated:
        print(f"{head}; not estimated: {unestimated}")
        return None
    seconds = sum(e.seconds for e in estimates.values())
    less, more = options.ledger.spread(trained)
    per_dataset: dict[str, float] = {}
    for cell, e in estimates.items():
        per_dataset[cell.dataset] = per_dataset.get(cell.dataset, 0.0) + e.seconds
    print(f"{head}, about {cost.hours(seconds)} on {options.device} ({cost.hours(seconds - less)} - "
          f"{cost.hours(seconds + more)} from the timed steps' spread){cost.gpu_hours(spec, estimates, options)}")
    return {"seconds": seconds, "low": seconds - less, "high": seconds + more, "per_dataset": per_dataset,
            "gpus": spec.gpus(options.profile)}


def run_table(spec, options: RunOptions, experiments: dict | None = None, show: bool = True,
              log: list | None = None, needs: list | None = None, totals: list | None = None,
              reports: list | None = None) -> list[Path]:
    """Compute the cells of one table that are not finished yet, for every seed, then report it
    (:func:`benchmarks.render.report.report`; ``show=False`` or ``--no-report``: only compute
    and store them, as a study over solvers does); ``log`` gets one entry per seed: what was computed and
    how long it took (:func:`write_run_record`), and ``reports`` the table's report.  Each stored cell is
    read once, by the run's store (:attr:`~benchmarks.cells.RunOptions.store`).  A dry run lists ``needs``
    (:mod:`benchmarks.requirements`) and appends its estimates to ``totals``."""
    from benchmarks import requirements
    from benchmarks.provenance import batch_split, provenance

    store, main = options.store, options.shard.is_main
    experiments = {} if experiments is None else experiments
    cells: list[Cell] = []
    for seed in options.seeds:
        at_seed = replace(options, seed=seed)
        at_this_seed = parts.select(spec, spec.cells(at_seed), at_seed)  # --datasets, --methods, --weights
        cells += at_this_seed
        todo = [] if options.render_only else [c for c in at_this_seed if options.force or not store.has(c)]
        if options.dry_run:
            needs = requirements.needs(spec, options) if needs is None else needs
            total = print_cost(spec, at_this_seed, todo, at_seed, store, experiments,
                               any(need.blocks for need in needs))
            if totals is not None and total is not None:
                totals.append(total)
            continue
        if main:
            print(f"table {spec.name}, seed {seed}: {len(at_this_seed)} cells, {len(todo)} to compute, "
                  f"{len(at_this_seed) - len(todo)} stored", file=sys.stderr)
        if todo:
            origin = provenance(options.device)

            def finish(cell: Cell, measured: dict, seed=seed) -> None:
                if not main:  # every process measured it; one stores it
                    return
                measured = dict(measured)
                preview = measured.pop("preview", None)  # drawn by rendering (benchmarks.render.grids)
                wall = measured.get("wall_s")
                samples = measured.get("samples")
                rate = samples / wall if samples and wall else None
                store.save(cell, {"status": "ok", "reason": "", "samples_per_s": rate, **measured,
                                  "seed": seed, "profile": options.profile,
                                  "solver": options.solver, **origin, **batch_split(spec, cell, options),
                                  **precision.record(spec, cell, options.profile),
                                  "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, preview)

            start = time.perf_counter()
            spec.compute(todo, at_seed, finish, experiments)
            if log is not None:
                records = [store.load(c) or {} for c in todo]
                log.append({"table": spec.name, "seed": seed, "cells": len(at_this_seed), "computed": len(todo),
                            "skipped": sum(is_skipped(r) for r in records), "wall_s": time.perf_counter() - start,
                            "train_s": sorted({round(r["train_s"]) for r in records if r.get("train_s")})})
    if options.dry_run:
        for need in needs if needs is not None else requirements.needs(spec, options):
            print(f"table {spec.name} needs: {need.line()}")
        return []
    if not main or not show or not options.write_report:
        return []
    from benchmarks.render.report import report

    table = report(spec, cells, [store.load(c) or NOT_COMPUTED for c in cells], options)
    if reports is not None:
        reports.append(table)
    return list(table.paths)


REFERENCE = Path(__file__).resolve().parent.parent / "results"
"""The committed results, one folder per profile: what a run elsewhere is compared with."""


def compare_with_reference(options: RunOptions, name: str) -> str | None:
    """One line comparing the cells of table ``name`` in ``options.out`` with the same cells
    (same settings, same seed) of the committed results of the profile, if any."""
    reference = REFERENCE / options.profile / f"table{name}.csv"
    ours = Path(options.out) / f"table{name}.csv"
    if not reference.is_file() or not ours.is_file() or reference.resolve() == ours.resolve():
        return None
    import pandas as pd

    columns = ["cell", "seed", "value", "status"]
    both = pd.read_csv(ours, usecols=columns).merge(pd.read_csv(reference, usecols=columns), on=["cell", "seed"],
                                                   suffixes=("", "_reference"))
    both = both[(both["status"] == "ok") & (both["status_reference"] == "ok")]
    if not len(both):
        return f"table {name}: none of its cells is among the committed {reference.relative_to(REFERENCE.parent)}"
    gap = (pd.to_numeric(both["value"]) - pd.to_numeric(both["value_reference"])).abs()
    return (f"table {name}: {len(both)} cells also in the committed {reference.relative_to(REFERENCE.parent)}; "
            f"largest difference {gap.max():.4g} (median {gap.median():.4g})")


def write_run_record(options: RunOptions, names: list[str], log: list[dict], started: str, argv) -> Path:
    """``<out>/runs/tables-<names>-seeds-<seeds>.md``: what this run computed, where and how long
    it took -- written by the run itself, beside the cells it describes; appended to the records
    of earlier runs of the same tables and seeds, whose cells may still be among the stored."""
    from benchmarks.provenance import provenance
    from symmflow.outputs import write_atomic

    origin = provenance(options.device)
    command = " ".join(["python -m benchmarks.run", *(sys.argv[1:] if argv is None else argv)])
    lines = [f"# Run of table(s) {', '.join(names)}, seed(s) {', '.join(map(str, options.seeds))}", "",
             f"- command: `{command}`", f"- commit: {origin['git_commit']}", f"- device: {origin['device']}",
             f"- machine: {origin['machine']}", f"- versions: {origin['versions']}",
             f"- started {started}, ended {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
             "", "| table | seed | cells | computed | of them skipped | wall (s) | training seconds of the networks "
             "behind them (trained in this run or loaded from the model cache) |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {e['table']} | {e['seed']} | {e['cells']} | {e['computed']} | {e['skipped']} | {e['wall_s']:.0f} | "
              f"{', '.join(map(str, e['train_s'])) or '-'} |" for e in log]
    path = Path(options.out) / "runs" / f"tables-{'-'.join(names)}-seeds-{'-'.join(map(str, options.seeds))}.md"
    earlier = path.read_text().rstrip("\n") + "\n" if path.is_file() else None
    write_atomic(path, "\n".join(lines) + "\n" if earlier is None else earlier + "\n".join(lines[1:]) + "\n")
    return path


def main(argv=None, available: dict | None = None) -> int:
    """The command; ``available`` replaces the table registry (name -> table), e.g. with tables
    built on other settings."""
    options = None

    def kept(why: BaseException) -> str:  # what an interrupt leaves: a dry run nothing, a run its finished cells
        if options is not None and options.dry_run:
            return "the dry run computed and wrote nothing"
        if isinstance(why, Terminated) and str(why):  # a training under way saved its state first (symmflow.train.fit)
            return f"{why}; finished cells are stored"
        return "finished cells are stored; rerun to compute the rest"

    with CommandShell(interrupted=kept, terminated=kept, signals=RunSignals,
                      unwritable="the finished cells are stored: free some space or fix the folder, then rerun to "
                                 "compute the rest") as shell:
        chosen, options = options_from(argv, available)
        options.set_threads()  # the work's threads, given back below
        if options.dry_run:  # every network of the run a timed stand-in, charged here
            options = replace(options, ledger=cost.Ledger())
        experiments: dict = {}  # what the chosen tables share in this run: data, trained networks, scores
        log: list[dict] = []
        reports: list = []  # each table's report, which the results page shows
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        if options.dry_run:
            return dry_run(chosen, options, experiments, argv)
        for spec in chosen:
            for path in run_table(spec, options, experiments, log=log, reports=reports):
                print(path)
        if log and options.shard.is_main:
            print(write_run_record(options, [spec.name for spec in chosen], log, started, argv))
        if log and options.shard.is_main and options.write_report:  # compared in the fresh tableN.csv
            for spec in chosen:
                line = compare_with_reference(options, spec.name)
                if line:
                    print(line, file=sys.stderr)
        if not options.dry_run and options.write_report and options.shard.is_main:
            from benchmarks.render import protocol
            from benchmarks.render.index import render_run_index

            if any(spec.name in protocol.TABLES for spec in chosen):
                print(protocol.write(options.out, options.profile))  # the authors' protocol beside this run's

            try:
                print(render_run_index(options.out, reports))
            except (OSError, ValueError) as error:  # the tables stand; only their index page failed
                print(f"error: the results page of {options.out} could not be written ({error}); "
                      f"the tables are stored: rerun python -m benchmarks.render.index --out {options.out}",
                      file=sys.stderr)
                return 2
    if shell.stopped:
        return shell.status
    close(options.shard, options.device)
    return 0


def dry_run(chosen: list, options: RunOptions, experiments: dict, argv) -> int:
    """``--dry-run``: every table's cells with their cost and needs, then the total with its
    spread and the load average it was made under; exit status 2, each missing required input on
    one line with its remedy, where one is missing (what cannot run is not estimated)."""
    from benchmarks import requirements
    from benchmarks.options import build_parser

    device_typed = build_parser().parse_args(argv).device
    load = os.getloadavg()
    totals: list[dict] = []
    missing: dict[str, list[str]] = {}
    for spec in chosen:
        needs = requirements.needs(spec, options, device_typed)
        for need in needs:
            if need.blocks:
                missing.setdefault(f"{need.what}: {need.missing}" if need.missing else need.what, []).append(spec.name)
        run_table(spec, options, experiments, needs=needs, totals=totals)
    if missing:
        for line, names in missing.items():
            print(f"missing (table {', '.join(names)}): {line}", file=sys.stderr)
        print(f"error: {len(missing)} required input(s) missing (above); the tables that need them were not "
              "estimated: supply them and rerun the dry run", file=sys.stderr)
        return 2
    seconds, low, high = (sum(t[k] for t in totals) for k in ("seconds", "low", "high"))
    per_dataset: dict[str, float] = {}
    counts: dict[str, int] = {}
    for t in totals:
        for dataset, s in t["per_dataset"].items():
            if dataset in t["gpus"]:
                per_dataset[dataset] = per_dataset.get(dataset, 0.0) + s
                counts[dataset] = t["gpus"][dataset]
    print(f"total: about {cost.hours(seconds)} on {options.device} on this machine ({cost.hours(low)} - "
          f"{cost.hours(high)} from the timed steps' spread){cost.on_gpus(counts, per_dataset)}; estimated under "
          f"a load average of {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1, 5, 15 min) on "
          f"{os.cpu_count()} CPU cores")
    if low > 0 and high / low > UNRELIABLE_SPREAD:
        print(f"warning: the timed steps' spread makes this estimate unreliable (the slowest {high / low:.1f}x the "
              f"fastest, more than {UNRELIABLE_SPREAD:g}x) under a load average of {load[0]:.2f}: rerun the dry run "
              "when the machine is idle", file=sys.stderr)
    return 0


UNRELIABLE_SPREAD = 2.0
"""A dry run whose total from the slowest timed steps exceeds this many times the total from the
fastest says, in one line, that the estimate is unreliable (another process competed for the cores)."""


if __name__ == "__main__":
    sys.exit(main())
