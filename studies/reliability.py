"""Kill and resume, measured: ``python -m studies.reliability --out results/cpu``.

Two studies, each against an uninterrupted run of the same command:

* training: a SymmFlow classifier (the smoke profile's network on the bundled digits, 40 steps,
  a checkpoint every 4) is killed with SIGKILL at a random moment and started again; it
  resumes from its latest checkpoint and must end with bitwise the same weights;
* tables: ``python -m benchmarks.run --table 11 --profile smoke`` is killed at a random moment
  and run again; every cell must end with the value of the uninterrupted run.

Then two processes against one (:mod:`studies.processes`), two table runs side by side against
one alone, and the catalogue of bad inputs and faults as the test run verified it
(``python -m pytest tests/test_bad_input*.py --bad-input-report FILE``, passed with
``--catalogue FILE``: the study itself runs no tests).

Writes ``<out>/reliability.{json,md}`` with every kill point and what the rerun found.
"""

from __future__ import annotations

import argparse
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
from symmflow.outputs import MARKER, write_atomic
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ["-m", "studies.reliability", "--train-worker"]
"""The training the kills interrupt: this module's :func:`train_worker` in a process of its own."""


def train_worker(run_dir: Path) -> None:
    """SymmFlow on the bundled digits (the smoke profile's network), 40 steps of 16, a checkpoint
    every 4 steps in ``run_dir``; resumes from its latest checkpoint; the final weights to
    ``run_dir/final.pt``."""
    import torch

    from benchmarks.methods import Problem
    from benchmarks.methods.symmflow import SymmFlowMethod
    from benchmarks.profiles import CLASSIFICATION
    from symmflow.data.mnist import bundled_mnist
    from symmflow.data.streams import epoch_batches
    from symmflow.train import TrainConfig, fit

    s = CLASSIFICATION["smoke"][0]
    method = SymmFlowMethod(Problem("mnist", 1, 32, 10, s.unet), s.symmflow)
    torch.manual_seed(0)
    images, labels = bundled_mnist("train")
    config = TrainConfig(steps=40, lr=1e-3, batch_size=16, schedule="onecycle", warmup_steps=4, ema_decay=0.99,
                         checkpoint_every=4, log_every=4)
    result = fit(method.build(), method.loss, epoch_batches(images, labels, batch_size=16, seed=0), config,
                 device="cpu", run_dir=run_dir, progress=False)
    torch.save(result.model.state_dict(), run_dir / "final.pt")
KILLED_TABLE = ["-m", "benchmarks.run", "--table", "11", "--profile", "smoke", "--device", "cpu", "--no-progress"]


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
    _, seconds = _run([*TRAIN, str(straight)])
    reference = torch.load(straight / "final.pt", weights_only=True)
    rows = []
    for i in range(kills):
        run_dir = work / f"train-kill-{i}"
        after = rng.uniform(0.6, 0.97) * seconds  # most of the first 60% is importing
        _run([*TRAIN, str(run_dir)], kill_after=after)
        found = latest_checkpoint(run_dir) if run_dir.exists() else None
        code, _ = _run([*TRAIN, str(run_dir)])
        final = torch.load(run_dir / "final.pt", weights_only=True) if code == 0 else {}
        rows.append({"killed_after_s": round(after, 2), "resumed_from_step": found[0] if found else 0,
                     "finished": code == 0,
                     "bitwise_equal": code == 0 and all(torch.equal(v, final[k]) for k, v in reference.items())})
    return {"uninterrupted_s": seconds, "runs": rows}


def table_kills(work: Path, kills: int, rng: random.Random) -> dict:
    straight = work / "table-straight"
    _, seconds = _run([*KILLED_TABLE, "--out", str(straight)])
    reference = pd.read_csv(straight / "table11.csv").set_index("cell")["value"]
    rows = []
    for i in range(kills):
        out = work / f"table-kill-{i}"
        after = rng.uniform(0.2, 0.95) * seconds
        _run([*KILLED_TABLE, "--out", str(out)], kill_after=after)
        stored = len(list((out / "cells").glob("*/*.json"))) if out.exists() else 0
        code, _ = _run([*KILLED_TABLE, "--out", str(out)])
        values = pd.read_csv(out / "table11.csv").set_index("cell")["value"] if code == 0 else None
        rows.append({"killed_after_s": round(after, 2), "cells_stored_at_kill": stored, "finished": code == 0,
                     "values_equal": values is not None and values.sort_index().equals(reference.sort_index()),
                     "stray_files": sorted(p.name for p in out.rglob(".*"))})
    return {"uninterrupted_s": seconds, "cells": len(reference), "runs": rows}


LOAD = ["-m", "benchmarks.run", "--table", "1", "--profile", "cpu", "--device", "cpu", "--no-progress"]


