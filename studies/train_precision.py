"""Training at bf16 against the committed fp32 cells, cell by cell: ``python -m studies.train_precision
--bf16 DIR [--fp32 DIR] [--control DIR] [--tables 1,5] [--seed 0] [--profile cpu] [--reference results/cpu]
[--note TEXT] [--out FILE]``.

Reads the stored cells of a run of ``benchmarks.run --precision bf16`` (``--bf16 DIR``: every network
trained there at bf16 autocast, the weights and optimiser state fp32, and evaluated at fp32) and of the
fp32 cells it is set against (``--fp32 DIR``, default the committed results, ``--reference``), and
writes ``FILE`` (default ``<reference>/train-precision.md`` and ``.json``): per cell both values and
their difference beside the committed seed-to-seed standard deviation -- the comparison of
:mod:`studies.eval_precision`, whose parts this reuses -- and per table the training seconds of the
networks behind the cells at each precision, the runs' records and the machine.  ``--control DIR``, a
fresh fp32 run of the same tables and seed, is set against the same cells the same way: how far
retraining at fp32 alone moves a cell (today's libraries, another run's thread timing), the floor a
bf16 difference is read against.
"""

from __future__ import annotations

import sys
from pathlib import Path

from studies.eval_precision import (_difference, _fmt, add_cell_options, add_record_options, cell_lines,
                                    check_cell_folders, compare, machine, parse_comparison, run_lines,
                                    run_walls, write_comparison)
from symmflow.errors import OneLineParser, first_paragraph
from symmflow.shell import CommandShell


def trained_at_bf16(spec, options) -> list:
    """The cells of table ``spec`` for ``options`` with every network trained at bf16 (``--precision bf16``)."""
    from benchmarks.precision import table_at

    return table_at(spec, options.profile, "bf16", options.device)[0].cells(options)


def training_seconds(rows: list[dict], precision: str) -> float | None:
    """The training seconds of the networks behind ``rows`` at ``precision``: the sum of their
    distinct ``train_s`` (cells of one network share it)."""
    found = {round(float(r[f"{precision}_train_s"]), 3) for r in rows if r.get(f"{precision}_train_s") is not None}
    return sum(found) if found else None


def fp32_cells(spec, options) -> list:
    """The cells of table ``spec`` at its profile's fp32 (a control run's, :func:`compare`)."""
    return spec.cells(options)


def summary_lines(rows: list[dict], tables: list[str], second: str = "bf16") -> list[str]:
    """Per table: the cells compared, how many moved by less than one committed seed-to-seed sd, the
    largest move in sds, and the training seconds of each run (the second's headed ``second``)."""
    lines = ["| table | cells in both runs | of them with a committed sd | moved < 1 sd | largest \\|d\\|/sd | "
             f"training fp32 (s) | training {second} (s) | fp32 / {second} |", "|---|---|---|---|---|---|---|---|"]
    for table in tables:
        mine = [r for r in rows if r["table"] == table]
        both = [r for r in mine if _difference(r) is not None]
        moves = [abs(_difference(r)) / r["sd"] for r in both if r["sd"]]
        a, b = training_seconds(both, "fp32"), training_seconds(both, "bf16")  # the networks behind cells of both
        lines.append(f"| {table} | {len(both)} | {len(moves)} | {sum(m < 1 for m in moves)} | "
                     f"{_fmt(max(moves) if moves else None, 2)} | {_fmt(a, 4)} | {_fmt(b, 4)} | "
                     f"{_fmt(a / b if a and b else None, 3)} |")
    return lines


def verdict(rows: list[dict]) -> str:
    """What the comparison says, from its rows: whether every cell with a committed sd moved by less
    than one sd, and which cells could not be judged (no committed spread, or missing at a precision)."""
    both = [r for r in rows if _difference(r) is not None]
    judged = [r for r in both if r["sd"]]
    outside = [r for r in judged if abs(_difference(r)) >= r["sd"]]
    unjudged = len(rows) - len(judged)
    named = "; ".join(f"table {r['table']} {r['method']} {r['metric']}"
                      + (f" @ {r['steps']}" if r["steps"] is not None else "")
                      + f" ({_fmt(abs(_difference(r)) / r['sd'], 2)} sd)" for r in outside)
    return (f"{len(judged) - len(outside)} of the {len(judged)} cells with a committed seed-to-seed sd moved by less "
            f"than one sd" + (f"; moved by one sd or more: {named}" if outside else "") +
            (f". {unjudged} cell(s) have no committed sd or no value at one precision and are not judged"
             if unjudged else "") + ".")


