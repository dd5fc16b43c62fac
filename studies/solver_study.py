"""Which ODE solver reaches the paper's 25-step Euler result with the fewest network evaluations:
``python -m studies.solver_study --profile cpu``.

Tables 11 (accuracy), 5 (mIoU) and 4 (FD) of a profile are computed through the harness for
each solver -- Euler, midpoint and Heun on a grid of step counts, dopri5 at two tolerances --
so every point is a stored cell with its provenance (the solver is part of a cell's identity;
the tables' own files are not rewritten).  Writes ``<out>/solver-study.{csv,md,png}``: metric
against counted NFE per solver, and per table the cheapest solver whose result matches 25-step
Euler (accuracy and mIoU within 0.5 points, FD within 5%).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from benchmarks.options import options_from
from benchmarks.run import run_table
from benchmarks.store import CellStore
from symmflow.outputs import write_atomic
from symmflow.errors import UsageError
from symmflow.shell import CommandShell

SOLVERS = {"euler": (1, 2, 5, 10, 25, 50), "midpoint": (1, 2, 5, 12), "heun": (1, 2, 5, 12),
           "dopri5:1e-3": (1,), "dopri5:1e-5": (1,)}
"""Solver -> step counts (an adaptive solver chooses its own; one cell)."""
STUDIED = {"11": ("SymmFlow", "accuracy"), "5": ("SymmFlow", "mIoU"), "4": ("SymmFlow", None)}
"""Table -> (method, metric): the SymmFlow row each table is judged on (None: its Frechet distance)."""


def study(argv: list[str], chosen: list[str]) -> pd.DataFrame:
    """Every (table, solver, steps) cell of SymmFlow, computed or loaded; one row each."""
    from benchmarks.render.tables import frame

    rows = []
    for name in chosen:
        experiments: dict = {}
        for solver, steps in SOLVERS.items():  # the table as the options make it (its training precision)
            (spec,), options = options_from(["--table", name, "--solver", solver, "--steps",
                                             ",".join(map(str, steps)), *argv])
            options.set_threads()  # as benchmarks.run does before its work
            run_table(spec, options, experiments, show=False)
            cells = spec.cells(options)
            df = frame(cells, [CellStore(options.out).load(c) or {} for c in cells], spec.name)
            method, metric = STUDIED[name]
            df = df[(df["method"] == method) & (df["task"] != "footprint")]
            df = df[df["metric"] == metric] if metric else df[df["metric"].str.startswith(("FID", "FD-"))]
            rows.append(df.assign(solver=solver, study_table=name))
    return pd.concat(rows, ignore_index=True)


def cheapest(df: pd.DataFrame) -> list[dict]:
    """Per table: 25-step Euler's value, the solver point with the fewest NFE that matches it (the
    closest of equally cheap ones) and the one with the fewest NFE that is at least as good
    (higher accuracy or mIoU, lower FD)."""
    found = []
    for name, group in df.groupby("study_table", sort=False):
        _, metric = STUDIED[name]
        euler = group[(group["solver"] == "euler") & (group["steps"] == 25)].iloc[0]
        if metric is not None:  # accuracy, mIoU: points
            close = (group["value"] - euler["value"]).abs() <= 0.5
            good = group["value"] >= euler["value"]
        else:  # a Frechet distance: relative
            close = (group["value"] / euler["value"] - 1).abs() <= 0.05
            good = group["value"] <= euler["value"]
        gap = (group["value"] - euler["value"]).abs()
        best = group[close].assign(gap=gap).sort_values(["nfe_per_sample", "gap"], kind="stable").iloc[0]
        better = group[good].sort_values("nfe_per_sample", kind="stable").iloc[0]
        found.append({"table": name, "metric": euler["metric"], "euler_25": euler["value"],
                      "cheapest_solver": best["solver"], "steps": best["steps"], "nfe": best["nfe_per_sample"],
                      "value": best["value"],
                      "cheapest_at_least_as_good": f"{better['solver']}, {better['steps']} steps",
                      "its_nfe": better["nfe_per_sample"], "its_value": better["value"]})
    return found


def plot(df: pd.DataFrame, path: Path) -> None:
    from matplotlib.figure import Figure

    from benchmarks.render.figures import png_bytes

    names = list(dict.fromkeys(df["study_table"]))
    fig = Figure(figsize=(4.5 * len(names), 3.8))
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names):
        group = df[df["study_table"] == name]
        for solver, points in group.groupby("solver", sort=False):
            points = points.sort_values("nfe_per_sample")
            ax.plot(points["nfe_per_sample"], points["value"], marker="o", label=solver)
        ax.set(xscale="log", xlabel="NFE per sample", ylabel=group["metric"].iloc[0], title=f"Table {name}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    write_atomic(path, png_bytes(fig))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python -m studies.solver_study", *argv])
    with CommandShell() as shell:
        if any(a.split("=")[0] in ("--table", "--solver", "--steps", "--seeds", "--train-steps") for a in argv):
            raise UsageError("the solver study chooses --table, --solver and --steps itself and studies the "
                             "profile's own networks; pass --tables 11,5,4 and the other options of benchmarks.run")
        chosen = ["11", "5", "4"]
        if "--tables" in argv:
            at = argv.index("--tables")
            chosen = [t for t in argv[at + 1].split(",") if t] if at + 1 < len(argv) else []
            argv = argv[:at] + argv[at + 2:]
            if not chosen or any(t not in STUDIED for t in chosen):
                raise UsageError(f"--tables: choose from {', '.join(STUDIED)}, comma-separated")
        _, options = options_from(["--table", chosen[0], *argv])
        df = study(argv, chosen)
    if shell.stopped:
        return shell.status
    out = Path(options.out)
    keep = ["study_table", "dataset", "method", "metric", "solver", "steps", "nfe_per_sample", "value", "seed",
            "git_commit", "device", "cell"]
    write_atomic(out / "solver-study.csv", df[[c for c in keep if c in df]].to_csv(index=False))
    plot(df, out / "solver-study.png")
    best = pd.DataFrame(cheapest(df))
    lines = [f"# Solvers against NFE (Tables {', '.join(chosen)} of the {options.profile} profile)", "",
             f"Command: `{command}`; every point is a stored cell "
             "(`cells/`), computed on the profile's trained networks. A solver matches 25-step Euler when its "
             "accuracy or mIoU is within 0.5 points of it, or its Frechet distance within 5%; it is at least as good "
             "when its accuracy or mIoU is not lower, or its Frechet distance not higher.", "",
             "![metric against NFE](solver-study.png)", "", best.to_markdown(index=False, floatfmt=".4g"), "",
             df[["study_table", "metric", "solver", "steps", "nfe_per_sample", "value"]]
             .to_markdown(index=False, floatfmt=".4g"), ""]
    write_atomic(out / "solver-study.md", "\n".join(lines))
    print(out / "solver-study.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
