"""What every table costs at each profile's settings, before asking for GPUs:
``python -m studies.cost_table --out results``.

For each profile and table group, the networks each table trains and evaluates, built from their
configs at full size on PyTorch's meta device (no weights, no memory, no arithmetic: the SD 2.1
U-Net of 866 M parameters, the authors' guided U-Nets, the cpu profile's own), and their FLOPs
counted by ``torch.utils.flop_counter`` on one training step (forward and backward, at the global
batch) and on one network evaluation per sample.  With the profile's training steps and the
evaluations its tables make (samples x steps, counted from the settings as the tables make them)
that gives the training and evaluation FLOPs, and -- arithmetic, labelled so -- GPU-hours on an
A100 and an H100 at a stated share of their dense peak, beside the hours a CPU run took where one
was measured (results/cpu/estimates.csv).  The weights, gradients and AdamW state per device are
arithmetic too (4 + 4 + 8 bytes per parameter); activations are not counted.  Writes
``<out>/cost.md`` and ``<out>/cost.json``.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell
from symmflow.outputs import write_atomic
from symmflow.spaces import PixelSpace

PEAK = {"A100": {"bf16": 312e12, "no": 156e12}, "H100 SXM": {"bf16": 989e12, "no": 494e12}}
"""Dense tensor-core peaks in FLOP/s (bf16; float32 runs on TF32 tensor cores, cuDNN's default)."""
UTILISATION = 0.4
"""The share of the peak assumed for the GPU-hours (arithmetic, not a measurement)."""
PROFILES = ("cpu", "gpu", "paper")
TRAIN_IMAGES = {"CelebAMask-HQ": 24_183, "COCO-Stuff": 118_287, "scenes": None}
"""The published training splits (notes section 9); the scene set's is its settings'."""
EVAL_IMAGES = {"CelebAMask-HQ": 2_993, "COCO-Stuff": 5_000}
"""The evaluation splits the paper profile scores (CelebAMask-HQ validation, COCO-Stuff val2017)."""


@dataclass
class Row:
    profile: str
    tables: str
    dataset: str
    network: str
    parameters: int
    networks: int
    train_steps: int
    global_batch: int
    precision: str
    train_step_flops: float
    evaluations: int
    """Network evaluations (samples x steps) the group's tables make."""
    evaluation_flops: float
    """FLOPs of one network evaluation of one sample (with the VAE's decoding in latent space)."""
    measured_cpu_h: dict | None = None
    """Table -> hours a fresh cpu-profile run of it took, where one was measured."""

    @property
    def train_flops(self) -> float:
        return self.networks * self.train_steps * self.train_step_flops

    @property
    def eval_flops(self) -> float:
        return self.evaluations * self.evaluation_flops

    def gpu_hours(self, gpu: str) -> float:
        train = self.train_flops / (PEAK[gpu][self.precision] * UTILISATION)
        return (train + self.eval_flops / (PEAK[gpu]["no"] * UTILISATION)) / 3600

    @property
    def state_gib(self) -> float:
        return self.parameters * 16 / 2 ** 30


def counted(network: torch.nn.Module, inputs: tuple, backward: bool) -> float:
    """FLOPs of one call of ``network`` on ``inputs`` (meta tensors), and of its backward pass
    (evaluation mode where there is none: a batch norm of one sample)."""
    if isinstance(network, torch.nn.Module):
        network.train(backward)
    with FlopCounterMode(display=False) as counter:
        out = network(*inputs)
        out = out.sample if hasattr(out, "sample") else out
        out = out[0] if isinstance(out, tuple) else out
        if backward:
            out.float().square().mean().backward()
    return float(counter.get_total_flops())


def _meta(build):
    with torch.device("meta"):
        return build()


def _symmflow(problem, settings):
    from benchmarks.methods.symmflow import SymmFlowMethod

    return SymmFlowMethod(problem, settings)


def toy_rows(profile: str) -> list[Row]:
    from benchmarks.profiles import TOY
    from benchmarks.tables.toy import STEPS
    from symmflow.models.mlp import ToyMLP

    s = TOY[profile]
    net = _meta(ToyMLP)
    x, y, t = _meta(lambda: (torch.randn(s.batch_size, 2), torch.randn(s.batch_size, 1), torch.rand(s.batch_size)))
    train = counted(net, (x, y, t), True)
    one = counted(net, (x[:1], y[:1], t[:1]), False)
    return [Row(profile, "1", "two-spirals", "the toy MLP", sum(p.numel() for p in net.parameters()), 1,
                s.train_steps, s.batch_size, "no", train, s.eval_points * sum(STEPS), one)]


def classification_rows(profile: str) -> list[Row]:
    from baselines.diffusion_classifier import PUBLISHED
    from benchmarks.methods import Problem
    from benchmarks.profiles import CLASSIFICATION
    from benchmarks.tables.classification import TABLE3_STEPS, TABLE11_STEPS
    from symmflow.data.classification import dataset as spec

    rows = []
    for s in CLASSIFICATION[profile]:
        d = spec(s.dataset)
        method = _symmflow(Problem(s.dataset, d.channels, d.size, d.num_classes, s.unet), s.symmflow)
        net = _meta(method.build)
        b = s.budget.batch_size

        def inputs(n):
            return _meta(lambda: (torch.randn(n, *method.data_shape), torch.randn(n, *method.label_shape),
                                  torch.rand(n)))

        test = s.test_limit or (1_000 if s.dataset == "mnist" else 10_000)
        evaluations = (test * (sum(TABLE3_STEPS) + sum(TABLE11_STEPS))  # SymmFlow's curve
                       + s.dc_images * PUBLISHED.nfe(d.num_classes)  # the published Diffusion Classifier
                       + s.dc_cheap_images * sum(c.nfe(d.num_classes) for c in s.dc_cheap)
                       + 2 * s.generate_per_class * d.num_classes * s.generate_steps)  # SymmFlow and flow matching
        name = (f"the authors' guided U-Net, base {s.unet.model_channels}" if hasattr(s.unet, "model_channels") else
                f"diffusers U-Net, base {s.unet.base_channels}")
        rows.append(Row(profile, "3, 11", s.dataset, name, sum(p.numel() for p in net.parameters()),
                        3, s.budget.steps, b, s.budget.mixed_precision, counted(net, inputs(b), True), evaluations,
                        counted(net, inputs(1), False)))
    return rows


def segmentation_rows(profile: str) -> list[Row]:
    from benchmarks.profiles import SEGSYNTH
    from benchmarks.tables.segsynth import STEPS, TABLE2_STEPS

    s = SEGSYNTH[profile]
    rows = []
    for dataset in s.datasets:
        latent = s.space == "latent"
        if latent:
            from diffusers import AutoencoderKL, UNet2DConditionModel

            from studies.standins import SD21_UNET, SD21_VAE

            net = _meta(lambda: UNet2DConditionModel(**{**SD21_UNET, "in_channels": 8, "out_channels": 8}))
            vae = _meta(lambda: AutoencoderKL(**SD21_VAE))
            side, name = s.resolution // 8, "SD 2.1 U-Net, widened to 8 channels"

            def inputs(n):
                return _meta(lambda: (torch.randn(n, 8, side, side), torch.rand(n), torch.randn(n, 77, 1024)))

            image = _meta(lambda: torch.randn(1, 3, s.resolution, s.resolution))
            encode = counted(vae.encode, (image,), False)  # an image and a mask per training sample
            decode = counted(vae.decode, (_meta(lambda: torch.randn(1, 4, side, side)),), False)
            evaluate_extra = decode
            train_extra = 2 * encode
            train_rows = math.ceil(TRAIN_IMAGES[dataset] / s.global_batch(dataset)) * s.latent["epochs"]
            images, samples = EVAL_IMAGES[dataset], s.fid_samples(dataset, EVAL_IMAGES[dataset])
        else:
            from benchmarks.methods import Problem
            from benchmarks.datasets import DATASETS

            size, classes = DATASETS[dataset].shape(s)
            from symmflow.codecs import PaletteCodec
            from symmflow.data.scenes import SCENE_COLOURS

            method = _symmflow(Problem(dataset, 3, size, classes, s.unet, PaletteCodec(SCENE_COLOURS, 0.0),
                                       space=PixelSpace(PaletteCodec(SCENE_COLOURS, 0.0))), s.symmflow_for(dataset))
            net, name = _meta(method.build), f"pixel U-Net, base {s.unet.base_channels}"

            def inputs(n):
                return _meta(lambda: (torch.randn(n, *method.data_shape), torch.randn(n, *method.label_shape),
                                      torch.rand(n)))

            train_extra = evaluate_extra = 0.0
            train_rows, images, samples = s.budget.steps, s.eval_samples, s.eval_samples
        batch = s.global_batch(dataset)
        step = counted(net, inputs(batch), True) + batch * train_extra
        synthesisers = len(s.synthesis_methods) if s.synthesis_methods else 2
        evaluations = (images * (2 * TABLE2_STEPS + 2 * sum(STEPS))  # Tables 2 and 5: SymmFlow and SemFlow
                       + samples * (2 * TABLE2_STEPS + synthesisers * sum(STEPS)))  # Tables 2 and 4
        rows.append(Row(profile, "2, 4, 5", dataset, name, sum(p.numel() for p in net.parameters()), 3, train_rows,
                        batch, s.budget.mixed_precision, step, evaluations,
                        counted(net, inputs(1), False) + evaluate_extra))
    return rows


def measured_cpu_hours(results: Path) -> dict[str, float]:
    """Table -> hours a fresh cpu-profile run took (results/cpu/estimates.csv)."""
    file = results / "cpu" / "estimates.csv"
    if not file.is_file():
        return {}
    with open(file) as handle:
        return {r["table"]: float(r["measured_s"]) / 3600 for r in csv.DictReader(handle)}


def all_rows(results: Path) -> list[Row]:
    rows = [r for p in PROFILES for r in toy_rows(p) + classification_rows(p) + segmentation_rows(p)]
    measured = measured_cpu_hours(results)
    for r in rows:
        hours = {t: measured[t] for t in r.tables.split(", ") if r.profile == "cpu" and t in measured}
        r.measured_cpu_h = hours or None
    return rows


def _flops(value: float) -> str:
    for unit, scale in (("EFLOP", 1e18), ("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} FLOP"


def markdown(rows: list[Row]) -> str:
    gpus = list(PEAK)
    lines = ["# What each table costs", "",
             "Counted on the full-size networks built from their configs (meta device, "
             "`torch.utils.flop_counter`): FLOPs of one training step (forward and backward at the global batch; in "
             "latent space with the VAE's encoding of an image and a mask per sample) and of one network evaluation "
             "of one sample (with the VAE's decoding in latent space). Training counts every network a group trains "
             "on the same backbone and budget (SymmFlow and its two baselines; the cross-entropy classifier and the "
             "SS U-Net counted as the full U-Net, an upper bound). Evaluations are samples x steps as the tables "
             "make them. GPU-hours are arithmetic: FLOPs over the dense bf16 peak (float32 on TF32) at "
             f"{UTILISATION:.0%} of it, one GPU; weights, gradients and AdamW state are 16 bytes a parameter per "
             "device (activations not counted). No GPU has measured a step of these networks yet: every GPU-hour "
             "here is this assumption, not a timing. The CPU-measured hours are fresh runs of the cpu profile "
             "(results/cpu/estimates.md). `python -m studies.cost_table --out results`.", "",
             "| profile | tables | data set | network | parameters | state per device (GiB) | networks x training "
             "steps | global batch | precision | FLOPs per training step | training | network evaluations | FLOPs "
             "per evaluation | evaluation | " + " | ".join(f"{g} hours" for g in gpus) + " | CPU-measured hours |",
             "|" + "---|" * (16 + len(gpus) - 1)]
    for r in rows:
        measured = ("-" if not r.measured_cpu_h
                    else ", ".join(f"Table {t}: {h:.2f}" for t, h in r.measured_cpu_h.items()))
        lines.append(f"| {r.profile} | {r.tables} | {r.dataset} | {r.network} | {r.parameters / 1e6:.2f} M | "
                     f"{r.state_gib:.2f} | {r.networks} x {r.train_steps:,} | {r.global_batch} | "
                     f"{'float32' if r.precision == 'no' else r.precision} | {_flops(r.train_step_flops)} | "
                     f"{_flops(r.train_flops)} | {r.evaluations:,} | {_flops(r.evaluation_flops)} | "
                     f"{_flops(r.eval_flops)} | " + " | ".join(f"{r.gpu_hours(g):,.3g}" for g in gpus)
                     + f" | {measured} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m studies.cost_table", description=first_paragraph(__doc__))
    parser.add_argument("--out", type=Path, default=Path("results"),
                        help="The folder cost.md and cost.json go into (default results).")
    with CommandShell() as shell:
        args = parser.parse_args(argv)
        if not args.out.is_dir():
            raise UsageError(f"--out {args.out}: not a folder; create it or pass another")
    if shell.stopped:
        return shell.status
    rows = all_rows(args.out)
    write_atomic(args.out / "cost.json", json.dumps([{**vars(r), "train_flops": r.train_flops,
                                                       "eval_flops": r.eval_flops,
                                                       **{f"{g}_hours": r.gpu_hours(g) for g in PEAK}} for r in rows],
                                                     indent=1))
    write_atomic(args.out / "cost.md", markdown(rows))
    print(args.out / "cost.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
