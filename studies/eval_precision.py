"""The evaluation at bf16 against fp32, cell by cell: ``python -m studies.eval_precision --fp32 DIR
--bf16 DIR [--tables 3,5] [--seed 0] [--profile cpu] [--reference results/cpu] [--out FILE]``.

Reads the stored cells of two runs of ``benchmarks.run`` on the same trained networks (the second
from the first's model cache) -- ``--fp32 DIR``, the default precision, and ``--bf16 DIR``, the
same tables with ``--eval-precision bf16`` (either folder may be the other: the cells of the two
precisions are stored under different keys) -- and writes ``FILE`` (default
``<reference>/eval-precision.md``): per cell the fp32 value, the bf16 value and their difference
beside the seed-to-seed standard deviation of the committed cells (``<reference>/tableN.csv``),
each cell's own wall seconds at both precisions, and per table the evaluation wall time of each
run (its run record, ``DIR/runs/``: a run that trained its networks counts their training too,
which the record says), with the machine the runs were on.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell
from symmflow.outputs import write_atomic

ROW = ["dataset", "task", "method", "steps", "metric"]


def committed_spread(reference: Path, table: str) -> pd.DataFrame:
    """Per row of the committed ``tableN.csv`` (dataset, task, method, steps, metric): the cell
    key of each seed, the mean, sample sd and count of the finished values over the seeds."""
    path = Path(reference) / f"table{table}.csv"
    if not path.is_file():
        return pd.DataFrame(columns=[*ROW, "cell", "seed", "value", "sd", "n"])
    frame = pd.read_csv(path, dtype={"cell": str, "table": str})
    frame = frame[frame["status"] == "ok"].copy()
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame["steps"] = frame["steps"].astype("Int64")
    spread = frame.groupby(ROW, dropna=False)["value"].agg(sd=lambda v: v.std(ddof=1), n="count").reset_index()
    return frame[[*ROW, "cell", "seed", "value"]].merge(spread, on=ROW, how="left")


def run_walls(folder: Path, table: str, seed: int, precision: str, option: str = "--eval-precision") -> dict | None:
    """The latest run of ``table`` at ``seed`` and ``precision`` (its command's ``option``, fp32 where
    the command has none) in the run records of ``folder/runs/``: its command,
    start and end, wall seconds, cells computed and the training seconds of the networks behind them
    (trained in that run or loaded from the model cache); None where there is none."""
    found = None
    for path in sorted(Path(folder, "runs").glob("tables-*.md")):
        run: dict = {}
        for line in path.read_text().splitlines():
            if line.startswith("- command: "):
                run = {"command": line.removeprefix("- command: ").strip("`")}
            elif line.startswith("- started "):
                run["when"] = line.removeprefix("- ")
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if (len(cells) == 7 and cells[0] == table and cells[1] == str(seed) and cells[5].isdigit()
                    and _precision(run.get("command", ""), option) == precision):
                found = {**run, "wall_s": float(cells[5]), "computed": int(cells[3]), "train_s": cells[6],
                         "record": path.name}
    return found


def _precision(command: str, option: str = "--eval-precision") -> str:
    """The ``option`` of a ``benchmarks.run`` command line (fp32 where it has none)."""
    words = command.replace("=", " ").split()
    return words[words.index(option) + 1] if option in words[:-1] else "fp32"


def evaluated_at_bf16(spec, options) -> list:
    """The cells of table ``spec`` for ``options`` evaluated at bf16 (``--eval-precision bf16``)."""
    return spec.cells(replace(options, eval_precision="bf16"))


def compare(tables: list[str], fp32: Path, bf16: Path, profile: str, seed: int, reference: Path,
            at_bf16=evaluated_at_bf16, field: str = "eval_precision") -> list[dict]:
    """One row per cell of ``tables``: both precisions' records (the bf16 cells ``at_bf16(spec,
    options)``, their records' precision ``field``), the committed spread."""
    from benchmarks.cells import RunOptions
    from benchmarks.store import CellStore
    from benchmarks.tables import tables as registry

    rows = []
    known = registry()
    for name in tables:
        spec = known[name]
        options = RunOptions(profile=profile, seed=seed, seeds=(seed,))
        low = at_bf16(spec, options)
        spread = committed_spread(reference, name)
        for cell, cell_bf16 in zip(spec.cells(options), low):
            a, b = CellStore(fp32).load(cell) or {}, CellStore(bf16).load(cell_bf16) or {}
            if not a and not b:  # a cell neither run computed (e.g. a step count left out)
                continue
            at_seed = spread[spread["cell"] == cell.key]
            same = spread.merge(at_seed[ROW].head(1), on=ROW) if len(at_seed) else at_seed
            rows.append({"table": name, "dataset": cell.dataset, "method": cell.method, "steps": cell.steps,
                         "metric": cell.metric, "fp32": _value(a), "bf16": _value(b),
                         "fp32_wall_s": a.get("wall_s"), "bf16_wall_s": b.get("wall_s"),
                         "fp32_train_s": a.get("train_s"), "bf16_train_s": b.get("train_s"),
                         "bf16_precision": b.get(field),
                         "committed_seed": float(at_seed["value"].iloc[0]) if len(at_seed) else None,
                         "sd": float(same["sd"].iloc[0]) if len(same) and pd.notna(same["sd"].iloc[0]) else None,
                         "n": int(same["n"].iloc[0]) if len(same) else 0,
                         "device": a.get("device") or b.get("device"),
                         "versions": a.get("versions") or b.get("versions"),
                         "commits": sorted({str(r["git_commit"]) for r in (a, b) if r.get("git_commit")})})
    return rows


