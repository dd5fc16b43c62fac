"""Reproduce the paper's tables: ``python -m benchmarks.run --table 1 [--profile cpu]``.

Each table is a grid of cells (:mod:`benchmarks.cells`); a finished cell is stored at once
(:mod:`benchmarks.store`), a rerun skips stored cells (``--force`` recomputes them; cells stored
as skipped are retried on every run), and the CSV / Markdown / LaTeX / plot are rendered from
the stored cells (:mod:`benchmarks.render`).  The same command runs on several processes
(``accelerate launch -m benchmarks.run ...``, ``torchrun -m benchmarks.run ...``): they train
and evaluate together (:mod:`symmflow.distributed`) and the main process stores and renders.
Bad input gets one line naming the problem and the remedy, and exit status 2.
"""

from __future__ import annotations

import copy
import importlib
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks import judges, profiles
from benchmarks.cells import PROFILES, Cell, RunOptions
from benchmarks.store import CellStore, is_skipped
from symmflow.device import resolve_device
from symmflow.distributed import close, launched
from symmflow.errors import OneLineParser, UsageError
from symmflow.solver import METHODS, parse_method

#: Each table's module under benchmarks.tables and its attribute, imported only when asked for.
TABLES = {"1": ("toy", "TABLE"), "2": ("segsynth", "TABLE2"), "3": ("classification", "TABLE3"),
          "4": ("segsynth", "TABLE4"), "5": ("segsynth", "TABLE5"), "11": ("classification", "TABLE11")}


class _LazyTables(dict):
    """Table name -> spec, importing a table's module on first access."""

    def __missing__(self, name):
        module, attribute = TABLES[name]
        spec = getattr(importlib.import_module(f"benchmarks.tables.{module}"), attribute)
        self[name] = spec
        return spec

    def __iter__(self):
        return iter(TABLES)

    def __contains__(self, name):
        return name in TABLES

    def values(self):
        return [self[name] for name in TABLES]


def tables() -> dict:
    """The tables this harness can run, by name."""
    return _LazyTables()


def parse_steps(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise UsageError(f"--steps {text!r} is not a comma-separated list of integers, e.g. --steps 1,2,5") from None
    if not steps or min(steps) <= 0:
        raise UsageError(f"--steps {text!r}: every step count must be a positive integer, e.g. --steps 1,2,5")
    return steps


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise UsageError(f"--seeds {text!r} is not a comma-separated list of integers, e.g. --seeds 0,1,2") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r}: give distinct non-negative integers, e.g. --seeds 0,1,2")
    return seeds


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise UsageError(f"cannot write to the output folder {out} ({error.strerror}); "
                         "pass a writable folder with --out") from None


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--table", required=True, help="table number, a comma-separated list (2,4,5), or 'all' for every table")
    p.add_argument("--profile", default="cpu", help="smoke (seconds), cpu (default; minutes, offline data), "
                   "paper (the paper's settings: GPUs, local datasets and weights)")
    p.add_argument("--seed", type=int, default=0, help="seed of training and evaluation (default 0)")
    p.add_argument("--seeds", type=parse_seeds, default=None,
                   help="several seeds, e.g. 0,1,2: each table is computed per seed and shown as mean +- sd")
    p.add_argument("--steps", type=parse_steps, default=None, help="override the table's step counts, e.g. 1,2,5")
    p.add_argument("--train-steps", type=int, default=None,
                   help="train every network for this many steps instead of the profile's budget (a short check "
                        "of a profile; stored apart from its full-budget networks and cells)")
    p.add_argument("--solver", default="euler", help=f"ODE solver: {', '.join(METHODS)}; an adaptive one may carry "
                   "its tolerance, e.g. dopri5:1e-3 (default: euler, the paper's)")
    p.add_argument("--device", default="auto", help="auto (the GPU when there is one), cpu, cuda or cuda:N")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: results/<profile>)")
    p.add_argument("--data-root", type=Path, default=Path("data"),
                   help="folder of the data sets that are not bundled, in their published layouts: "
                        "MNIST/raw, cifar-10-batches-py, CelebAMask-HQ/, COCO-Stuff/ (default: data/)")
    p.add_argument("--force", action="store_true", help="recompute cells that are already stored")
    p.add_argument("--dry-run", action="store_true", help="list the cells and what they need; compute nothing")
    p.add_argument("--pretrained", type=Path, default=None,
                   help="Stable Diffusion 2.1 folder in diffusers layout (paper profile)")
    p.add_argument("--inception-dir", type=Path, default=None,
                   help="folder holding clean-fid's inception-2015-12-05.pt (FID; else a local Frechet distance)")
    p.add_argument("--lpips-dir", type=Path, default=None,
                   help="folder holding torchvision's alexnet-owt-7be5be79.pth (LPIPS)")
    p.add_argument("--judge-weights", action="append", metavar="KIND=PATH",
                   help="a judge of generated images instead of the run's own (segmenter: Tables 2, 4; classifier: "
                        "Table 3): a TorchScript module, images in [-1, 1] -> logits; repeat for both kinds")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def check_judges(supplied: dict, chosen: list, profile: str) -> None:
    """Every supplied judge is used by a chosen table and fits the images it will judge."""
    probes: dict[str, list] = {}
    for spec in chosen:
        for kind, probe in getattr(spec, "judge_probes", lambda _: [])(profile):
            probes.setdefault(kind, []).append(probe)
    for kind, path in supplied.items():
        if kind not in probes:
            raise UsageError(f"--judge-weights {kind}={path}: none of the chosen tables judges generated images with "
                             f"a {kind} (segmenter: tables 2, 4; classifier: table 3)")
        judges.check(kind, path, probes[kind])


