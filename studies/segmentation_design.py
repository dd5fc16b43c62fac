"""How SymmFlow's settings on the scene set were compared: ``python -m studies.segmentation_design``.

Each design is the authors' settings on the scene set (:data:`BASE`: the scene set, the base-32
pixel U-Net, 1,200 steps of 32 at lr 5e-4) with some settings replaced -- where the training
times are drawn, whether the near-one share trains the label alone, the image weight, the
label form (:func:`~symmflow.models.pixel_unet.label_velocity`), the mask code, the
time scale, the learning rate and budget -- and is scored by mIoU at 1 and 25 Euler steps and
FD-scenenet at 25 steps, exactly as the tables score them, against the cross-entropy SS U-Net
and SemFlow of the same training budget (the targets: SymmFlow's mIoU >= 0.85 x SS, its FD
below SemFlow's).  ``--device cuda`` runs a design on a GPU (recorded in its file).
One file per design under ``<out>/segmentation-design/`` (so designs can run in separate
processes), and ``<out>/segmentation-design.md`` over all of them.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.cells import RunOptions, digest
from benchmarks.experiments.segsynth import SegSynthExperiment
from benchmarks.profiles import SegSynthSettings
from benchmarks.provenance import provenance
from symmflow.outputs import write_atomic
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell
from benchmarks.tables.segsynth import TABLE2_STEPS

CPU_PROFILE = {"mask_code": "per-class", "label_form": "residual", "near_one": 0.6, "near_one_label_only": True,
               "lr": 2e-3, "train_steps": 2_400}
"""The cpu profile's SymmFlow and budget as a design's changes, as they were when the code-scale rows were
measured: 60% near one, which the profile has since lowered to 40% on the recognition-generation front
(:data:`benchmarks.profiles.SCENE_RECOGNITION`, results/cpu/front.md); kept so that those rows' names
keep naming what was measured."""

DESIGNS = {
    "authors: palette, t ~ U(0, 1), image weight 0.9": {},
    "palette, residual, half of t in [0.9, 1], image weight 0.5":
        {"label_form": "residual", "near_one": 0.5, "image_weight": 0.5},
    "palette, residual, half of t in [0.9, 1], image weight 0.3":
        {"label_form": "residual", "near_one": 0.5, "image_weight": 0.3},
    "palette, residual, half of t in [0.99, 1], image weight 0.5":
        {"label_form": "residual", "near_one": 0.5, "near_one_width": 0.01, "image_weight": 0.5},
    "palette, residual, a quarter of t in [0.9, 1], image weight 0.7":
        {"label_form": "residual", "near_one": 0.25, "image_weight": 0.7},
    "per-class code, residual, half of t in [0.9, 1], image weight 0.5":
        {"mask_code": "per-class", "label_form": "residual", "near_one": 0.5, "image_weight": 0.5},
    "palette, residual, half of t in [0.9, 1], image weight 0.3, 2,400 steps":
        {"label_form": "residual", "near_one": 0.5, "image_weight": 0.3, "train_steps": 2_400},
    "palette, residual, half of t in [0.9, 1] on the label alone, image weight 0.9":
        {"label_form": "residual", "near_one": 0.5, "near_one_label_only": True, "image_weight": 0.9},
    "per-class code, residual, half of t in [0.9, 1] on the label alone, image weight 0.9":
        {"mask_code": "per-class", "label_form": "residual", "near_one": 0.5, "near_one_label_only": True},
    "per-class code, residual, half of t in [0.99, 1] on the label alone, image weight 0.9":
        {"mask_code": "per-class", "label_form": "residual", "near_one": 0.5, "near_one_width": 0.01,
         "near_one_label_only": True},
    "per-class code, residual, three quarters of t in [0.9, 1] on the label alone, image weight 0.9":
        {"mask_code": "per-class", "label_form": "residual", "near_one": 0.75, "near_one_label_only": True},
    "palette, residual, three quarters of t in [0.9, 1] on the label alone, image weight 0.9":
        {"label_form": "residual", "near_one": 0.75, "near_one_label_only": True},
    "palette, residual, half of t in [0.9, 1] on the label alone, image weight 0.9, lr 1e-3":
        {"label_form": "residual", "near_one": 0.5, "near_one_label_only": True, "lr": 1e-3},
    "palette, residual, half of t in [0.9, 1] on the label alone, image weight 0.9, lr 2e-3":
        {"label_form": "residual", "near_one": 0.5, "near_one_label_only": True, "lr": 2e-3},
    "per-class code, residual, half of t in [0.9, 1] on the label alone, image weight 0.9, lr 1e-3":
        {"mask_code": "per-class", "label_form": "residual", "near_one": 0.5, "near_one_label_only": True,
         "lr": 1e-3},
    "per-class code, residual, half of t in [0.9, 1] on the label alone, image weight 0.9, lr 2e-3":
        {"mask_code": "per-class", "label_form": "residual", "near_one": 0.5, "near_one_label_only": True,
         "lr": 2e-3},
    "per-class code, residual, three quarters of t in [0.9, 1] on the label alone, image weight 0.9, lr 2e-3":
        {"mask_code": "per-class", "label_form": "residual", "near_one": 0.75, "near_one_label_only": True,
         "lr": 2e-3},
    "palette, residual, three quarters of t in [0.9, 1] on the label alone, image weight 0.9, lr 2e-3":
        {"label_form": "residual", "near_one": 0.75, "near_one_label_only": True, "lr": 2e-3},
    "authors: palette, t ~ U(0, 1), image weight 0.9, lr 2e-3": {"lr": 2e-3},
    "per-class code, residual, half of t in [0.9, 1] on the label alone, image weight 0.9, lr 2e-3, t x 1000":
        {"mask_code": "per-class", "label_form": "residual", "near_one": 0.5, "near_one_label_only": True,
         "lr": 2e-3, "time_scale": 1000.0},
    "palette, residual, half of t in [0.9, 1] on the label alone, image weight 0.9, lr 2e-3, t x 1000":
        {"label_form": "residual", "near_one": 0.5, "near_one_label_only": True, "lr": 2e-3, "time_scale": 1000.0},
    "per-class code, residual, two thirds of t in [0.9, 1] on the label alone, image weight 0.9, lr 2e-3, t x 1000":
        {"mask_code": "per-class", "label_form": "residual", "near_one": 2 / 3, "near_one_label_only": True,
         "lr": 2e-3, "time_scale": 1000.0},
    "palette, residual, two thirds of t in [0.9, 1] on the label alone, image weight 0.9, lr 2e-3, t x 1000":
        {"label_form": "residual", "near_one": 2 / 3, "near_one_label_only": True, "lr": 2e-3, "time_scale": 1000.0},
    # The label flow with the whole budget: image weight 0 and every t in [0.99, 1], i.e. the
    # paper's MSE on v_y as a discriminative loss -- the most a joint model could hope for.
    "label flow alone: palette, residual, image weight 0, all t in [0.99, 1]":
        {"label_form": "residual", "near_one": 1.0, "near_one_width": 0.01, "image_weight": 0.0},
    "label flow alone: per-class code, residual, image weight 0, all t in [0.99, 1]":
        {"mask_code": "per-class", "label_form": "residual", "near_one": 1.0, "near_one_width": 0.01,
         "image_weight": 0.0},
    "label flow alone: per-class code, residual, image weight 0, all t in [0.99, 1], lr 2e-3":
        {"mask_code": "per-class", "label_form": "residual", "near_one": 1.0, "near_one_width": 0.01,
         "image_weight": 0.0, "lr": 2e-3},
    # the cpu profile of Tables 2, 4, 5 before the code's scale was chosen, and the same with a larger code,
    # scored on the whole step curve
    "cpu profile: per-class code, residual, 60% of t in [0.9, 1] on the label alone, lr 2e-3, 2,400 steps":
        CPU_PROFILE,
    "cpu profile with the per-class code x3": {**CPU_PROFILE, "code_scale": 3.0},
    "cpu profile with the per-class code x6": {**CPU_PROFILE, "code_scale": 6.0},
    "cpu profile with the per-class code x2": {**CPU_PROFILE, "code_scale": 2.0},
}
BASE_PEERS = "base-peers.json"
"""The record (in ``<out>/segmentation-design/``) of the SS U-Net's mIoU and SemFlow's FD-scenenet
at 25 steps on the base budget, which rows that keep the budget are compared with; a design that
changes the budget trains and scores its own SS U-Net and SemFlow."""
BASE = SegSynthSettings()
"""What every design changes: the authors' settings on the scene set at the 1,200-step budget
(the cpu profile before this comparison chose its recognition settings)."""
BUDGET_FIELDS = {"train_steps": "steps", "batch_size": "batch_size", "lr": "lr", "warmup_steps": "warmup_steps",
                 "ema_decay": "ema_decay"}
"""A design's names for the fields of the budget every network of the tables trains with."""
CURVE = (1, 2, 5, TABLE2_STEPS)
"""Step counts each design's mIoU is measured at (the whole curve, not one point)."""


