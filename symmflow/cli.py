"""``symmflow``: train one model on your own images, then segment, synthesise, classify, sample.

Image files in, image files out::

    symmflow train --images imgs/ --masks masks/ --classes 5 --out model/     # segmentation model
    symmflow segment --model model/ --images new/ --out predicted/            # class-id PNGs (+ colour)
    symmflow synthesise --model model/ --masks masks/ --out images/           # images from masks
    symmflow train --images digits/ --out clf/                                # classification: one
    symmflow classify --model clf/ --images new/                              #   sub-folder per class
    symmflow sample --model clf/ --labels 0,3,3 --out samples/                # images of given classes
    symmflow evaluate --model model/ --images held/ --masks held-masks/       # mIoU with an interval (JSON)
    symmflow import-released --weights LatFM_celeba_beta10.0.pt --pretrained sd21/ --out celeba/
                                                  # the authors' released model, used as the others are

Masks are single-channel PNGs of class ids, named like their images.  A model folder is in
diffusers' layout (:mod:`symmflow.pretrained`; the earlier ``settings.json`` + ``model.safetensors``
still loads); one imported from the authors' released weights (:mod:`symmflow.released_folder`) is
used by the same commands, thin layers over the Python API (:mod:`symmflow.infer_commands`;
``train`` over :func:`symmflow.training.train_model`, ``evaluate`` over :func:`symmflow.evaluation.evaluate`).
Bad input prints one line and exits with status 2, before any training or inference starts; an
output folder appears complete or not at all (an existing non-empty one is replaced only with
``--overwrite``).
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

from symmflow.threads import yield_while_waiting

yield_while_waiting()  # before torch is imported: threads that do not spin against other work

import torch

from symmflow.arguments import CHANNELS, COUNT, DECAY, POSITIVE, RATE, SEED, SHARE, SIZE, DefaultsFormatter
from symmflow.device import PRECISIONS
from symmflow.outputs import check_destination, check_free_space, check_outside, claimed
from symmflow.infer_commands import add_options as add_inference_options, classify, sample, segment, synthesise
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell, SigtermAsInterrupt


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="symmflow", description=first_paragraph(__doc__))
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    def add(name: str, help: str) -> OneLineParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=DefaultsFormatter)

    t = add("train", "Train a model on an image folder (with --masks a segmentation model, else a classifier of its "
                     "sub-folders).")
    t.add_argument("--images", type=Path, required=True,
                   help="Image folder (classification: one sub-folder per class).")
    t.add_argument("--masks", type=Path,
                   help="Folder of class-id PNG masks named like the images (default: none, a classification model).")
    t.add_argument("--classes", type=POSITIVE, help="Number of mask classes (default: the largest id + 1).")
    t.add_argument("--out", type=Path, required=True, help="Model folder to write.")
    t.add_argument("--seed", type=SEED, default=0,
                   help="Seed of the weights, the batches and the noise (the same seed: the same weights).")
    t.add_argument("--size", type=SIZE, default=32, help="Training resolution (a multiple of 8).")
    t.add_argument("--steps", type=POSITIVE, default=2000, help="Training steps.")
    t.add_argument("--batch-size", type=POSITIVE, default=32, help="Images per training step (per process).")
    t.add_argument("--gradient-accumulation-steps", type=POSITIVE, default=1,
                   help="Batches whose gradients make one step (a larger batch in the same memory).")
    t.add_argument("--ema-decay", type=DECAY, default=None,
                   help="Decay of the weights' EMA (the weights saved), warmed up as diffusers' EMAModel: min(decay, "
                        "(1 + s) / (10 + s)) at step s (default: 0.99, or 0.999 above 2000 steps).")
    t.add_argument("--checkpointing-steps", type=COUNT, default=0,
                   help="Save the training's state every this many steps, in <out>-checkpoints beside the model "
                        "folder (default: 0, none).")
    t.add_argument("--checkpoints-total-limit", type=POSITIVE, default=2,
                   help="How many of the latest checkpoints to keep.")
    t.add_argument("--resume-from-checkpoint", default=None, metavar="latest|PATH",
                   help="Resume from the latest checkpoint in <out>-checkpoints (none there: a new training) or from "
                        "the checkpoint folder PATH; one of other settings is refused (default: a new training).")
    t.add_argument("--validation-split", type=SHARE, default=0.0,
                   help="Share of the images held out before training (drawn by --seed), whose mIoU or accuracy is "
                        "measured and stored in the model card and config.json (default: 0, none).")
    t.add_argument("--validation-steps", type=POSITIVE, default=500,
                   help="Measure the held-out metric every this many steps and at the end, logged to --report-to.")
    t.add_argument("--no-progress", dest="progress", action="store_false", help="Draw no progress bar (default: one).")
    t.add_argument("--compile", action="store_true",
                   help="Compile the network with torch.compile (speed only; slower to start).")
    t.add_argument("--channels-last", action="store_true", help="Channels-last convolution weights (speed only).")
    t.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="Training precision: fp32; bf16 autocast with the weights and optimiser state in fp32, where "
                        "the device computes bf16 natively (a CPU with AMX or AVX-512 BF16, an Ampere-or-later GPU); "
                        "auto: bf16 where native, else fp32. Recorded in the model card (docs/precision.md).")
    t.add_argument("--report-to", default=None, metavar="TRACKER",
                   help="Log eq. 3's two terms, the learning rate and sample grids to tensorboard or wandb (offline "
                        "unless WANDB_MODE says otherwise; default: no tracker).")
    t.add_argument("--logging-dir", type=Path, default=None,
                   help="The tracker's folder (default: <out>-logs beside the model folder).")
    t.add_argument("--lr", type=RATE, default=5e-4, help="Peak learning rate (one-cycle schedule).")
    t.add_argument("--base-channels", type=CHANNELS, default=32, help="Width of the U-Net's first level.")
    t.add_argument("--beta", type=RATE, default=None, help="Label dequantisation (default 10 masks, 4 classes).")
    t.add_argument("--image-weight", type=SHARE, default=0.9, help="Image share of the loss (authors: 0.9).")
    t.add_argument("--near-one", type=SHARE, default=0.0,
                   help="Share of training times drawn from U(0.9, 1) (authors: 0). Recommended, with "
                        "--near-one-label-only: 0.4 for a segmentation model, 0.5 for a classifier, as the cpu "
                        "profile's records chose them (results/cpu/front.md; docs/own-data.md).")
    t.add_argument("--near-one-label-only", action="store_true",
                   help="The --near-one share trains the label part alone (image weight 0 there).")
    t.add_argument("--label-residual", action="store_true",
                   help="Predict v_y as y_t + network output (helps recognition; see docs).")
    t.add_argument("--mask-code", choices=("palette", "per-class"), default="palette",
                   help="Segmentation: masks as palette colours (authors) or one +-1 channel per class.")
    t.add_argument("--code-scale", type=RATE, default=1.0,
                   help="With --mask-code per-class: the code is +-scale (2 keeps many-step segmentation from "
                        "drifting on small budgets and synthesises best; see docs/step-curve.md).")
    helps = {"segment": "Segment image files into class-id mask PNGs.",
             "synthesise": "Synthesise images from mask PNGs.",
             "classify": "Classify image files, one class per file.", "sample": "Sample images of given classes."}
    for name, help in helps.items():
        q = add(name, help)
        add_inference_options(q, name)
        q.add_argument("--model", type=Path, required=True,
                       help="Model folder written by symmflow train or symmflow import-released.")
        q.add_argument("--steps", type=POSITIVE, default=1 if name == "classify" else 25,
                       help="Integration steps of --solver (the grid of euler, midpoint or heun; an adaptive solver "
                            "chooses its own).")
        if name in ("segment", "classify"):
            q.add_argument("--images", type=Path, required=True, help="An image file or a folder of images.")
        if name == "synthesise":
            q.add_argument("--masks", type=Path, required=True, help="A class-id PNG mask or a folder of them.")
        if name == "sample":
            q.add_argument("--labels", required=True, help="Comma-separated class ids, e.g. 0,1,1.")
        if name != "classify":
            q.add_argument("--out", type=Path, required=True, help="Output folder to write.")
        q.add_argument("--seed", type=SEED, default=0, help="Seed of the noise.")
    r = add("import-released", "Turn the authors' released weights file into a model folder the other commands use.")
    r.add_argument("--weights", type=Path, required=True,
                   help="A released file: LatFM_celeba_beta10.0.pt, LatFM_coco_beta6.0.pt, or the MNIST or CIFAR-10 "
                        "classifier's state dict.")
    r.add_argument("--dataset", default=None,
                   help="MNIST, CIFAR-10, CelebAMask-HQ or COCO-Stuff (default: the one the file's name or tensor "
                        "shapes tell).")
    r.add_argument("--out", type=Path, required=True, help="Model folder to write.")
    r.add_argument("--pretrained", type=Path, default=None,
                   help="Latent models: the Stable Diffusion 2.1 folder (diffusers layout) they were trained on; "
                        "named by path and content digest, not copied (default: none, a pixel model).")
    r.add_argument("--vae", type=Path, default=None,
                   help="Latent models: a VAE folder to use instead of --pretrained's own, e.g. sd-vae-ft-mse as the "
                        "authors did (default: --pretrained's vae/).")
    r.add_argument("--size", type=SIZE, default=None,
                   help="Latent models: the side images are segmented and synthesised at (default: the authors' 512).")
    e = add("evaluate", "Measure a model's mIoU (per class and mean) or accuracy on labelled images, with a "
                        "bootstrap interval over the images, as JSON.")
    e.add_argument("--model", type=Path, required=True, help="Model folder to evaluate.")
    e.add_argument("--images", type=Path, required=True,
                   help="Image folder (classification: one sub-folder per class, named as the model's classes).")
    e.add_argument("--masks", type=Path, help="Segmentation: class-id PNG masks named like the images (default: none).")
    e.add_argument("--out", type=Path, help="JSON file to write (default: stdout).")
    e.add_argument("--steps", type=POSITIVE,
                   help="Integration steps of --solver (default: 25 segmenting, 1 classifying, as segment and "
                        "classify).")
    add_inference_options(e, "evaluate")  # --batch-size and --solver, as the inference commands take them
    e.add_argument("--seed", type=SEED, default=0, help="Seed of the noise and of the bootstrap's resamples.")
    for q in sub.choices.values():
        q.add_argument("--threads", type=POSITIVE, default=None,
                       help="CPU threads (default: torch's choice, one per core; recorded with a trained model).")
    for name, q in sub.choices.items():
        if name not in ("classify", "evaluate"):
            q.add_argument("--overwrite", action="store_true",
                           help="Replace --out if it exists (the new folder is swapped in once complete).")
        if name != "import-released":
            q.add_argument("--device", default="auto",
                           help="Device: auto (the GPU when there is one), cpu, cuda or cuda:N.")
    return p


# ------------------------------------------------------------------ helpers


KINDS = {"train": "model", "import-released": "model", "segment": "segmentation", "synthesise": "synthesis",
         "sample": "samples"}
"""The kind of output folder each command writes (its marker, :mod:`symmflow.outputs`)."""


def _check_out(args, *inputs: Path) -> None:
    """Refuse, before any work, an ``--out`` that cannot be written all-or-nothing or must not be
    replaced (:func:`~symmflow.outputs.check_destination`), that would replace one of the inputs or
    lie inside an input folder, or that another command is writing now (:func:`~symmflow.outputs.claimed`,
    held until the command ends)."""
    check_destination(args.out, args.overwrite, KINDS[args.command], inputs)
    check_outside(args.out, inputs)
    args.claims.enter_context(claimed(args.out))


MARGIN = 2 ** 20
"""Free space kept beyond an output's own bytes (the marker, settings, file-system slack)."""