def _value(record: dict):
    return float(record["value"]) if record.get("status") == "ok" and record.get("value") is not None else None


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}g}"


def machine() -> str:
    """This machine in words (:mod:`benchmarks.provenance`): the CPU model and threads, its cores,
    the instruction-set features that matter, torch's kernels, the MKL / oneDNN builds, torch's version."""
    import torch

    from benchmarks.provenance import device_name, machine as details

    return f"{device_name('cpu')}; {details('cpu')}; torch {torch.__version__}"


def _difference(r: dict):
    return r["bf16"] - r["fp32"] if r["bf16"] is not None and r["fp32"] is not None else None


def summary_lines(rows: list[dict], walls: dict, tables: list[str]) -> list[str]:
    """Per table: the cells compared, how many moved by less than one committed seed-to-seed sd,
    the largest move in sds, and the wall time of each run (its run record)."""
    lines = ["| table | cells at both precisions | of them with a committed sd | moved < 1 sd | largest \\|d\\|/sd | "
             "evaluation wall fp32 (s) | evaluation wall bf16 (s) | fp32 / bf16 |", "|---|---|---|---|---|---|---|---|"]
    for table in tables:
        mine = [r for r in rows if r["table"] == table and _difference(r) is not None]
        spread = [r for r in mine if r["sd"]]
        moves = [abs(_difference(r)) / r["sd"] for r in spread]
        a, b = (None if w is None else w["eval_s"] for w in walls[table])
        ratio = a / b if a is not None and b else None
        lines.append(f"| {table} | {len(mine)} | {len(spread)} | {sum(m < 1 for m in moves)} | "
                     f"{_fmt(max(moves) if moves else None, 2)} | {_fmt(a, 4)} | {_fmt(b, 4)} | {_fmt(ratio, 3)} |")
    return lines