def side_by_side(work: Path) -> dict:
    """Table 1 from an empty model cache alone (with the harness's thread choice, and with two
    threads), then two such runs started together: the seconds of each."""
    load_average = os.getloadavg()[0]  # what else the machine was running when the study began
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
    from benchmarks.tables.toy import TABLE1

    return {"command": "python " + " ".join(LOAD[1:]), "load_average_before": load_average,
            "alone": alone, "alone_two_threads": two_threads,
            "side_by_side": [ends[0], ends[1]], "threads": TABLE1.threads, "cores": os.cpu_count()}


def bad_inputs(catalogue: Path) -> list[dict]:
    """The bad-input catalogue's cases as its test run verified them (case, command, message),
    from the file ``python -m pytest tests/test_bad_input*.py --bad-input-report FILE`` wrote."""
    try:
        cases = json.loads(Path(catalogue).read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read the catalogue {catalogue} ({error}); write it with python -m pytest "
                         f"tests/test_bad_input*.py --bad-input-report {catalogue}") from None
    if not isinstance(cases, list) or not all(isinstance(c, dict) and "case" in c for c in cases):
        raise UsageError(f"{catalogue} is not a catalogue of cases; write it with python -m pytest "
                         f"tests/test_bad_input*.py --bad-input-report {catalogue}")
    return cases


def reliability_markdown(record: dict) -> str:
    """The kill-and-resume record (``python -m studies.reliability``)."""
    training, tables = record["training"], record["tables"]
    ok_training = sum(r["finished"] and r["bitwise_equal"] for r in training["runs"])
    # the model cache's (empty) lock files and the outputs' markers are kept by design, not strays
    strays = [[name for name in r["stray_files"] if not name.endswith(".lock") and name != MARKER]
              for r in tables["runs"]]
    ok_tables = sum(r["finished"] and r["values_equal"] and not s for r, s in zip(tables["runs"], strays))
    lines = ["# Reliability: kill and resume, two processes, load, bad input", "",
             f"Rendered at commit {record['provenance']['git_commit']} (each part names its own where it was measured "
             f"at another), {record['provenance']['device']}; kill moments drawn "
             f"with seed {record['seed']}; command: `python -m studies.reliability`.", "",
             f"## Training: {ok_training} of {len(training['runs'])} resumed to bitwise the same weights", "",
             "SymmFlow on the bundled digits (the smoke profile's network), 40 steps of 16, a checkpoint every "
             f"4 steps; killed with SIGKILL, then started again. Uninterrupted: {training['uninterrupted_s']:.1f} s."
             + _at(training),
             "", "| killed after (s) | resumed from step | finished | weights bitwise equal |", "|---|---|---|---|"]
    lines += [f"| {r['killed_after_s']} | {r['resumed_from_step']} | {r['finished']} | {r['bitwise_equal']} |"
              for r in training["runs"]]
    lines += ["", f"## Tables: {ok_tables} of {len(tables['runs'])} finished with every value of the "
              "uninterrupted run", "",
              f"`python -m benchmarks.run --table 11 --profile smoke` ({tables['cells']} cells, "
              f"{tables['uninterrupted_s']:.1f} s uninterrupted) killed with SIGKILL, then run again."
              + _at(tables), "",
              "| killed after (s) | cells stored at the kill | finished | values equal | stray files |",
              "|---|---|---|---|---|"]
    lines += [f"| {r['killed_after_s']} | {r['cells_stored_at_kill']} | {r['finished']} | {r['values_equal']} | "
              f"{', '.join(s) or 'none'} |" for r, s in zip(tables["runs"], strays)]
    if "processes" in record:
        lines += _processes_markdown(record["processes"])
    if "load" in record:
        lines += _load_markdown(record["load"])
    if "bad_inputs" in record:
        lines += _bad_inputs_markdown(record["bad_inputs"])
    return "\n".join(lines) + "\n"


def _processes_markdown(found: dict) -> list[str]:
    training, evaluation = found["training"], found["evaluation"]
    alone = evaluation["single"]
    lines = ["", "## Two processes against one (gloo on CPU, `torchrun --standalone --nproc-per-node 2`)", "",
             "A small regression network trained data-parallel (8 rows per process and step, AdamW, one-cycle, EMA; "
             "`studies/processes.py`), and a stand-in evaluation of 7 batches sharded 4 / 3." + _at(found), "",
             "| check | found |", "|---|---|",
             f"| parameters bitwise equal on both ranks | {training['ranks_bitwise_equal']} |",
             f"| largest difference to one process on the same 16-row batches | "
             f"{training['max_diff_to_one_process']:.2e} (all-reduce rounding; training moved the parameters by up "
             f"to {training['moved_by_training']:.2f}) |",
             f"| largest difference of one process accumulating two halves of 8 | "
             f"{training['max_diff_accumulated_to_one_process']:.2e} |"]
    for rank, sharded in enumerate(evaluation["sharded"]):
        lines.append(f"| rank {rank}: mIoU / FD / samples, sharded against one process | "
                     f"{sharded['miou']:.6f} / {sharded['fd']:.6f} / {sharded['samples']} against "
                     f"{alone['miou']:.6f} / {alone['fd']:.6f} / {alone['samples']} |")
    return lines


