"""Threads under load: ``python -m studies.threads --out results/cpu``.

The cpu profile's networks -- the toy MLP (Table 1), the MNIST U-Net (Tables 3 and 11), the scene
U-Net (Tables 2, 4 and 5), each a training step, and one evaluation pass of the scene U-Net -- timed
under three set OpenMP configurations (one thread; two threads with OpenMP's default wait, which
spin before sleeping; two threads that yield, ``OMP_WAIT_POLICY=PASSIVE``) and as a run takes them
unless told: the wait policy an entry point chooses in that process beside that background
(:mod:`symmflow.threads`), on the table's thread count (one for the toy's MLP).  Each on an idle
machine and beside one and two busy processes at the lowest priority (``nice -n 19``) or, with
``--busy-nice 0``, at a user's own priority.  Every configuration runs in a fresh process (the
policy is read when torch loads its OpenMP runtime): the median of ``--steps`` steps after
``--warmup``, with a bootstrap interval on each ratio of medians.

Targets: beside one busy process a run's default at most 1.2x the best configuration; idle, at most
1.05x what a run took before the policy was chosen (:func:`before`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell
from symmflow.threads import CHOSEN, POLICY_VARIABLES, runnable_competitors

ROOT = Path(__file__).resolve().parent.parent
CASES = ("toy MLP training step", "MNIST U-Net training step", "scene U-Net training step",
         "scene U-Net evaluation pass")
YIELDING, SPINNING = "2 threads, yielding (OMP_WAIT_POLICY=PASSIVE)", "2 threads, spinning (OpenMP's default)"
DEFAULT = "the run's default (chosen at start)"
CONFIGS = {"1 thread": {"OMP_NUM_THREADS": "1"}, SPINNING: {"OMP_NUM_THREADS": "2"},
           YIELDING: {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}, DEFAULT: {}}
"""The configurations timed; the run's default is what an entry point chooses in that process, beside
that background (:func:`symmflow.threads.yield_while_waiting`), with the table's thread count."""
STRIPPED = ("OMP_NUM_THREADS", *POLICY_VARIABLES, CHOSEN)
"""Variables of this process's own choice, not passed on to the timed ones."""


def before(case: str) -> str:
    """The configuration a run took for ``case`` before the wait policy was chosen at start: one
    thread for the toy's MLP (Table 1's ``threads``, benchmarks/options.py ``thread_choice``), else
    torch's two, spinning."""
    return "1 thread" if case.startswith("toy") else SPINNING


def table_threads(case: str) -> int | None:
    """The thread count a run takes for ``case`` unless told: Table 1's one for the toy, else torch's."""
    return 1 if case.startswith("toy") else None


TARGETS = {"loaded": 1.2, "idle": 1.05}
"""Beside one busy process the default <= 1.2x the best configuration; idle <= 1.05x the old default."""
BUSY = "import os, sys; os.nice(int(sys.argv[1]))\nwhile True: pass"


