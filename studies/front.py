"""Recognition and generation on one front: ``python -m studies.front --dataset scenes|mnist``.

The cpu profile's SymmFlow settings were first chosen on recognition curves alone.  This study
trains designs that trade recognition against generation -- the image weight, the share of
training times near t = 1 and whether that share trains the label alone, the label code's scale
-- on the cpu budget of each data set, and scores each on both sides through the tables' own
experiments:

* scene set (Tables 2, 4, 5): mIoU at 1 / 2 / 5 / 25 Euler steps; at 25 steps the FD-scenenet of
  the synthesised scenes, their joint distance with their masks (FJD, in the SS U-Net's features) and their mIoU
  under the SS U-Net (:mod:`benchmarks.judges`);
* bundled MNIST (Tables 3, 11): accuracy at 1 / 2 / 5 / 10 / 25 steps; at 25 steps the Frechet
  distance and the joint distance of 500 generated digits in the cross-entropy classifier's
  features and the classifier's accuracy on them;

beside the specialists of the same budget and seed (the SS U-Net and SemFlow; the cross-entropy
classifier and class-conditional flow matching) and the real images scored as samples are.
The designs are literal settings, so that a record can always be rebuilt from its name.  One
JSON per (data set, design, seed) under ``<out>/front/``; ``front.md`` and ``front.png`` are
rendered from all of them (``--summary`` only renders).  The networks are trained through the
tables' model cache in ``<out>/checkpoints``, so the chosen design's networks serve the tables.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import torch

from benchmarks.cells import RunOptions
from benchmarks.experiments.classification import (CROSS_ENTROPY, FLOW_MATCHING, SYMMFLOW, ClassificationExperiment)
from benchmarks.experiments.segsynth import SegSynthExperiment, joint_metric
from benchmarks.provenance import provenance
from benchmarks.tables.classification import FJD_METRIC
from symmflow.outputs import write_atomic
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell
from studies.front_designs import CURVES, DESIGNS, GENERATION_STEPS, MNIST, SCENES
from studies.front_record import record_path, write_summary
from symmflow.method import SymmFlowSettings

def _segsynth(settings: SymmFlowSettings, seed: int, out: Path, progress: bool) -> SegSynthExperiment:
    return SegSynthExperiment("scenes", replace(SCENES, symmflow=settings),
                              RunOptions(profile="cpu", seed=seed, out=out, progress=progress))


def _classification(settings: SymmFlowSettings, seed: int, out: Path, progress: bool) -> ClassificationExperiment:
    return ClassificationExperiment(replace(MNIST, symmflow=settings),
                                    RunOptions(profile="cpu", seed=seed, out=out, progress=progress))


@torch.no_grad()
def generate_on_the_label_path(model, method, labels: torch.Tensor, steps: int, generator: torch.Generator,
                               sigma_min: float) -> torch.Tensor:
    """Samples whose label state is held on its exact path, y_t = (1 - (1 - sigma) t) y + t eps,
    instead of being integrated with the image: the generation a perfectly trained label flow
    would condition on (Euler, as the tables).  Set beside the integrated samples it separates
    what the label's drift costs the generation from what the image flow cannot do."""
    y = method.codec.encode(labels, generator=generator)
    eps = torch.randn(y.shape, generator=generator)
    x = torch.randn((len(labels), *method.data_shape), generator=generator)
    grid = [i / steps for i in range(steps + 1)]
    for t, t_next in zip(grid, grid[1:]):
        y_t = (1 - (1 - sigma_min) * t) * y + t * eps
        vx, _ = model(x, y_t, x.new_full((len(x),), t))
        x = x + (t_next - t) * vx
    return x if method.space is None else method.space.decode_image(x)


def _judged_on_the_label_path(exp, key: str, labels: torch.Tensor, truth: torch.Tensor, score) -> float:
    """The judge's score of samples generated with the label held on its path, in batches."""
    method, model = exp.method(key), exp.trained(key).model
    generator = torch.Generator().manual_seed(exp.options.seed + 23)
    batch = 100
    samples = torch.cat([generate_on_the_label_path(model, method, part, GENERATION_STEPS, generator,
                                                    method.settings.sigma_min)
                         for part in labels.split(batch)])
    return score(samples, truth)


