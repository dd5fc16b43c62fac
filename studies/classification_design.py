"""How the cpu profile's classifier was chosen: ``python -m studies.classification_design``.

Two measurements, written to ``<out>/classification-design.{json,md}``:

1. candidate cpu backbones: parameters, training-step time (batch 64) and inference
   throughput, medians after a warm-up;
2. classifier designs trained on the same budget (bundled MNIST, the chosen backbone):
   the authors' (constant label channel, t ~ U(0, 1), image weight 0.9, t unscaled; measured with
   one class-noise offset per image, :data:`OFFSET`), the
   same with t scaled x1000, and the vector-label designs with half the times near t = 1,
   each scored by 1-step accuracy on the 1,000 held-out digits (``--only``);
3. designs scored on the whole step curve (accuracy at 1, 2, 5, 10 and 25 Euler steps) on
   the cpu profile's budget or a multiple of it (``--curves``), one file per design and seed
   under ``<out>/classification-design/``.

Every design trains and is scored through the tables' own experiment
(:class:`~benchmarks.experiments.classification.ClassificationExperiment`).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from benchmarks.cells import RunOptions, digest
from benchmarks.experiments.classification import SYMMFLOW, ClassificationExperiment
from benchmarks.profiles import Budget, ClassificationSettings
from benchmarks.provenance import provenance
from symmflow.outputs import write_atomic
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell
from symmflow.method import AUTHORS, SymmFlowSettings
from symmflow.models.label_unet import count_parameters
from symmflow.models.pixel_unet import UNetConfig, pixel_unet

BACKBONES = {
    "base 32, (1,2,2,2), 2 blocks (MNIST_UNET)": UNetConfig(base_channels=32),
    "base 16, (1,2,2,2), 2 blocks": UNetConfig(base_channels=16, head_channels=32, norm_groups=8),
    "base 16, (1,2,2), 1 block": UNetConfig(base_channels=16, multipliers=(1, 2, 2), layers_per_block=1,
                                            head_channels=32, norm_groups=8),
    "base 24, (1,2,2), 1 block": UNetConfig(base_channels=24, multipliers=(1, 2, 2), layers_per_block=1,
                                            head_channels=48, norm_groups=8),
}


def median_time(fn, repeats: int = 3, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_backbone(config: UNetConfig) -> dict:
    torch.manual_seed(0)
    unet = pixel_unet(config, 2, 2, 32)
    optimizer = torch.optim.AdamW(unet.parameters(), 1e-3)
    x, t = torch.randn(64, 2, 32, 32), torch.rand(64)

    def step():
        unet(x, t).sample.square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()

    big, tb = torch.randn(250, 2, 32, 32), torch.rand(250)
    with torch.no_grad():
        infer = median_time(lambda: unet(big, tb), repeats=3, warmup=1)
    return {"parameters": count_parameters(unet), "train_step_s": median_time(step),
            "images_per_s": 250 / infer}


CURVE_STEPS = (1, 2, 5, 10, 25)
CURVE_BUDGET = 1_500
CURVE_BACKBONE = "base 16, (1,2,2), 1 block"
"""The cpu profile's classification budget (Table 3 / 11): 1,500 steps of 64 at lr 1e-3."""
CPU = SymmFlowSettings(label_code="per-class", code_scale=1.0, image_weight=0.3, near_one=0.5, label_form="residual")
"""What the designs below change: the vector label with the +-1 code, its head's output added to y_t,
half of the training times in [0.9, 1], label weight 0.7 (the cpu profile before this comparison)."""
CLEAN = replace(CPU, label_form="clean", label_loss="clean")
OFFSET = replace(AUTHORS, label_code="image-offset")
"""The authors' settings with one class-noise offset per image of half-width (beta/2)/(n-1): the
class code as an earlier reading of their code had it (reference notes section 2), and what the
designs named "one class offset per image" were measured with."""