def design_settings(changes: dict) -> SegSynthSettings:
    """:data:`BASE` with a design's ``changes``: budget fields go to the budget every network
    shares, ``mask_code`` (palette / per-class) to SymmFlow's label code, the rest to SymmFlow."""
    budget = {BUDGET_FIELDS[k]: v for k, v in changes.items() if k in BUDGET_FIELDS}
    own = {k: v for k, v in changes.items() if k not in BUDGET_FIELDS and k not in ("mask_code", "label_residual")}
    if "mask_code" in changes:
        own["label_code"] = "per-class" if changes["mask_code"] == "per-class" else "image"
    if changes.get("label_residual"):  # records written before the label form was a setting
        own["label_form"] = "residual"
    return replace(BASE, budget=replace(BASE.budget, **budget), symmflow=replace(BASE.symmflow, **own))


def trains_own_peers(changes: dict) -> bool:
    """Whether a design changes the shared budget, so that it is scored against the SS U-Net and
    SemFlow of its own budget (trained once per budget: the model cache keys them by it)."""
    return design_settings(changes).budget != BASE.budget


def measure(name: str, out: Path, seed: int, progress: bool, device: str = "cpu") -> dict:
    """Train SymmFlow with design ``name`` and score it as Tables 2 and 5 do, on the whole step curve."""
    settings = design_settings(DESIGNS[name])
    options = RunOptions(profile="design", seed=seed, out=out / "segmentation-design", progress=progress,
                         device=device)
    experiment = SegSynthExperiment("scenes", settings, options)
    start = time.perf_counter()
    experiment.trained("symmflow")
    record = {"design": name, "changes": DESIGNS[name], "train_s": time.perf_counter() - start,
              "train_steps": settings.budget.steps, "batch_size": settings.budget.batch_size, "seed": seed,
              "eval_scenes": settings.eval_samples, "provenance": provenance(device)}
    for steps in CURVE:
        record[f"miou_{steps}"] = experiment.segmentation("symmflow", steps)["value"]
    record[f"fd_{TABLE2_STEPS}"] = experiment.synthesis("symmflow", TABLE2_STEPS)["value"]
    if trains_own_peers(DESIGNS[name]):
        record["ss_miou"] = experiment.segmentation("ss", 1)["value"]
        record["semflow_miou_25"] = experiment.segmentation("semflow", TABLE2_STEPS)["value"]
        record["semflow_fd_25"] = experiment.synthesis("semflow", TABLE2_STEPS)["value"]
    return record