def options_from(argv, available: dict | None = None) -> tuple[list, RunOptions]:
    args = build_parser().parse_args(argv)
    available = tables() if available is None else available
    if args.table == "all":
        chosen = list(available.values())
    else:
        names = [n.strip() for n in args.table.split(",") if n.strip()]
        unknown = [n for n in names if n not in available]
        if unknown or not names:
            raise UsageError(f"unknown table {args.table!r}; choose from {', '.join(available)}, "
                             "a comma-separated list of them, or all")
        chosen = [available[n] for n in names]
    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; choose from {', '.join(PROFILES)}")
    if args.train_steps is not None:
        if args.train_steps <= 0:
            raise UsageError(f"--train-steps {args.train_steps}: use a positive number of steps, "
                             "e.g. --train-steps 300")
        chosen = [with_train_steps(spec, args.profile, args.train_steps) for spec in chosen]
    try:
        parse_method(args.solver)
    except ValueError as error:
        raise UsageError(str(error)) from None
    supplied = judges.parse(args.judge_weights)
    check_judges(supplied, chosen, args.profile)
    device = resolve_device(args.device)
    out = args.out or Path("results") / args.profile
    if not args.dry_run:
        check_writable(out)
    if args.seed < 0:
        raise UsageError(f"--seed {args.seed}: use a non-negative integer, e.g. --seed 0")
    seeds = args.seeds or (args.seed,)
    options = RunOptions(profile=args.profile, seed=seeds[0], seeds=seeds, steps=args.steps, solver=args.solver,
                         train_steps=args.train_steps, device=device, out=out, force=args.force,
                         progress=not args.no_progress, dry_run=args.dry_run, data_root=args.data_root,
                         pretrained=args.pretrained, inception_dir=args.inception_dir, lpips_dir=args.lpips_dir,
                         judges=supplied, shard=launched())
    return chosen, options


def with_train_steps(spec, profile: str, steps: int):
    """A copy of table ``spec`` whose ``profile`` trains every network for ``steps``."""
    shorter = copy.copy(spec)
    shorter.settings = {**spec.settings, profile: profiles.with_train_steps(spec.settings[profile], steps)}
    return shorter


def stored_state(record: dict | None) -> str:
    """What a dry run says of a cell with this stored record (a skipped cell is retried)."""
    if record is None:
        return "to compute"
    if is_skipped(record):
        return f"skipped earlier: {record.get('reason') or 'no reason recorded'}; will retry"
    return "stored"


