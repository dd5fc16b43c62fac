"""Markdown of the study records: the design comparisons and the integrator's overhead.

Each study module (:mod:`benchmarks.classification_design`, :mod:`benchmarks.segmentation_design`,
:mod:`benchmarks.perf`) defines and runs its measurements; what a reader sees of
their stored records is written here.
"""

from __future__ import annotations

import json
from pathlib import Path

from symmflow.outputs import write_atomic


def classification_design_markdown(record: dict, curves: list[dict]) -> str:
    from benchmarks.classification_design import CURVE_BACKBONE, CURVE_STEPS

    lines = ["# How the cpu profile's classifier was chosen", ""]
    if record:
        lines += [f"Machine: {record['provenance']['device']}; commit {record['provenance']['git_commit']}.", "",
                  "## Candidate backbones (medians after warm-up)", "",
                  "| backbone | parameters | train step, batch 64 (s) | inference (images/s) |", "|---|---|---|---|"]
        for name, m in record["backbones"].items():
            lines.append(f"| {name} | {m['parameters']:,} | {m['train_step_s']:.3f} | {m['images_per_s']:.0f} |")
        lines += ["", f"## Designs on the same budget ({record['train_steps']} steps of 64, backbone "
                  f"'{record['backbone']}', bundled MNIST, 1,000 held-out digits)", "",
                  "| design | 1-step accuracy (%) | final loss | train (s) |", "|---|---|---|---|"]
        for name, m in record["designs"].items():
            lines.append(f"| {name} | {m['accuracy_1_step']:.1f} | {m['final_loss']:.4f} | {m['train_s']:.0f} |")
    if curves:
        steps = " / ".join(str(k) for k in CURVE_STEPS)
        lines += ["", "## Designs scored on the whole step curve", "",
                  f"Accuracy (%) on the 1,000 held-out digits at {steps} Euler steps; backbone "
                  f"'{record.get('backbone', CURVE_BACKBONE)}', steps of 64 at lr 1e-3 (one-cycle, EMA 0.999). The paper's "
                  "claim at its operating point: accuracy at 25 steps at least the 1-step one.", "",
                  f"| design | budget | seed | accuracy at {steps} steps | 25 - 1 | train (s) | commit |",
                  "|---|---|---|---|---|---|---|"]
        for r in curves:
            accs = " / ".join(f"{r[f'accuracy_{k}']:.1f}" for k in CURVE_STEPS)
            lines.append(f"| {r['name']} | {r['train_steps']:,} | {r['seed']} | {accs} | "
                         f"{r['accuracy_25'] - r['accuracy_1']:+.1f} | {r['train_s']:.0f} | "
                         f"{r['provenance']['git_commit']} |")
    return "\n".join(lines) + "\n"


def write_classification_summary(out: Path, order: list[str]) -> None:
    file = out / "classification-design.json"
    record = json.loads(file.read_text()) if file.is_file() else {}
    curves = [json.loads(f.read_text()) for f in sorted((out / "classification-design").glob("*.json"))]
    curves.sort(key=lambda r: (order.index(r["name"]) if r["name"] in order else len(order), r["seed"]))
    write_atomic(out / "classification-design.md", classification_design_markdown(record, curves))


def _curve(record: dict) -> str:
    """mIoU along the design study's curve where the record has it (older records: 1 and 25 only)."""
    from benchmarks.segmentation_design import CURVE

    return " / ".join(f"{record[f'miou_{k}']:.1f}" if f"miou_{k}" in record else "-" for k in CURVE)