def measure(dataset: str, name: str, seed: int, out: Path, progress: bool = True) -> dict:
    """Train design ``name`` of ``dataset`` (or load it from the model cache) and score both sides,
    with the specialists and the real images of the same seed beside it."""
    settings = DESIGNS[dataset][name]
    record = {"dataset": dataset, "design": name, "settings": asdict(settings), "seed": seed}
    if dataset == "scenes":
        exp = _segsynth(settings, seed, out, progress)
        record["train_s"] = exp.trained("symmflow").train_s
        record["recognition"] = {str(k): exp.segmentation("symmflow", k)["value"] for k in CURVES[dataset]}
        synthesis = exp.synthesis("symmflow", GENERATION_STEPS)
        record.update(fd=synthesis["value"], fjd=synthesis["frechet"].get("joint"), judged=synthesis["judged"],
                      fjd_metric=joint_metric(exp.settings, exp.options))
        masks = exp.data.test_masks
        judge = exp.judge()

        def scene_miou(samples, truth):
            from symmflow.metrics import SegmentationIoU

            metric = SegmentationIoU(exp.data.num_classes, exp.data.ignore_index)
            for part, target in zip(samples.split(100), truth.split(100)):
                metric.update(judge(part), target)
            return 100.0 * metric.compute()

        record["judged_on_the_label_path"] = _judged_on_the_label_path(exp, "symmflow", masks, masks, scene_miou)
        semflow = exp.synthesis("semflow", GENERATION_STEPS)
        record["references"] = {
            "specialist recognition": exp.segmentation("ss", 1)["value"],
            "peer recognition at 25 steps": exp.segmentation("semflow", GENERATION_STEPS)["value"],
            "peer fd": semflow["value"], "peer fjd": semflow["frechet"].get("joint"), "peer judged": semflow["judged"],
            "real fd": exp.real_images("frechet")["value"], "real fjd": exp.real_images("joint")["value"],
            "real judged": exp.real_images("judged")["value"]}
    else:
        exp = _classification(settings, seed, out, progress)
        record["train_s"] = exp.trained(SYMMFLOW).train_s
        images, labels = exp.test_split()
        record["recognition"] = {str(k): exp.accuracy(SYMMFLOW, k, images, labels)["value"]
                                 for k in CURVES[dataset]}
        generated = exp.generation(SYMMFLOW, GENERATION_STEPS)
        record.update(fd=generated["value"], fjd=generated["joint"], judged=generated["judged"], fjd_metric=FJD_METRIC)
        wanted = torch.arange(exp.spec.num_classes).repeat_interleave(exp.s.generate_per_class)
        record["judged_on_the_label_path"] = _judged_on_the_label_path(
            exp, SYMMFLOW, wanted, wanted, lambda samples, truth: exp.judged_accuracy(samples, truth))
        peer = exp.generation(FLOW_MATCHING, GENERATION_STEPS)
        record["references"] = {
            "specialist recognition": exp.scored(CROSS_ENTROPY, 1)["value"],
            "peer fd": peer["value"], "peer fjd": peer["joint"], "peer judged": peer["judged"],
            "real fd": exp.real_images("frechet")["value"], "real fjd": exp.real_images("joint")["value"],
            "real judged": exp.real_images("judged")["value"]}
    return record


def main(argv=None) -> int:
    with CommandShell() as shell:
        p = OneLineParser(prog="python -m studies.front", description=first_paragraph(__doc__))
        p.add_argument("--dataset", choices=list(DESIGNS), help="The data set whose designs to train and score.")
        p.add_argument("--designs", default=None, help="Design names separated by ';' (default: every design).")
        p.add_argument("--seed", type=int, default=0, help="Seed of training and evaluation (default 0).")
        p.add_argument("--out", type=Path, default=Path("runs/cpu"),
                       help="Results folder (default: runs/cpu, untracked; the committed records: results/cpu).")
        p.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
        p.add_argument("--summary", action="store_true", help="Only render front.md and front.png from the records.")
        args = p.parse_args(argv)
        if not args.summary:
            if args.dataset is None:
                raise UsageError("pass --dataset scenes or --dataset mnist (or --summary to render the records)")
            names = args.designs.split(";") if args.designs else list(DESIGNS[args.dataset])
            unknown = [n for n in names if n not in DESIGNS[args.dataset]]
            if unknown:
                raise UsageError(f"unknown design {unknown[0]!r} of {args.dataset}; choose from: "
                                 f"{'; '.join(DESIGNS[args.dataset])}")
            origin = provenance("cpu")  # the code as the run starts: edits made while it runs are not its own
            for name in names:
                record = {**measure(args.dataset, name, args.seed, args.out, not args.no_progress),
                          "provenance": origin}
                write_atomic(record_path(args.out, args.dataset, name, args.seed), json.dumps(record, indent=1))
                print(json.dumps({k: record[k] for k in ("design", "seed", "recognition", "fd", "judged")}),
                      file=sys.stderr)
        write_summary(args.out)
    return shell.status


if __name__ == "__main__":
    sys.exit(main())