def run_table(spec, options: RunOptions, experiments: dict | None = None, show: bool = True,
              log: list | None = None) -> list[Path]:
    """Compute the cells of one table that are not finished yet, for every seed, then render it
    (``show=False``: only compute and store them, as a study over solvers does); ``log`` gets
    one entry per seed: what was computed and how long it took (:func:`write_run_record`)."""
    from benchmarks.provenance import provenance
    from benchmarks.render import render

    store, main = CellStore(options.out), options.shard.is_main
    experiments = {} if experiments is None else experiments
    cells: list[Cell] = []
    for seed in options.seeds:
        at_seed = replace(options, seed=seed)
        mine = spec.cells(at_seed)
        cells += mine
        todo = [c for c in mine if options.force or not store.has(c)]
        if options.dry_run:
            for cell in mine:
                print(f"{cell.label()} (seed {seed}): {stored_state(store.load(cell))}")
            continue
        if main:
            print(f"table {spec.name}, seed {seed}: {len(mine)} cells, {len(todo)} to compute, "
                  f"{len(mine) - len(todo)} stored", file=sys.stderr)
        if todo:
            origin = provenance(options.device)

            def finish(cell: Cell, measured: dict, seed=seed) -> None:
                if not main:  # every process measured it; one stores it
                    return
                wall = measured.get("wall_s")
                samples = measured.get("samples")
                rate = samples / wall if samples and wall else None
                store.save(cell, {"status": "ok", "reason": "", "samples_per_s": rate, **measured,
                                  "seed": seed, "profile": options.profile,
                                  "solver": options.solver, **origin,
                                  "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})

            start = time.perf_counter()
            spec.compute(todo, at_seed, finish, experiments)
            if log is not None:
                records = [store.load(c) or {} for c in todo]
                log.append({"table": spec.name, "seed": seed, "cells": len(mine), "computed": len(todo),
                            "skipped": sum(is_skipped(r) for r in records), "wall_s": time.perf_counter() - start,
                            "train_s": sorted({round(r["train_s"]) for r in records if r.get("train_s")})})
    if options.dry_run:
        for need in spec.needs(options):
            print(f"table {spec.name} needs: {need}")
        return []
    if not main or not show:
        return []
    return render(spec, cells, [store.load(c) for c in cells], options)


def write_run_record(options: RunOptions, names: list[str], log: list[dict], started: str, argv) -> Path:
    """``<out>/runs/tables-<names>-seeds-<seeds>.md``: what this run computed, where and how long
    it took -- written by the run itself, beside the cells it describes."""
    from benchmarks.provenance import provenance
    from benchmarks.store import write_atomic

    origin = provenance(options.device)
    command = " ".join(["python -m benchmarks.run", *(sys.argv[1:] if argv is None else argv)])
    lines = [f"# Run of table(s) {', '.join(names)}, seed(s) {', '.join(map(str, options.seeds))}", "",
             f"- command: `{command}`", f"- commit: {origin['git_commit']}", f"- device: {origin['device']}",
             f"- versions: {origin['versions']}", f"- started {started}, ended {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
             "", "| table | seed | cells | computed | of them skipped | wall (s) | training seconds of the networks "
             "behind them (trained in this run or loaded from the model cache) |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {e['table']} | {e['seed']} | {e['cells']} | {e['computed']} | {e['skipped']} | {e['wall_s']:.0f} | "
              f"{', '.join(map(str, e['train_s'])) or '-'} |" for e in log]
    path = Path(options.out) / "runs" / f"tables-{'-'.join(names)}-seeds-{'-'.join(map(str, options.seeds))}.md"
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def main(argv=None, available: dict | None = None) -> int:
    """The command; ``available`` replaces the table registry (name -> table), e.g. with tables
    built on other settings."""
    try:
        chosen, options = options_from(argv, available)
        experiments: dict = {}  # what the chosen tables share in this run: data, trained networks, scores
        log: list[dict] = []
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        for spec in chosen:
            for path in run_table(spec, options, experiments, log=log):
                print(path)
        if log and options.shard.is_main:
            print(write_run_record(options, [spec.name for spec in chosen], log, started, argv))
        if not options.dry_run and options.shard.is_main:
            from benchmarks.index import render_index, titles_from_markdown

            try:
                print(render_index(options.out, titles_from_markdown(options.out)))
            except (OSError, ValueError) as error:  # the tables stand; only their index page failed
                print(f"error: the results page of {options.out} could not be written ({error}); "
                      f"the tables are stored: rerun python -m benchmarks.index --out {options.out}", file=sys.stderr)
                return 2
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished cells are stored; rerun to compute the rest", file=sys.stderr)
        return 130
    close(options.shard, options.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