def _bad_inputs_markdown(cases: list[dict]) -> list[str]:
    refused = [c for c in cases if c["exit_status"] in (2, 130, 143)]
    clean = sum(c["nothing_written"] for c in refused)
    recomputed = [c for c in cases if c["exit_status"] == 0]
    lines = ["", f"## Bad input and faults: {len(cases)} catalogued cases", "",
             f"{clean} of {len(refused)} refusals got one line, exit status 2 (130 for an interrupt, 143 for "
             "SIGTERM to the harness) and nothing "
             f"written; {len(recomputed)} cases of damaged stored state were named in one line, moved aside and "
             "recomputed. Every case of `tests/test_bad_input*.py` as verified by the test run (`python -m pytest "
             "tests/test_bad_input*.py --bad-input-report FILE`); `<tmp>` is the test's folder.", "",
             "| case | command | exit status | message |", "|---|---|---|---|"]
    lines += [f"| {c['case']} | `{c['command']}` | {c['exit_status']} | {c['message'].replace('|', '/')} |"
              for c in cases]
    return lines


def _at(part: dict) -> str:
    return f" Commit {part['commit']}." if "commit" in part else ""


def _other_load(load: dict) -> str:
    """What else ran: the one-minute load average when the study began, as recorded."""
    if "load_average_before" not in load:
        return "what else ran was not recorded"
    return f"load average {load['load_average_before']:.2f} when it began: 0 is an idle machine"


def _load_markdown(load: dict) -> list[str]:
    alone, pair = load["alone"], load["side_by_side"]
    worst = max(pair) / alone
    return ["", "## Load: two table runs side by side", "",
            f"`{load['command']}` with an empty model cache (training included), on a machine of {load['cores']} "
            f"cores ({_other_load(load)}): alone {alone:.0f} s with the thread choice of `benchmarks.run` "
            f"({load['threads']} thread(s)), {load['alone_two_threads']:.0f} s alone with `--threads 2`; two started "
            f"together took {pair[0]:.0f} s and {pair[1]:.0f} s, at most {worst:.2f} x one alone." + _at(load), ""]



PARTS = ("training", "tables", "processes", "load")


def earlier(path: Path) -> dict:
    """The parts of an earlier record in the same folder (none where it is missing or damaged)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {part: record[part] for part in PARTS if isinstance(record, dict) and isinstance(record.get(part), dict)}


def main(argv=None) -> int:
    with CommandShell() as shell:
        p = OneLineParser(prog="python -m studies.reliability", description=first_paragraph(__doc__))
        p.add_argument("--out", type=Path, default=Path("runs/cpu"),
                       help="Where reliability.{json,md} go (default: runs/cpu; the committed record: results/cpu).")
        p.add_argument("--catalogue", type=Path, default=None,
                       help="The bad-input catalogue the test run wrote (python -m pytest tests/test_bad_input*.py "
                            "--bad-input-report FILE); required.")
        p.add_argument("--kills", type=int, default=5, help="Kill points per study (default 5).")
        p.add_argument("--seed", type=int, default=0, help="Seed of the kill moments (default 0).")
        p.add_argument("--parts", default=",".join(PARTS),
                       help=f"Which studies to run, comma-separated (default: all of {', '.join(PARTS)}); the others "
                            "keep their rows of an earlier record in --out.")
        p.add_argument("--train-worker", type=Path, default=None, help=argparse.SUPPRESS)
        args = p.parse_args(argv)
        if args.train_worker is not None:  # the process the training kills interrupt
            train_worker(args.train_worker)
            return 0
        if args.catalogue is None:
            raise UsageError("pass --catalogue FILE, written by python -m pytest tests/test_bad_input*.py "
                             "--bad-input-report FILE")
        if args.kills <= 0:
            raise UsageError(f"--kills {args.kills}: use a positive number, e.g. 5")
        cases = bad_inputs(args.catalogue)
        parts = [part.strip() for part in args.parts.split(",") if part.strip()]
        if not parts or set(parts) - set(PARTS):
            raise UsageError(f"--parts {args.parts!r}: choose from {', '.join(PARTS)}")
    if shell.stopped:
        return shell.status
    from studies.processes import study

    rng = random.Random(args.seed)
    studies = {"training": lambda work: training_kills(work, args.kills, rng),
               "tables": lambda work: table_kills(work, args.kills, rng),
               "processes": lambda work: study(work / "processes"), "load": side_by_side}
    record, origin = earlier(args.out / "reliability.json"), provenance("cpu")  # the code as the study starts
    with tempfile.TemporaryDirectory() as work:
        for part in parts:
            record[part] = {**studies[part](Path(work)), "commit": origin["git_commit"]}
    record.update(bad_inputs=cases, seed=args.seed, provenance=origin)
    write_atomic(args.out / "reliability.json", json.dumps(record, indent=1))
    write_atomic(args.out / "reliability.md", reliability_markdown(record))
    print(args.out / "reliability.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