def train_and_score(design: SymmFlowSettings, backbone: UNetConfig, steps: int, seed: int, progress: bool,
                    out: Path, curve: tuple[int, ...] = (1,)) -> dict:
    """Train ``design`` on the bundled digits (``steps`` of 64 at lr 1e-3, one-cycle, EMA 0.999)
    and score it at each step count of ``curve`` on the 1,000 held-out digits."""
    settings = ClassificationSettings("mnist", backbone, design, Budget(steps, 64, 1e-3, max(1, steps // 20)))
    experiment = ClassificationExperiment(settings, RunOptions(profile="design", seed=seed, device="cpu",
                                                               out=out / "classification-design", progress=progress))
    trained = experiment.trained(SYMMFLOW)
    record = {"design": asdict(design), "train_steps": steps, "seed": seed, "train_s": trained.train_s,
              "final_loss": trained.stats[-1]["loss"], "final_terms": trained.stats[-1]}
    images, labels = experiment.test_split()
    for k in curve:
        scored = experiment.accuracy(SYMMFLOW, k, images, labels, seed=seed + 1)
        record[f"accuracy_{k}"], record[f"nfe_{k}"] = scored["value"], scored["nfe_per_sample"]
    record["accuracy_1_step"] = record["accuracy_1"]
    return record


DESIGNS = {
    "authors, one class offset per image (channel label, uniform t, w 0.9, t x1)": OFFSET,
    "vector label, half of t in [0.9, 1], w 0.5, t x1": SymmFlowSettings(label_code="per-class", image_weight=0.5,
                                                                        near_one=0.5),
    "authors, one class offset per image, t x1000": replace(OFFSET, time_scale=1000.0),
    "vector label, half of t in [0.9, 1], w 0.5, t x1000": SymmFlowSettings(label_code="per-class", image_weight=0.5,
                                                                           near_one=0.5, time_scale=1000.0),
    "vector label, 3/4 of t in [0.98, 1], w 0.5, t x1": SymmFlowSettings(label_code="per-class", image_weight=0.5,
                                                                        near_one=0.75, near_one_width=0.02),
}
"""The 400-step comparison that chose the vector label (one-step accuracy only)."""

CURVES = {
    "residual, half of t in [0.9, 1], w 0.3, code x1": (CPU, CURVE_BUDGET),
    "clean label, clean loss, half of t in [0.9, 1], w 0.3": (CLEAN, CURVE_BUDGET),
    "clean label, clean loss, t ~ U(0, 1), w 0.3": (replace(CLEAN, near_one=0.0), CURVE_BUDGET),
    "clean label, clean loss, half of t in [0.9, 1], w 0.3, code x3": (replace(CLEAN, code_scale=3.0), CURVE_BUDGET),
    "clean label, clean loss, t ~ U(0, 1), w 0.3, code x3": (replace(CLEAN, near_one=0.0, code_scale=3.0),
                                                            CURVE_BUDGET),
    "residual, half of t in [0.9, 1], w 0.3, code x3": (replace(CPU, code_scale=3.0), CURVE_BUDGET),
    "clean label, clean loss, t ~ U(0, 1), w 0.3, code x6": (replace(CLEAN, near_one=0.0, code_scale=6.0),
                                                            CURVE_BUDGET),
    "plain velocity, t ~ U(0, 1), w 0.3, code x3": (replace(CPU, label_form="velocity", near_one=0.0,
                                                            code_scale=3.0), CURVE_BUDGET),
    "residual, half of t in [0.9, 1], w 0.3, code x2": (replace(CPU, code_scale=2.0), CURVE_BUDGET),
    "residual, half of t in [0.9, 1], w 0.3, code x4": (replace(CPU, code_scale=4.0), CURVE_BUDGET),
    "residual, half of t in [0.9, 1], w 0.3, code x6": (replace(CPU, code_scale=6.0), CURVE_BUDGET),
    "residual, half of t in [0.6, 1], w 0.3, code x3": (replace(CPU, code_scale=3.0, near_one_width=0.4),
                                                        CURVE_BUDGET),
    "residual, half of t in [0.9, 1], w 0.7, code x3": (replace(CPU, code_scale=3.0, image_weight=0.7),
                                                        CURVE_BUDGET),
    "residual, half of t in [0.9, 1], w 0.3, code x10": (replace(CPU, code_scale=10.0), CURVE_BUDGET),
    "clean label, clean loss, half of t in [0.9, 1], w 0.3, code x6": (replace(CLEAN, code_scale=6.0), CURVE_BUDGET),
    "residual, t ~ U(0, 1), w 0.3, code x6": (replace(CPU, near_one=0.0, code_scale=6.0), CURVE_BUDGET),
    "residual, half of t in [0.9, 1], w 0.3, code x3, 2x budget": (replace(CPU, code_scale=3.0), 2 * CURVE_BUDGET),
    "residual, half of t in [0.9, 1], w 0.3, code x3, 4x budget": (replace(CPU, code_scale=3.0), 4 * CURVE_BUDGET),
    "authors, one class offset per image, cpu budget": (OFFSET, CURVE_BUDGET),
    "authors, one class offset per image, 2x budget": (OFFSET, 2 * CURVE_BUDGET),
    "authors, one class offset per image, 4x budget": (OFFSET, 4 * CURVE_BUDGET),
    "authors, cpu budget": (AUTHORS, CURVE_BUDGET),
    "authors, 2x budget": (AUTHORS, 2 * CURVE_BUDGET),
}
"""Designs scored on the whole step curve (accuracy at :data:`CURVE_STEPS`), on the cpu budget
unless the name says otherwise."""


# ---------------------------------------------------------------- the record's Markdown


def classification_design_markdown(record: dict, curves: list[dict]) -> str:
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
                  f"'{record.get('backbone', CURVE_BACKBONE)}', steps of 64 at lr 1e-3 (one-cycle, EMA 0.999). "
                  "The paper's claim at its operating point: accuracy at 25 steps at least the 1-step one.", "",
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



def main(argv=None) -> int:
    with CommandShell() as shell:
        p = OneLineParser(prog="python -m studies.classification_design", description=first_paragraph(__doc__))
        p.add_argument("--out", type=Path, default=Path("results/cpu"),
                       help="Folder of the records and classification-design.md (default: results/cpu).")
        p.add_argument("--train-steps", type=int, default=400,
                       help="Training steps of each design on the same budget (default 400).")
        p.add_argument("--backbone", default="base 16, (1,2,2), 1 block", choices=list(BACKBONES),
                       help="The candidate backbone every design trains (default: 'base 16, (1,2,2), 1 block').")
        p.add_argument("--only", default=None, help="400-step design names to run, separated by ';'.")
        p.add_argument("--curves", default=None, help="Step-curve design names to run, separated by ';', or 'all'.")
        p.add_argument("--seed", type=int, default=0, help="Seed of training and evaluation (default 0).")
        p.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
        p.add_argument("--summary", action="store_true", help="Only rewrite the Markdown from the stored records.")
        args = p.parse_args(argv)
        if args.summary:
            write_classification_summary(args.out, list(CURVES))
        elif args.curves is not None:
            run_curves(args)
        else:
            run_one_step(args)
    return shell.status


def _pick(text: str | None, known: dict) -> list[str]:
    wanted = list(known) if text in (None, "all") else text.split(";")
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise UsageError(f"unknown design {unknown[0]!r}; choose from: {'; '.join(known)}")
    return wanted


def run_curves(args) -> None:
    for name in _pick(args.curves, CURVES):
        design, budget = CURVES[name]
        measured = train_and_score(design, BACKBONES[args.backbone], budget, args.seed, not args.no_progress,
                                   args.out, CURVE_STEPS)
        measured.update(name=name, provenance=provenance("cpu"))
        print(json.dumps(measured), file=sys.stderr)
        write_atomic(args.out / "classification-design" / f"{digest([name, args.seed])}.json",
                     json.dumps(measured, indent=1))
        write_classification_summary(args.out, list(CURVES))


def run_one_step(args) -> None:
    file = args.out / "classification-design.json"
    wanted = _pick(args.only, DESIGNS)
    record = json.loads(file.read_text()) if file.is_file() else {}
    record.update(train_steps=args.train_steps, backbone=args.backbone, provenance=provenance("cpu"))
    record.setdefault("backbones", {})
    record.setdefault("designs", {})
    if not record["backbones"]:
        for name, config in BACKBONES.items():
            record["backbones"][name] = measure_backbone(config)
            print(name, record["backbones"][name], file=sys.stderr)
    for name in wanted:
        record["designs"][name] = train_and_score(DESIGNS[name], BACKBONES[args.backbone], args.train_steps,
                                                  args.seed, not args.no_progress, args.out)
        print(name, record["designs"][name], file=sys.stderr)
        write_atomic(file, json.dumps(record, indent=1))
        write_classification_summary(args.out, list(CURVES))


if __name__ == "__main__":
    sys.exit(main())