def build(case: str):
    """``case``'s work as a call: a training step (AdamW) or an evaluation pass, on fixed inputs."""
    import torch

    from benchmarks.profiles import CPU_UNET, SEGSYNTH
    from symmflow.data.scenes import NUM_CLASSES
    from symmflow.models.mlp import ToyMLP
    from symmflow.models.pixel_unet import pixel_unet

    torch.manual_seed(0)
    if case.startswith("toy"):
        model, inputs = ToyMLP(), (torch.randn(10_000, 2), torch.randn(10_000, 1), torch.rand(10_000))

        def loss():
            vx, vy = model(*inputs)
            return vx.pow(2).mean() + vy.pow(2).mean()
    else:
        mnist = case.startswith("MNIST")
        channels, batch = (2, 64) if mnist else (3 + NUM_CLASSES, 32)
        model = pixel_unet(CPU_UNET if mnist else SEGSYNTH["cpu"].unet, channels, channels, 32)
        x, t = torch.randn(batch * (2 if case.endswith("pass") else 1), channels, 32, 32), torch.rand(batch)

        def loss():
            return model(x, t.repeat(len(x) // batch)).sample.pow(2).mean()
    if case.endswith("pass"):
        model.eval()
        return lambda: torch.no_grad()(loss)()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        optimizer.step()

    return step


def worker(case: str, steps: int, warmup: int, threads: int | None = None) -> None:
    """Time ``case`` in this process on ``threads`` (None: torch's count); print the step seconds,
    the threads and the wait policy as JSON."""
    import torch

    from symmflow.threads import wait_policy

    if threads is not None:
        torch.set_num_threads(threads)
    work = build(case)
    seconds = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        work()
        if i >= warmup:
            seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": seconds, "threads": torch.get_num_threads(), "policy": wait_policy()}))


def timed(case: str, config: str, steps: int, warmup: int, ours: tuple[int, ...] = ()) -> dict:
    """``case`` under ``config`` in a fresh process: its step seconds, threads and wait policy, and the
    cores other work than it and the busy processes ``ours`` held meanwhile (``foreign``).  A set
    configuration imports torch before anything of the project, so OpenMP reads the environment as
    given; the run's default imports the ``studies`` package first, as ``python -m studies...`` does."""
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    first = "import studies" if config == DEFAULT else "import torch"
    threads = table_threads(case) if config == DEFAULT else None
    code = f"{first}\nfrom studies.threads import worker\nworker({case!r}, {steps}, {warmup}, {threads!r})"
    process = subprocess.Popen([sys.executable, "-c", code], env={**env, **CONFIGS[config]}, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    foreign = foreign_cores(process, ours, interval=0.1)
    out, err = process.communicate()
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, code, out, err)
    return {**json.loads(out.strip().splitlines()[-1]), "foreign": foreign}


def family(root: int, proc: Path = Path("/proc")) -> set[int]:
    """``root`` and every process descended from it (parents read from ``/proc/<pid>/stat``)."""
    parents = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:
            parents[int(stat.parts[-2])] = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):  # the process ended while we looked
            continue
    found, grown = {root}, True
    while grown:
        grown = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grown = True
    return found


def foreign_cores(process: subprocess.Popen, ours: tuple[int, ...], interval: float) -> float:
    """The mean number of cores that runnable threads of other work than ``process`` (and the processes
    it started) and the busy processes ``ours`` held until ``process`` ended, a snapshot every
    ``interval`` seconds (:func:`symmflow.threads.runnable_competitors`, at any niceness)."""
    seen = []
    while process.poll() is None:
        mine = {*ours, *family(process.pid)}
        seen.append(sum(pid not in mine for pid in runnable_competitors(own_nice=19)))
        time.sleep(interval)
    return sum(seen) / len(seen) if seen else 0.0


@contextmanager
def busy(count: int, nice: int = 19):
    """``count`` busy processes at niceness ``nice`` (19: the lowest priority) for the block; their pids."""
    others = [subprocess.Popen([sys.executable, "-c", BUSY, str(nice)]) for _ in range(count)]
    try:
        time.sleep(0.5 if count else 0)
        yield tuple(process.pid for process in others)
    finally:
        for process in others:
            process.kill()
            process.wait()


def ratio(ours: list[float], theirs: list[float], draws: int = 2000, seed: int = 0) -> dict:
    """median(ours) / median(theirs) with a 95% bootstrap interval (the two resampled apart)."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(ours), np.asarray(theirs)
    boot = np.median(rng.choice(a, (draws, len(a))), 1) / np.median(rng.choice(b, (draws, len(b))), 1)
    return {"ratio": float(np.median(a) / np.median(b)), "low": float(np.quantile(boot, 0.025)),
            "high": float(np.quantile(boot, 0.975))}


def verdict(r: dict, target: float) -> str:
    return "met" if r["high"] <= target else "missed" if r["low"] > target else "within the noise"


TRIES, FOREIGN_LIMIT = 3, 0.25
"""A configuration is timed again (up to ``TRIES`` times in all) when other work than the study's held
more than ``FOREIGN_LIMIT`` of a core on average beside it: a shared machine's load, not the study's."""


def measure(loads=(0, 1, 2), steps: int = 8, warmup: int = 3, cases=CASES, progress: bool = True,
            nice: int = 19) -> list[dict]:
    rows = []
    runs = [(load, case, config) for load in loads for case in cases for config in CONFIGS]
    bar = tqdm(runs, desc="threads under load", disable=not progress)
    for load, case, config in bar:
        bar.set_postfix_str(f"{load} busy, {case}, {config.split(',')[0]}")
        for attempt in range(1, TRIES + 1):
            with busy(load, nice) as ours:
                run = timed(case, config, steps, warmup, ours)
            if run["foreign"] <= FOREIGN_LIMIT:
                break
        rows.append({"busy": load, "case": case, "config": config, **run, "attempts": attempt,
                     "median_ms": 1000 * float(np.median(run["seconds"]))})
    return rows


def judge(rows: list[dict]) -> list[dict]:
    """Per load and case: the run's default against the best configuration and against the one a run
    took before (:func:`before`); idle the target is on the latter, beside one busy process on the former."""
    out = []
    for load in sorted({r["busy"] for r in rows}):
        for case in dict.fromkeys(r["case"] for r in rows):
            at = {r["config"]: r for r in rows if r["busy"] == load and r["case"] == case}
            best = min(at.values(), key=lambda r: r["median_ms"])
            ours = at[DEFAULT]
            to_best, to_before = (ratio(ours["seconds"], at[c]["seconds"]) for c in (best["config"], before(case)))
            target, against = (TARGETS["idle"], to_before) if load == 0 else (TARGETS["loaded"], to_best)
            chosen = f"{ours['threads']} thread{'s' if ours['threads'] > 1 else ''}, {ours['policy']}"
            out.append({"busy": load, "case": case, "default": chosen, "best": best["config"], "to_best": to_best,
                        "to_before": to_before, "target": target,
                        "verdict": verdict(against, target) if load <= 1 else "no target"})
    return out


def markdown(rows: list[dict], judged: list[dict], origin: dict, steps: int, warmup: int, nice: int = 19,
             command: str = "python -m studies.threads --out results/cpu") -> str:
    lines = ["# Threads under load", "",
             f"Commit {origin['git_commit']}, {origin['device']} ({origin['machine']}), {origin['versions']}. "
             f"Each configuration in a fresh process, the median of {steps} steps after {warmup} warm-up steps; "
             f"busy processes are pure-Python loops at `nice -n {nice}`. Command: `{command}`.", "",
             "| busy processes | case | " + " | ".join(CONFIGS) + " | the default's choice | default / best | "
             "default / before | target |", "|---|---|" + "---|" * (len(CONFIGS) + 4)]
    for j in judged:
        at = {r["config"]: r for r in rows if r["busy"] == j["busy"] and r["case"] == j["case"]}
        shown = lambda r: f"{r['ratio']:.2f} [{r['low']:.2f}, {r['high']:.2f}]"  # noqa: E731
        aim = {0: f"<= {TARGETS['idle']} x before: {j['verdict']}",
               1: f"<= {TARGETS['loaded']} x best: {j['verdict']}"}.get(j["busy"], "-")
        lines.append(f"| {j['busy']} | {j['case']} | " + " | ".join(f"{at[c]['median_ms']:,.0f} ms" for c in CONFIGS)
                     + f" | {j['default']} | {shown(j['to_best'])} | {shown(j['to_before'])} | {aim} |")
    counted = [j["verdict"] for j in judged if j["verdict"] != "no target"]
    worst = max(rows, key=lambda r: r.get("foreign", 0.0))
    lines += ["", f"Other work than the study's beside a timed configuration: at most {worst.get('foreign', 0.0):.2f} "
              f"of a core on average in the runs kept (a run beside more than {FOREIGN_LIMIT} was timed again, up to "
              f"{TRIES} times; {sum(r.get('attempts', 1) > 1 for r in rows)} of {len(rows)} were).", "",
              f"Targets: {counted.count('met')} met, {counted.count('within the noise')} within the noise, "
              f"{counted.count('missed')} missed, of {len(counted)}. Before: one thread for the toy's MLP (Table 1's "
              "choice), else two spinning threads. The run's default: the same thread counts, with threads that "
              "yield where runnable threads of other processes at the run's priority or above held at least half a "
              "core at start (counted before torch loads, symmflow/threads.py), unless the user set a policy."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m studies.threads", description=first_paragraph(__doc__))
    p.add_argument("--out", type=Path, required=True, help="Folder for threads.md and threads.json.")
    p.add_argument("--steps", type=int, default=8, help="Timed steps per configuration (default 8).")
    p.add_argument("--warmup", type=int, default=3, help="Untimed steps first (default 3).")
    p.add_argument("--busy", default="0,1,2", help="Counts of busy processes, comma-separated (default 0,1,2).")
    p.add_argument("--cases", default="all", help="'all' or a comma-separated subset of: " + ", ".join(CASES) + ".")
    p.add_argument("--busy-nice", type=int, default=19, choices=range(0, 20), metavar="0-19",
                   help="Niceness of the busy processes (default 19, the lowest priority; 0: as a user's own work).")
    p.add_argument("--no-progress", action="store_true", help="No progress bar.")
    with CommandShell(interrupted="nothing was written") as shell:
        args = p.parse_args(argv)
        cases = CASES if args.cases == "all" else tuple(args.cases.split(","))
        unknown = [c for c in cases if c not in CASES]
        if unknown:
            raise UsageError(f"--cases: unknown case {unknown[0]!r}; choose from {', '.join(CASES)}")
        try:
            loads = tuple(int(n) for n in args.busy.split(","))
        except ValueError:
            raise UsageError(f"--busy {args.busy!r}: write counts of busy processes, e.g. 0,1,2") from None
        if args.steps < 2 or args.warmup < 0 or min(loads) < 0:
            raise UsageError("--steps must be at least 2, --warmup and --busy at least 0")
        from benchmarks.provenance import provenance
        from studies.records import as_given, write_record

        rows = measure(loads, args.steps, args.warmup, cases, not args.no_progress, args.busy_nice)
        judged = judge(rows)
        origin = provenance("cpu")
        return write_record(args.out, "threads", {"provenance": origin, "rows": rows, "judged": judged},
                            markdown(rows, judged, origin, args.steps, args.warmup, args.busy_nice,
                                     as_given("studies.threads", argv)))
    return shell.status


if __name__ == "__main__":
    sys.exit(main())