def record_name(design: str, device: str, seed: int = 0) -> str:
    """One file per design, seed and kind of device (a GPU rerun of a cpu row keeps both)."""
    kind = device.split(":")[0]
    return f"{digest(design) if seed == 0 else digest([design, seed])}{'' if kind == 'cpu' else '-' + kind}.json"


# ---------------------------------------------------------------- the record's Markdown


def _curve(record: dict) -> str:
    """mIoU along the design study's curve where the record has it (older records: 1 and 25 only)."""
    return " / ".join(f"{record[f'miou_{k}']:.1f}" if f"miou_{k}" in record else "-" for k in CURVE)


def base_peers(out: Path) -> dict:
    """The base budget's SS mIoU and SemFlow FD (:data:`BASE_PEERS`) with where they come from."""
    return json.loads((out / "segmentation-design" / BASE_PEERS).read_text())


def segmentation_design_markdown(records: list[dict], peers: dict) -> str:
    lines = ["# How SymmFlow's settings were compared on the scene set", "",
             "The authors' settings on the scene set (1,200 steps of 32 scenes, lr 5e-4, base-32 pixel "
             "U-Net, seed 0) with the settings each row names changed; mIoU with the background ignored, "
             "FD in the scene-set network. SS and SemFlow: the cross-entropy U-Net and the retrained "
             f"SemFlow of the row's own budget and learning rate ({peers['ss_miou']} mIoU and FD "
             f"{peers['semflow_fd_25']} on the base budget, {peers['source']}); the targets are SymmFlow's mIoU >= "
             "0.85 x SS and its FD "
             "below SemFlow's. Training seconds are comparable only between rows of the same device and "
             "the same number of designs run at once.", "",
             "| design | mIoU, 1 step | SS | / SS | mIoU, 25 steps | FD-scenenet, 25 steps | SemFlow's FD "
             "| mIoU at 1 / 2 / 5 / 25 steps | train (s) | device | commit |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        ss = r.get("ss_miou", peers["ss_miou"])
        semflow_fd = r.get("semflow_fd_25", None if trains_own_peers(r["changes"]) else peers["semflow_fd_25"])
        lines.append(f"| {r['design']} | {r['miou_1']:.1f} | {ss:.1f} | {r['miou_1'] / ss:.2f} | "
                     f"{r['miou_25']:.1f} | {r['fd_25']:.3f} | "
                     f"{'not measured' if semflow_fd is None else f'{semflow_fd:.3f}'} | {_curve(r)} | "
                     f"{r['train_s']:.0f} | "
                     f"{r['provenance']['device']} | {r['provenance']['git_commit']} |")
    return "\n".join(lines) + "\n"


def write_segmentation_summary(out: Path, order: list[str]) -> None:
    """``<out>/segmentation-design.md`` from every stored design record, in ``order`` of names."""
    records = [json.loads(f.read_text()) for f in sorted((out / "segmentation-design").glob("*.json"))
               if f.name != BASE_PEERS]
    records.sort(key=lambda r: (order.index(r["design"]) if r["design"] in order else len(order),
                                r["provenance"]["device"]))
    write_atomic(out / "segmentation-design.md", segmentation_design_markdown(records, base_peers(out)))



def main(argv=None) -> int:
    with CommandShell() as shell:
        p = OneLineParser(prog="python -m studies.segmentation_design", description=first_paragraph(__doc__))
        p.add_argument("--out", type=Path, default=Path("results/cpu"),
                       help="Folder of the records and segmentation-design.md (default: results/cpu).")
        p.add_argument("--only", default=None, help="Design names to run, separated by ';' (default: all).")
        p.add_argument("--seed", type=int, default=0, help="Seed of training and evaluation (default 0).")
        p.add_argument("--device", default="cpu", help="Device: cpu (default) or cuda[:N], recorded with each design.")
        p.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
        p.add_argument("--summary", action="store_true", help="Only rewrite the table from the stored records.")
        args = p.parse_args(argv)
        wanted = args.only.split(";") if args.only else list(DESIGNS)
        unknown = [w for w in wanted if w not in DESIGNS]
        if unknown:
            raise UsageError(f"unknown design {unknown[0]!r}; choose from: {'; '.join(DESIGNS)}")
    if shell.stopped:
        return shell.status
    if not args.summary:
        for name in wanted:
            record = measure(name, args.out, args.seed, not args.no_progress, args.device)
            print(json.dumps(record), file=sys.stderr)
            write_atomic(args.out / "segmentation-design" / record_name(name, args.device, args.seed),
                         json.dumps(record, indent=1))
    write_segmentation_summary(args.out, list(DESIGNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
