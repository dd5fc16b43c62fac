"""``symmflow segment | synthesise | classify | sample``: files in, files out, through the Python
API (:class:`symmflow.api.Model`).

Every input is read and checked before anything is written; the outputs of a folder appear
complete or not at all (:func:`symmflow.outputs.staged_folder`).  ``--batch-size`` sets how many
images share a network call; each image draws its own noise (:mod:`symmflow.inference`), so the
files written do not depend on it.  ``--precision`` sets the arithmetic of the network's evaluations
(fp32, bf16 autocast where the device has native bf16, or auto), checked before the model is read.
"""

from __future__ import annotations

import argparse

from symmflow.api import Model
from symmflow.device import PRECISIONS


def _solver(text: str) -> str:
    from symmflow.solver import parse_solver

    try:
        parse_solver(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_options(parser: argparse.ArgumentParser, name: str) -> None:
    """The options an inference command adds to those :func:`symmflow.cli.build_parser` gives it."""
    from symmflow.cli import POSITIVE

    parser.add_argument("--batch-size", type=POSITIVE, default=16,
                        help="Images per network call; the outputs do not depend on it, as each image draws its "
                             "own noise.")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="The precision of the network's evaluations: fp32 (the default); bf16 autocast with the "
                             "weights in fp32, where the device computes bf16 natively (a CPU with AMX or AVX-512 "
                             "BF16, an Ampere-or-later GPU); auto: bf16 where native, else fp32 (docs/precision.md).")
    parser.add_argument("--solver", type=_solver, default="euler",
                        help="The ODE solver: euler, midpoint or heun on --steps steps, or an adaptive one (dopri5, "
                             "bosh3, adaptive_heun, dopri8, optionally with its tolerance, e.g. dopri5:1e-3).")


def _opened(args, task: str, instead: str) -> Model:
    from symmflow.device import resolve_device, resolve_precision
    from symmflow.model_folder import open_folder

    device = resolve_device(args.device)
    resolve_precision(args.precision, device)  # bf16 where it is not native: refused before the model is read
    return Model(open_folder(args.model, device, task, instead), args.model, device)


def _run(args) -> dict:
    return {"steps": args.steps, "solver": args.solver, "seed": args.seed, "batch_size": args.batch_size,
            "precision": args.precision, "progress": True}


def segment(args) -> None:
    from PIL import Image

    from symmflow.cli import KINDS, _check_out, _check_space
    from symmflow.data.segmentation import read_image
    from symmflow.model_folder import parts
    from symmflow.outputs import staged_folder
    from symmflow.user_files import input_files

    _check_out(args, args.model, args.images)
    model = _opened(args, "segmentation", "classify")
    palette = parts(model.settings).palette  # the preview's colours
    files = input_files(args.images, "--images", outputs_by_stem=True)
    images = [read_image(file) for file in files]  # every image is read (and checked) before anything is written
    _check_space(args, sum(image.shape[0] * image.shape[1] * 4 for image in images))  # ids and colours
    masks = model.segment(images, **_run(args))
    with staged_folder(args.out, args.overwrite, KINDS[args.command], (args.model, args.images)) as staged:
        for file, mask in zip(files, masks):
            Image.fromarray(mask.byte().numpy()).save(staged / f"{file.stem}.png")
            Image.fromarray(palette.colour_pixels(mask[None])[0].numpy()).save(staged / f"{file.stem}_colour.png")
    for file in files:
        print(args.out / f"{file.stem}.png")


def synthesise(args) -> None:
    from symmflow.cli import KINDS, _check_out, _check_space
    from symmflow.data.segmentation import check_ids, read_image
    from symmflow.model_folder import parts
    from symmflow.outputs import staged_folder
    from symmflow.user_files import input_files, save_rgb

    _check_out(args, args.model, args.masks)
    model = _opened(args, "segmentation", "sample")
    ignore = parts(model.settings).palette.ignore_index  # an id with a colour of its own (COCO-Stuff's 255)
    files = input_files(args.masks, "--masks", outputs_by_stem=True)
    masks = []
    for file in files:  # all checked first
        mask = read_image(file, "ids")
        check_ids(mask, model.classes, ignore, file)
        masks.append(mask)
    _check_space(args, sum(3 * mask.size for mask in masks))
    images = model.synthesise(masks, **_run(args))
    with staged_folder(args.out, args.overwrite, KINDS[args.command], (args.model, args.masks)) as staged:
        for file, image in zip(files, images):
            save_rgb(image, staged / f"{file.stem}.png")
    for file in files:
        print(args.out / f"{file.stem}.png")


def classify(args) -> None:
    from symmflow.data.segmentation import read_image
    from symmflow.user_files import input_files

    model = _opened(args, "classification", "segment")
    files = input_files(args.images, "--images")
    labels = model.classify([read_image(file) for file in files], **_run(args))
    print("file,class")
    for file, k in zip(files, labels.tolist()):
        print(f"{file.name},{model.class_names[k]}")


def sample(args) -> None:
    from symmflow.cli import KINDS, _check_out, _check_space
    from symmflow.errors import UsageError
    from symmflow.outputs import staged_folder
    from symmflow.user_files import save_rgb

    _check_out(args, args.model)
    model = _opened(args, "classification", "synthesise")
    names = model.class_names
    try:
        labels = [int(s) for s in args.labels.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--labels {args.labels!r}: give comma-separated class ids, e.g. 0,1,1") from None
    if not labels or min(labels) < 0 or max(labels) >= len(names):
        raise UsageError(f"--labels {args.labels!r}: class ids run from 0 to {len(names) - 1} ({', '.join(names)})")
    _check_space(args, len(labels) * 3 * model.size ** 2)
    images = model.sample(labels, **_run(args))
    outputs = [f"{i:04d}_{names[k]}.png" for i, k in enumerate(labels)]
    with staged_folder(args.out, args.overwrite, KINDS[args.command], (args.model,)) as staged:
        for image, name in zip(images, outputs):
            save_rgb(image, staged / name)
    for name in outputs:
        print(args.out / name)