def segmentation_design_markdown(records: list[dict]) -> str:
    from benchmarks.segmentation_design import SEMFLOW_FD, SS_MIOU, trains_own_peers

    lines = ["# How SymmFlow's settings were compared on the scene set", "",
             "The authors' settings on the scene set (1,200 steps of 32 scenes, lr 5e-4, base-32 pixel "
             "U-Net, seed 0) with the settings each row names changed; mIoU with the background ignored, "
             "FD in the scene-set network. SS and SemFlow: the cross-entropy U-Net and the retrained "
             f"SemFlow of the row's own budget and learning rate ({SS_MIOU} mIoU and FD {SEMFLOW_FD} on the "
             "base budget, Table 2 at 769ee19); the targets are SymmFlow's mIoU >= 0.85 x SS and its FD "
             "below SemFlow's. Training seconds are comparable only between rows of the same device and "
             "the same number of designs run at once.", "",
             "| design | mIoU, 1 step | SS | / SS | mIoU, 25 steps | FD-scenenet, 25 steps | SemFlow's FD "
             "| mIoU at 1 / 2 / 5 / 25 steps | train (s) | device | commit |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        ss = r.get("ss_miou", SS_MIOU)
        semflow_fd = r.get("semflow_fd_25", None if trains_own_peers(r["changes"]) else SEMFLOW_FD)
        lines.append(f"| {r['design']} | {r['miou_1']:.1f} | {ss:.1f} | {r['miou_1'] / ss:.2f} | "
                     f"{r['miou_25']:.1f} | {r['fd_25']:.3f} | "
                     f"{'not measured' if semflow_fd is None else f'{semflow_fd:.3f}'} | {_curve(r)} | "
                     f"{r['train_s']:.0f} | "
                     f"{r['provenance']['device']} | {r['provenance']['git_commit']} |")
    return "\n".join(lines) + "\n"


def write_segmentation_summary(out: Path, order: list[str]) -> None:
    """``<out>/segmentation-design.md`` from every stored design record, in ``order`` of names."""
    records = [json.loads(f.read_text()) for f in sorted((out / "segmentation-design").glob("*.json"))]
    records.sort(key=lambda r: (order.index(r["design"]) if r["design"] in order else len(order),
                                r["provenance"]["device"]))
    write_atomic(out / "segmentation-design.md", segmentation_design_markdown(records))


def reliability_markdown(record: dict) -> str:
    """The kill-and-resume record (``python -m benchmarks.reliability``)."""
    training, tables = record["training"], record["tables"]
    ok_training = sum(r["finished"] and r["bitwise_equal"] for r in training["runs"])
    # the model cache's (empty) lock files are kept by design, not strays
    strays = [[name for name in r["stray_files"] if not name.endswith(".lock")] for r in tables["runs"]]
    ok_tables = sum(r["finished"] and r["values_equal"] and not s for r, s in zip(tables["runs"], strays))
    lines = ["# Reliability: kill and resume, two processes, load, bad input", "",
             f"Commit {record['provenance']['git_commit']}, {record['provenance']['device']}; kill moments drawn "
             f"with seed {record['seed']}; command: `python -m benchmarks.reliability`.", "",
             f"## Training: {ok_training} of {len(training['runs'])} resumed to bitwise the same weights", "",
             "SymmFlow on the bundled digits (the smoke profile's network), 40 steps of 16, a checkpoint every "
             f"4 steps; killed with SIGKILL, then started again. Uninterrupted: {training['uninterrupted_s']:.1f} s.",
             "", "| killed after (s) | resumed from step | finished | weights bitwise equal |", "|---|---|---|---|"]
    lines += [f"| {r['killed_after_s']} | {r['resumed_from_step']} | {r['finished']} | {r['bitwise_equal']} |"
              for r in training["runs"]]
    lines += ["", f"## Tables: {ok_tables} of {len(tables['runs'])} finished with every value of the "
              "uninterrupted run", "",
              f"`python -m benchmarks.run --table 11 --profile smoke` ({tables['cells']} cells, "
              f"{tables['uninterrupted_s']:.1f} s uninterrupted) killed with SIGKILL, then run again.", "",
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
             "`benchmarks/processes.py`), and a stand-in evaluation of 7 batches sharded 4 / 3.", "",
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
    refused = [c for c in cases if c["exit_status"] in (2, 130)]
    clean = sum(c["nothing_written"] for c in refused)
    recomputed = [c for c in cases if c["exit_status"] == 0]
    lines = ["", f"## Bad input and faults: {len(cases)} catalogued cases", "",
             f"{clean} of {len(refused)} refusals got one line, exit status 2 (130 for an interrupt) and nothing "
             f"written; {len(recomputed)} cases of damaged stored state were named in one line, moved aside and "
             "recomputed. Every case of `tests/test_bad_input*.py` as verified by the test run (`python -m pytest "
             "tests/test_bad_input*.py --bad-input-report FILE`); `<tmp>` is the test's folder.", "",
             "| case | command | exit status | message |", "|---|---|---|---|"]
    lines += [f"| {c['case']} | `{c['command']}` | {c['exit_status']} | {c['message'].replace('|', '/')} |"
              for c in cases]
    return lines


def _load_markdown(load: dict) -> list[str]:
    alone, pair = load["alone"], load["side_by_side"]
    worst = max(pair) / alone
    return ["", "## Load: two table runs side by side", "",
            f"`{load['command']}` with an empty model cache (training included), on an otherwise idle machine of "
            f"{load['cores']} cores: alone {alone:.0f} s with the thread choice of `benchmarks.run` "
            f"({load['threads']} thread(s)), {load['alone_two_threads']:.0f} s alone with `--threads 2`; two started "
            f"together took {pair[0]:.0f} s and {pair[1]:.0f} s, at most {worst:.2f} x one alone.", ""]


def _interval(row, name: str) -> str:
    """``ratio_to_<name>`` as "median [low, high]"."""
    return f"{row[f'ratio_to_{name}']:.3f} [{row[f'ratio_to_{name}_low']:.3f}, {row[f'ratio_to_{name}_high']:.3f}]"


def _verdicts(rows, name: str) -> str:
    """How many rows met, missed or could not tell the target on ``name``: "12 met, 2 within the noise"."""
    counts = rows[f"verdict_{name}"].value_counts()
    return ", ".join(f"{counts[v]} {v}" for v in ("met", "within the noise", "missed") if v in counts)


def perf_markdown(df, profiles: dict[str, str], rounds: int, warmup: int, targets: dict) -> str:
    """The performance record against the limit and the peers (``python -m benchmarks.perf``)."""
    first = df.iloc[0]
    lines = ["# Performance against the limit and the peers", "",
             f"Commit {first['git_commit']}, {first['device']}, {first['versions']}. Every contender timed in one "
             f"process, interleaved round by round, the order rotating; {rounds} rounds after {warmup} warm-up "
             "rounds (classification: 3 after 1), times as medians with the interquartile range as spread. A "
             "ratio is the median of the per-round ratios, with its bootstrap 95% interval in brackets; a target "
             "is *met* when the whole interval meets it, *missed* when the whole interval misses it, and "
             "*within the noise* otherwise (`benchmarks/timing.py`). Memory (`*peak_mib`): how far one more call "
             "raised the process's peak resident set (on a GPU: the memory allocated) above what it held before "
             "the call (MiB; the allocator's free memory handed back and the high-water mark reset first, "
             "`benchmarks/memory.py`). Command: `python -m benchmarks.perf"
             + ("" if str(first["device"]).startswith("cpu") else " --device cuda") + "`.", ""]
    sampling = df[df["case"] == "sampling"]
    if len(sampling):
        view = sampling[[c for c in ("network", "method", "steps", "nfe", "symmflow_s", "limit_s", "flow_matching_s",
                                     "symmflow_peak_mib", "flow_matching_peak_mib", "skipped") if c in sampling]].copy()
        view.insert(7, "to the limit", [f"{_interval(r, 'limit')}: {r['verdict_limit']}"
                                        for _, r in sampling.iterrows()])
        summary = f"To the limit: {_verdicts(sampling, 'limit')}"
        if "ratio_to_flow_matching" in sampling:
            view.insert(8, "to flow_matching", [f"{_interval(r, 'flow_matching')}: {r['verdict_flow_matching']}"
                                                for _, r in sampling.iterrows()])
            summary += f"; to flow_matching: {_verdicts(sampling, 'flow_matching')}"
        lines += ["## Sampling", "",
                  f"`symmflow.solver.integrate` against NFE x one bare forward (the limit; target <= "
                  f"{targets['limit']}) and flow_matching's `ODESolver` on the same network and joint state "
                  f"(target <= {targets['flow_matching']}). {summary}.", "",
                  view.to_markdown(index=False, floatfmt=".4g"), ""]
    training = df[df["case"] == "training step"]
    if len(training):
        row = training.iloc[0]
        lines += ["## Training step", ""]
        if row["skipped"]:
            lines += [f"One SymmFlow step (eq. 3, the authors' channel label), {row['network']}, AdamW: "
                      f"{1000 * row['symmflow_s']:.1f} ms; torchcfm's step not measured: {row['skipped']}.", ""]
        else:
            lines += [f"One SymmFlow step (eq. 3, the authors' channel label) against one `torchcfm` "
                      f"`ConditionalFlowMatcher` step, {row['network']}, AdamW: {1000 * row['symmflow_s']:.1f} ms "
                      f"against {1000 * row['torchcfm_s']:.1f} ms, ratio {_interval(row, 'torchcfm')} (target <= "
                      f"{targets['torchcfm']}: {row['verdict_torchcfm']}); parameters "
                      f"{int(row['parameters_symmflow']):,} against {int(row['parameters_torchcfm']):,} (the label "
                      f"channel in and out); peak memory added "
                      f"{row['symmflow_peak_mib']:.0f} MiB against {row['torchcfm_peak_mib']:.0f} MiB.", ""]
        if "compiled_s" in training and row["compiled_s"] == row["compiled_s"]:  # measured (not NaN)
            lines += ["Speed switches of `TrainConfig` (`symmflow train --channels-last / --compile`), the same "
                      "SymmFlow step, interleaved with the rows above:", "",
                      "| step | median (ms) | against the eager step | pays (interval below 1)? |", "|---|---|---|---|",
                      f"| eager (NCHW) | {1000 * row['symmflow_s']:.1f} | 1.000 | |",
                      f"| channels-last weights | {1000 * row['channels_last_s']:.1f} | "
                      f"{_interval(row, 'eager_channels_last')} | {row['verdict_eager_channels_last']} |",
                      f"| torch.compile (inductor; compiling took {row['compile_s']:.0f} s) | "
                      f"{1000 * row['compiled_s']:.1f} | {_interval(row, 'eager_compiled')} | "
                      f"{row['verdict_eager_compiled']} |", ""]
        for name, table in profiles.items():
            clock = "CPU" if str(row["device"]).startswith("cpu") else "GPU"
            lines += [f"Profile of the {name} step (5 steps, self {clock} time):", "", "```", table.strip(), "```", ""]
    loop = df[df["case"] == "training loop"]
    if len(loop):
        row = loop.iloc[0]
        lines += ["## Training loop", "",
                  f"`symmflow.train.fit` (accelerate, the data stream, one-cycle schedule, EMA, loss logging) on "
                  f"the {row['network']}: {1000 * row['fit_step_s']:.1f} ms per step (marginal: the difference "
                  f"of two runs' wall times over their {int(row['steps'])} extra steps, so start-up does not "
                  f"count) against {1000 * row['bare_step_s']:.1f} ms for the bare step (forward, backward, "
                  f"AdamW), ratio {row['ratio_to_bare_step']:.3f}.", ""]
    classification = df[df["case"] == "classification"]
    if len(classification):
        one = classification[classification["method"] == "SymmFlow, 1 step"].iloc[0]
        view = classification[["method", "images", "nfe", "per_image_s", "per_image_iqr_s", "peak_mib"]].copy()
        view["speed-up of SymmFlow at 1 step"] = view["per_image_s"] / one["per_image_s"]
        view["NFE ratio"] = view["nfe"] / one["nfe"]
        view["speed-up / NFE ratio"] = view["speed-up of SymmFlow at 1 step"] / view["NFE ratio"]
        lines += ["## Classification against the Diffusion Classifier", "",
                  f"Per-image time and counted NFE on the same U-Net layout (target: speed-up >= "
                  f"{targets['nfe_ratio']} x the NFE ratio).", "", view.to_markdown(index=False, floatfmt=".4g"), ""]
    counts = df[df["case"] == "class count"]
    if len(counts):
        growth = []
        for method, group in counts.groupby("method", sort=False):
            first, last = group.iloc[0], group.iloc[-1]
            verdict = f": {last['verdict_growth']}" if isinstance(last.get("verdict_growth"), str) else ""
            growth.append(f"{method}: x{last['growth_median']:.3f} [{last['growth_low']:.3f}, "
                          f"{last['growth_high']:.3f}] in time{verdict}, NFE {first['nfe']:g} -> {last['nfe']:g} "
                          f"from {int(first['classes'])} to {int(last['classes'])} classes")
        view = counts[["method", "classes", "nfe", "per_image_s", "peak_mib"]]
        lines += ["## Cost against the number of classes", "",
                  "Times in one process, a task's class counts interleaved round by round; the growth is the "
                  "median of the per-round ratios of the most to the fewest classes, with its bootstrap 95% "
                  "interval. Memory and NFE from one fresh process per point (`benchmarks/footprint.py`). The "
                  "target: SymmFlow grows by < "
                  f"{targets['class_growth']:.0%} from 10 to 171 classes while the Diffusion Classifier grows "
                  "linearly. " + "; ".join(growth) + ".",
                  "", "![cost against classes](perf-classes.png)", "", view.to_markdown(index=False, floatfmt=".4g"),
                  ""]
    return "\n".join(lines)