def _check_space(args, need: int) -> None:
    """The disk where ``--out`` lies can take ``need`` bytes of outputs, checked before the work."""
    check_free_space(args.out, need + MARGIN)


# ------------------------------------------------------------------ commands


def train(args) -> None:
    from symmflow.training import TrainOptions, train_with

    if train_with(TrainOptions.of(args)):  # the process that saved the model
        print(args.out)


def evaluate(args) -> None:
    import json

    from symmflow.device import resolve_device, resolve_precision
    from symmflow.evaluation import evaluate as measure, summary
    from symmflow.outputs import write_atomic

    if args.out is not None and args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; pass the JSON file to write")
    resolve_precision(args.precision, resolve_device(args.device))  # refused in the option's own words
    result = measure(args.model, args.images, args.masks, steps=args.steps, solver=args.solver,
                     batch_size=args.batch_size, seed=args.seed, device=args.device, precision=args.precision)
    if args.out is None:
        print(json.dumps(result, indent=2))
    else:
        write_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(summary(result), file=sys.stderr)


def import_released(args) -> None:
    from symmflow.released_folder import import_released as write_folder

    written = write_folder(args.weights, args.dataset, args.out, args.pretrained, args.vae, args.size,
                           args.overwrite)
    print(args.out)
    uses = "classify --images" if written["task"] == "classification" else "segment --images"
    print(f"{written['dataset']} {written['task']} model ({written['space']}); use it with: symmflow {uses} IMAGES "
          f"--model {args.out}" + ("" if written["task"] == "classification" else " --out OUT"), file=sys.stderr)


COMMANDS = {"train": train, "segment": segment, "synthesise": synthesise, "classify": classify, "sample": sample,
            "evaluate": evaluate, "import-released": import_released}


def main(argv=None) -> int:
    claims = ExitStack()  # the --out a command holds (symmflow.outputs.claimed), given up however it ends
    with CommandShell(interrupted="nothing was written (an output folder appears only once complete); rerun the "
                                  "command",
                      unwritable="nothing was written: free some space or pass another --out, then rerun",
                      signals=SigtermAsInterrupt, cleanup=claims.close) as shell:
        args = build_parser().parse_args(argv)
        args.claims = claims
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        COMMANDS[args.command](args)
    return shell.status


if __name__ == "__main__":
    sys.exit(main())