def cell_lines(rows: list[dict], seed: int, second: str = "bf16") -> list[str]:
    """One table row per compared cell: both values (the second run's headed ``second``), their
    difference, the committed cell of ``seed`` and its seed-to-seed sd, the difference in sds, and
    each cell's wall seconds."""
    lines = [f"| table | dataset | method | steps | metric | fp32 | {second} | {second} - fp32 | committed seed "
             f"{seed} | sd (n) | \\|d\\|/sd | wall fp32 (s) | wall {second} (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        diff = _difference(r)
        ratio = abs(diff) / r["sd"] if diff is not None and r["sd"] else None
        steps = "" if r["steps"] is None else str(r["steps"])
        lines.append(f"| {r['table']} | {r['dataset']} | {r['method']} | {steps} | {r['metric']} | "
                     f"{_fmt(r['fp32'])} | {_fmt(r['bf16'])} | {_fmt(diff, 3)} | {_fmt(r['committed_seed'])} | "
                     f"{_fmt(r['sd'], 3)} ({r['n']}) | {_fmt(ratio, 2)} | {_fmt(r['fp32_wall_s'], 3)} | "
                     f"{_fmt(r['bf16_wall_s'], 3)} |")
    return lines


TRAINED = {True: "yes", False: "no (model cache)", None: "-"}
"""Whether a run trained the networks behind its cells (None: not known)."""


def run_lines(walls: dict, tables: list[str]) -> list[str]:
    """One table row per run found (:func:`run_walls`): its command, when, wall time, cells computed
    and the training seconds of the networks behind them."""
    lines = ["| table | precision | command | when | wall (s) | cells computed | training seconds of the networks | "
             "trained in that run |", "|---|---|---|---|---|---|---|---|"]
    for table in tables:
        for precision, found in zip(("fp32", "bf16"), walls[table]):
            if found:
                lines.append(f"| {table} | {precision} | `{found.get('command', '')}` | {found.get('when', '')} | "
                             f"{_fmt(found['wall_s'], 4)} | {found['computed']} | {found['train_s']} | "
                             f"{TRAINED.get(found.get('trained'))} |")
    return lines


def markdown(rows: list[dict], walls: dict, args) -> str:
    devices = sorted({r["device"] for r in rows if r["device"]})
    versions = sorted({r["versions"] for r in rows if r["versions"]})
    commits = sorted({c for r in rows for c in r["commits"]})
    lines = ["# Evaluation at bf16 against fp32", "",
             f"Tables {', '.join(args.tables)} of the `{args.profile}` profile, seed {args.seed}: the same trained "
             f"networks (the bf16 run loads the fp32 run's model cache), evaluated once at fp32 and once with "
             f"`--eval-precision bf16` -- every network evaluation of the evaluated methods (the integrations of "
             f"classification, generation and segmentation, the Diffusion Classifier's evaluations, a baseline's "
             f"forward pass) under bf16 autocast, the weights fp32; the judges and feature networks that score "
             f"the samples stay fp32.", "",
             f"Machine: {machine()}; cells computed on {', '.join(devices) or 'unknown'} at commit(s) "
             f"{', '.join(commits) or 'unknown'}; {'; '.join(versions)}.", "",
             *([args.note, ""] if args.note else []),
             "## Summary", "",
             "`sd` is the seed-to-seed standard deviation of the committed cell (`tableN.csv` of the committed "
             "results). A table's evaluation wall time is its run's wall time (its run record, `runs/` of its "
             "folder: the commands under Runs below), less the training seconds of the networks where that "
             "run trained them (`--trained-in`).", "",
             *summary_lines(rows, walls, args.tables), "",
             "## Cells", "",
             "`n` is the committed seed count of the cell (none where only seed 0 has it); `|d|/sd` the "
             "difference in sds. Wall seconds are each cell's own measurement (cells that share one score -- "
             "the Frechet distances and the judge's accuracy of one set of samples, the footprint process of "
             "a class count -- share its time).", "",
             *cell_lines(rows, args.seed), "", "## Runs", "", *run_lines(walls, args.tables)]
    lines += ["", f"Written by `python -m studies.eval_precision {' '.join(args.argv)}`.", ""]
    return "\n".join(lines)


def add_cell_options(p, tables: str) -> None:
    """``--tables`` (default ``tables``), ``--seed``, ``--profile`` and ``--reference``: the cells a
    comparison reads and the committed spread it sets them against."""
    p.add_argument("--tables", default=tables, help=f"Comma-separated tables (default {tables}).")
    p.add_argument("--seed", type=int, default=0, help="The runs' seed (default 0).")
    p.add_argument("--profile", default="cpu", help="The runs' profile (default cpu).")
    p.add_argument("--reference", type=Path, default=Path("results/cpu"),
                   help="The committed results whose seed-to-seed spread the differences are set against "
                        "(default results/cpu).")


def add_record_options(p, name: str) -> None:
    """``--note`` and ``--out``, the record written (default ``<reference>/<name>``)."""
    p.add_argument("--note", default="", help="A sentence on the conditions of the runs (e.g. the machine's load).")
    p.add_argument("--out", type=Path, default=None, help=f"The record to write (default <reference>/{name}).")


def parse_comparison(p, argv):
    """The options parsed, with the command line as given (``argv``) and ``--tables`` as a list."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = p.parse_args(argv)
    args.argv = argv
    args.tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    return args


def check_cell_folders(*folders: Path) -> None:
    """Refuse a folder that holds no stored cells of a benchmarks.run."""
    for folder in folders:
        if not (folder / "cells").is_dir():
            raise UsageError(f"{folder} holds no stored cells (no cells/ folder); pass a benchmarks.run --out folder")


def write_comparison(args, name: str, markdown: str, record: dict) -> int:
    """The Markdown at ``--out`` (default ``<reference>/<name>``) and ``record`` beside it as JSON,
    each written whole; its path printed and 0 returned."""
    out = args.out or args.reference / name
    write_atomic(out, markdown)
    write_atomic(out.with_suffix(".json"), json.dumps(record, indent=1, default=str))
    print(out)
    return 0


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m studies.eval_precision", description=first_paragraph(__doc__))
    p.add_argument("--fp32", type=Path, required=True, help="The output folder of the fp32 run.")
    p.add_argument("--bf16", type=Path, required=True, help="The output folder of the --eval-precision bf16 run.")
    add_cell_options(p, "3,5")
    p.add_argument("--trained-in", default="", metavar="PRECISIONS",
                   help="The run(s) that trained the networks, fp32 and/or bf16 comma-separated: their training "
                        "seconds are taken off their wall time (default: none, both ran from the model cache).")
    add_record_options(p, "eval-precision.md")
    with CommandShell() as shell:
        args = parse_comparison(p, argv)
        args.trained_in = {t.strip() for t in args.trained_in.split(",") if t.strip()}
        if args.trained_in - {"fp32", "bf16"}:
            raise UsageError(f"--trained-in {','.join(sorted(args.trained_in))}: name fp32 and/or bf16")
        check_cell_folders(args.fp32, args.bf16)
        rows = compare(args.tables, args.fp32, args.bf16, args.profile, args.seed, args.reference)
    if shell.stopped:
        return shell.status
    walls = {t: (run_walls(args.fp32, t, args.seed, "fp32"), run_walls(args.bf16, t, args.seed, "bf16"))
             for t in args.tables}
    for pair in walls.values():
        for precision, found in zip(("fp32", "bf16"), pair):
            if found is not None:
                found["trained"] = precision in args.trained_in
                trained = sum(float(v) for v in found["train_s"].split(",") if v.strip().replace(".", "").isdigit())
                found["eval_s"] = found["wall_s"] - (trained if found["trained"] else 0.0)
    return write_comparison(args, "eval-precision.md", markdown(rows, walls, args), {"rows": rows, "walls": walls})


if __name__ == "__main__":
    sys.exit(main())
