"""Kill and resume, measured: ``python -m benchmarks.reliability --out results/cpu``.

Two studies, each against an uninterrupted run of the same command:

* training: a SymmFlow classifier (the smoke profile's network on the bundled digits, 40 steps,
  a checkpoint every 4) is killed with SIGKILL at a random moment and started again; it
  resumes from its latest checkpoint and must end with bitwise the same weights;
* tables: ``python -m benchmarks.run --table 11 --profile smoke`` is killed at a random moment
  and run again; every cell must end with the value of the uninterrupted run.

Then two processes against one (:mod:`benchmarks.processes`) and the catalogue of bad inputs
and faults (``tests/test_bad_input*.py``, each case's message as the test run verified it).

Writes ``<out>/reliability.{json,md}`` with every kill point and what the rerun found.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.provenance import provenance
from benchmarks.render_records import reliability_markdown
from symmflow.outputs import write_atomic
from symmflow.errors import OneLineParser, UsageError

ROOT = Path(__file__).resolve().parent.parent
TRAIN = """
import sys, torch
from pathlib import Path
from benchmarks.methods import Problem
from benchmarks.methods.symmflow import SymmFlowMethod
from benchmarks.profiles import CLASSIFICATION
from symmflow.data.mnist import bundled_mnist
from symmflow.data.streams import epoch_batches
from symmflow.train import TrainConfig, fit

run_dir = Path(sys.argv[1])
s = CLASSIFICATION["smoke"][0]
method = SymmFlowMethod(Problem("mnist", 1, 32, 10, s.unet), s.symmflow)
torch.manual_seed(0)
images, labels = bundled_mnist("train")
config = TrainConfig(steps=40, lr=1e-3, batch_size=16, schedule="onecycle", warmup_steps=4, ema_decay=0.99,
                     checkpoint_every=4, log_every=4)
result = fit(method.build(), method.loss, epoch_batches(images, labels, batch_size=16, seed=0), config,
             device="cpu", run_dir=run_dir, progress=False)
torch.save(result.model.state_dict(), run_dir / "final.pt")
"""
TABLE = ["-m", "benchmarks.run", "--table", "11", "--profile", "smoke", "--device", "cpu", "--no-progress"]


def _run(args: list[str], kill_after: float | None = None, env: dict | None = None) -> tuple[int, float]:
    """Run ``python args`` (killed with SIGKILL after ``kill_after`` seconds) with one thread, or
    with ``env`` and the process's own thread choice; (exit code, seconds)."""
    start = time.perf_counter()
    inherited = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL,
                               env={**inherited, **({"OMP_NUM_THREADS": "1"} if env is None else env)})
    try:
        code = process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        code = process.wait()
    return code, time.perf_counter() - start


def training_kills(work: Path, kills: int, rng: random.Random) -> dict:
    import torch

    from symmflow.train import latest_checkpoint

    straight = work / "train-straight"
    _, seconds = _run(["-c", TRAIN, str(straight)])
    reference = torch.load(straight / "final.pt", weights_only=True)
    rows = []
    for i in range(kills):
        run_dir = work / f"train-kill-{i}"
        after = rng.uniform(0.6, 0.97) * seconds  # most of the first 60% is importing
        _run(["-c", TRAIN, str(run_dir)], kill_after=after)
        found = latest_checkpoint(run_dir) if run_dir.exists() else None
        code, _ = _run(["-c", TRAIN, str(run_dir)])
        final = torch.load(run_dir / "final.pt", weights_only=True) if code == 0 else {}
        rows.append({"killed_after_s": round(after, 2), "resumed_from_step": found[0] if found else 0,
                     "finished": code == 0,
                     "bitwise_equal": code == 0 and all(torch.equal(v, final[k]) for k, v in reference.items())})
    return {"uninterrupted_s": seconds, "runs": rows}


def table_kills(work: Path, kills: int, rng: random.Random) -> dict:
    straight = work / "table-straight"
    _, seconds = _run([*TABLE, "--out", str(straight)])
    reference = pd.read_csv(straight / "table11.csv").set_index("cell")["value"]
    rows = []
    for i in range(kills):
        out = work / f"table-kill-{i}"
        after = rng.uniform(0.2, 0.95) * seconds
        _run([*TABLE, "--out", str(out)], kill_after=after)
        stored = len(list((out / "cells").glob("*/*.json"))) if out.exists() else 0
        code, _ = _run([*TABLE, "--out", str(out)])
        values = pd.read_csv(out / "table11.csv").set_index("cell")["value"] if code == 0 else None
        rows.append({"killed_after_s": round(after, 2), "cells_stored_at_kill": stored, "finished": code == 0,
                     "values_equal": values is not None and values.sort_index().equals(reference.sort_index()),
                     "stray_files": sorted(p.name for p in out.rglob(".*"))})
    return {"uninterrupted_s": seconds, "cells": len(reference), "runs": rows}


LOAD = ["-m", "benchmarks.run", "--table", "1", "--profile", "cpu", "--device", "cpu", "--no-progress"]


def side_by_side(work: Path) -> dict:
    """Table 1 from an empty model cache alone (with the harness's thread choice, and with two
    threads), then two such runs started together: the seconds of each."""
    alone = _run([*LOAD, "--out", str(work / "alone")], env={})[1]
    two_threads = _run([*LOAD, "--out", str(work / "alone-2"), "--threads", "2"], env={})[1]
    inherited = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    processes = [subprocess.Popen([sys.executable, *LOAD, "--out", str(work / f"pair-{i}")], cwd=ROOT, env=inherited,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
    start = time.perf_counter()
    ends = {}
    while len(ends) < 2:
        for i, process in enumerate(processes):
            if i not in ends and process.poll() is not None:
                ends[i] = time.perf_counter() - start
        time.sleep(0.2)
    from benchmarks.tables.toy import TABLE

    return {"command": "python " + " ".join(LOAD[1:]), "alone": alone, "alone_two_threads": two_threads,
            "side_by_side": [ends[0], ends[1]], "threads": TABLE.threads, "cores": os.cpu_count()}


def bad_inputs(work: Path) -> list[dict]:
    """The bad-input catalogue's cases as its test run verified them (case, command, message):
    every ``tests/test_bad_input*.py``."""
    report = work / "bad-inputs.json"
    files = [str(path) for path in sorted((ROOT / "tests").glob("test_bad_input*.py"))]
    code, _ = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", *files, "--bad-input-report", str(report)])
    if code != 0:
        raise RuntimeError("the bad-input catalogue failed; run python -m pytest tests/test_bad_input*.py")
    return json.loads(report.read_text())


def main(argv=None) -> int:
    try:
        p = OneLineParser(prog="python -m benchmarks.reliability", description=__doc__.splitlines()[0])
        p.add_argument("--out", type=Path, default=Path("results/cpu"))
        p.add_argument("--kills", type=int, default=5, help="kill points per study (default 5)")
        p.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
        args = p.parse_args(argv)
        if args.kills <= 0:
            raise UsageError(f"--kills {args.kills}: use a positive number, e.g. 5")
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from benchmarks.processes import study

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as work:
        record = {"training": training_kills(Path(work), args.kills, rng),
                  "tables": table_kills(Path(work), args.kills, rng),
                  "processes": study(Path(work) / "processes"), "load": side_by_side(Path(work)),
                  "bad_inputs": bad_inputs(Path(work)),
                  "seed": args.seed, "provenance": provenance("cpu")}
    write_atomic(args.out / "reliability.json", json.dumps(record, indent=1))
    write_atomic(args.out / "reliability.md", reliability_markdown(record))
    print(args.out / "reliability.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