def markdown(rows: list[dict], walls: dict, args, control: list[dict] | None = None) -> str:
    devices = sorted({r["device"] for r in rows if r["device"]})
    commits = sorted({c for r in rows for c in r["commits"]})
    versions = sorted({r["versions"] for r in rows if r["versions"]})
    lines = ["# Training at bf16 against fp32", "",
             f"Table{'s' if len(args.tables) > 1 else ''} {', '.join(args.tables)} of the `{args.profile}` profile, "
             f"seed {args.seed}: every network "
             f"trained with `--precision bf16` (bf16 autocast; the weights, their gradients and the optimiser's "
             f"state fp32; benchmarks/precision.py) and evaluated at fp32, set against the fp32 "
             f"cells of `{args.fp32}`. The judges and feature networks that score samples stay fp32.", "",
             f"Machine: {machine()}; cells computed on {', '.join(devices) or 'unknown'} at commit(s) "
             f"{', '.join(commits) or 'unknown'}; {'; '.join(versions)}.", "",
             *([args.note, ""] if args.note else []),
             "## Summary", "",
             "`sd` is the seed-to-seed standard deviation of the committed cell (`tableN.csv` of the committed "
             "results). Training seconds are those of the networks behind the table's cells as their records "
             "state them (each network once), measured in different runs at different loads of the machine (the "
             "Runs below); the step-for-step speed of the two precisions in one process is in perf-peak.md.", "",
             *summary_lines(rows, args.tables), "", f"Verdict: {verdict(rows)}", "",
             "## Cells", "",
             "`n` is the committed seed count of the cell (none where only seed 0 has it); `|d|/sd` the "
             "difference in sds. Wall seconds are each cell's own evaluation.", "",
             *cell_lines(rows, args.seed), "",
             *(["## A fresh fp32 run against the same cells", "",
                f"`{args.control}`: every network retrained at fp32 with today's code and libraries, set against "
                f"the cells above as the bf16 run is -- the difference retraining alone makes.", "",
                *summary_lines(control, args.tables, "rerun"), "", f"Verdict: {verdict(control)}", "",
                *cell_lines(control, args.seed, "rerun"), ""] if control else []),
             "## Runs", "", *run_lines(walls, args.tables),
             "", f"Written by `python -m studies.train_precision {' '.join(args.argv)}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m studies.train_precision", description=first_paragraph(__doc__))
    p.add_argument("--bf16", type=Path, required=True, help="The output folder of the --precision bf16 run.")
    p.add_argument("--fp32", type=Path, default=None,
                   help="The output folder of the fp32 cells (default: the --reference folder's committed cells).")
    p.add_argument("--control", type=Path, default=None,
                   help="The output folder of a fresh fp32 run of the same tables and seed (default: none).")
    add_cell_options(p, "1,5")
    add_record_options(p, "train-precision.md")
    with CommandShell() as shell:
        args = parse_comparison(p, argv)
        args.fp32 = args.fp32 or args.reference
        check_cell_folders(args.fp32, args.bf16, *([args.control] if args.control else []))
        rows = compare(args.tables, args.fp32, args.bf16, args.profile, args.seed, args.reference,
                       at_bf16=trained_at_bf16, field="train_precision")
        control = None if args.control is None else compare(args.tables, args.fp32, args.control, args.profile,
                                                             args.seed, args.reference, at_bf16=fp32_cells,
                                                             field="train_precision")
    if shell.stopped:
        return shell.status
    runs = args.control or args.fp32  # the fp32 run whose records name its training (the control, where given)
    walls = {t: (run_walls(runs, t, args.seed, "fp32", "--precision"),
                 run_walls(args.bf16, t, args.seed, "bf16", "--precision")) for t in args.tables}
    for table, (first, found) in walls.items():  # the bf16 run (and a control) trained every network it used
        for run in (found, *([first] if args.control else [])):
            if run is not None:
                run["trained"] = True
    return write_comparison(args, "train-precision.md", markdown(rows, walls, args, control),
                            {"rows": rows, "control": control, "walls": walls})


if __name__ == "__main__":
    sys.exit(main())
