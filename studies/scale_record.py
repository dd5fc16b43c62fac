"""The scale check's record in words (``DIR/scale-check.md``, ``python -m studies.scale_check``):
per launch the split of the global batch, the steps, the samples seen, the network's identity and
its differences from one process; the preemption resumed on another process count; SIGTERM to one
process."""

from __future__ import annotations

from studies.scale_worker import GLOBAL_BATCH, ROWS, SIZE


def markdown(record: dict, origin: dict, command: str) -> str:
    rows, resume, term = record["rows"], record["resume_across_counts"], record["sigterm"]
    lines = ["# One network whatever the launch: the global batch across process counts", "",
             f"Commit {origin['git_commit']}, {origin['device']}, {origin['versions']}. Command: `{command}`.", "",
             f"A tiny SymmFlow network on the latent path (8 channels: a 4-channel image latent and a 4-channel mask "
             f"latent at {SIZE} x {SIZE}, image weight 0.7, AdamW, one-cycle, EMA 0.9) trained through the model "
             f"cache on {ROWS} rows at a global batch of {GLOBAL_BATCH} for {record['epochs']} epochs of "
             f"ceil({ROWS} / {GLOBAL_BATCH}) steps (the stream yields whole global batches). The path's noise is "
             "keyed by each sample's place in its global batch, so the launches differ only in the order of float "
             f"reductions: a loss counts as equal within a relative {record['loss_tolerance']:g}, a weight within "
             f"{record['weight_tolerance']:g}.", "",
             "| launch | nodes | processes | per-device batch | accumulation | global batch | optimiser steps | "
             "samples seen | network identity | largest relative loss difference vs 1 process | largest weight "
             "difference vs 1 process |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['launch']} | {r['nodes']} | {r['processes']} | {r['per_device_batch']} | "
                     f"{r['accumulation']} | {r['global_batch']} | {r['steps']} | {r['samples']} | `{r['identity']}` | "
                     f"{r['loss_max_relative_difference']:.2e} | {r['weights_max_abs_difference']:.2e} |")
    same = record["same_across_launches"]
    lines += ["", "Equal across every launch: " + ", ".join(f"{k.replace('_', ' ')} {'yes' if v else 'NO'}"
                                                          for k, v in same.items())
              + "; loss curves and weights within the tolerance: "
              f"{'yes' if record['curves_within_tolerance'] else 'NO'}.",
              "", "The two-node run's processes (rank, node rank): " + ", ".join(
                  f"({p['rank']}, {p['node_rank']})"
                  for p in next(r for r in rows if r["nodes"] == 2)["processes_where"])
              + " -- two `torchrun --nnodes 2 --nproc-per-node 1` agents on a c10d rendezvous at 127.0.0.1.",
              "", "Loss at each step (1 process): " + ", ".join(f"{v:.4f}" for v in rows[0]["losses"]) + ".", "",
              "## Preempted on one process count, resumed on another", "",
              f"{resume['stopped_on']} processes under `torchrun`, SIGTERM to the launcher during step "
              f"{record['pause_at_step']}: the launcher passed it on to its workers, {resume['workers_terminated']} of "
              f"which saved the state together and ended with the one `terminated:` line of status 143 (the "
              f"launcher itself exits {resume['launcher_exit_status']}, its own way of reporting a signal), "
              f"{resume['seconds_to_exit']:.1f} s after the signal; checkpoints left: "
              f"{', '.join(resume['checkpoints']) or 'none'}, written by {resume['checkpoint_written_by']}. The same "
              f"network (identity `{resume['identity']}`) resumed on {resume['resumed_on']} processes for its last "
              f"{resume['steps_after_resume']} steps: largest relative loss difference from the uninterrupted one "
              f"process {resume['loss_max_relative_difference']:.2e}, largest weight difference "
              f"{resume['weights_max_abs_difference']:.2e}: {'matched' if resume['matched'] else 'NOT matched'}.", "",
              "## SIGTERM to one process", "",
              f"SIGTERM during step {record['pause_at_step']}: exit status {term['exit_status']}, "
              f"{term['stderr_lines']} line on stderr (`{term['stderr']}`), {term['seconds_to_exit']:.1f} s after the "
              f"signal; checkpoints left: {', '.join(term['checkpoints']) or 'none'}. The same command again resumed "
              f"it: final weights {'bitwise equal to' if term['bitwise_equal'] else 'different from'} the "
              f"uninterrupted run's (largest difference {term['weights_max_abs_difference']:.2e}), loss record "
              f"{'equal' if term['losses_equal'] else 'different'}."]
    return "\n".join(lines) + "\n"
