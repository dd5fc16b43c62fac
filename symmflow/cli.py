"""``symmflow``: train one model on your own images, then segment, synthesise, classify, sample.

Image files in, image files out::

    symmflow train --images imgs/ --masks masks/ --classes 5 --out model/     # segmentation model
    symmflow segment --model model/ --images new/ --out predicted/            # class-id PNGs (+ colour)
    symmflow synthesise --model model/ --masks masks/ --out images/           # images from masks
    symmflow train --images digits/ --out clf/                                # classification: one
    symmflow classify --model clf/ --images new/                              #   sub-folder per class
    symmflow sample --model clf/ --labels 0,3,3 --out samples/                # images of given classes

Masks are single-channel PNGs of class ids, named like their images.  A model folder holds
``model.safetensors`` and ``settings.json``.  Bad input prints one line and exits with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from symmflow.device import resolve_device
from symmflow.errors import OneLineParser, UsageError


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="symmflow", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    t = sub.add_parser("train", help="train on an image folder (with --masks: segmentation; else classes = sub-folders)")
    t.add_argument("--images", type=Path, required=True)
    t.add_argument("--masks", type=Path, help="folder of class-id PNG masks named like the images")
    t.add_argument("--classes", type=int, help="number of mask classes (default: the largest id + 1)")
    t.add_argument("--out", type=Path, required=True, help="model folder to write")
    t.add_argument("--size", type=int, default=32, help="training resolution (a multiple of 8)")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--base-channels", type=int, default=32)
    t.add_argument("--beta", type=float, default=None, help="label dequantisation (default 10 masks, 4 classes)")
    t.add_argument("--image-weight", type=float, default=0.9, help="image share of the loss (authors: 0.9)")
    t.add_argument("--near-one", type=float, default=0.0,
                   help="share of training times drawn from U(0.9, 1) (authors: 0; 0.5-0.75 helps recognition)")
    t.add_argument("--near-one-label-only", action="store_true",
                   help="the --near-one share trains the label part alone (image weight 0 there)")
    t.add_argument("--label-residual", action="store_true",
                   help="predict v_y as y_t + network output (helps recognition; see docs)")
    t.add_argument("--mask-code", choices=("palette", "per-class"), default="palette",
                   help="segmentation: masks as palette colours (authors) or one +-1 channel per class")
    for name in ("segment", "synthesise", "classify", "sample"):
        q = sub.add_parser(name, help={"segment": "image files -> mask PNGs", "synthesise": "mask PNGs -> images",
                                       "classify": "image files -> class per file", "sample": "class ids -> images"}[name])
        q.add_argument("--model", type=Path, required=True)
        q.add_argument("--steps", type=int, default=1 if name == "classify" else 25)
        if name in ("segment", "classify"):
            q.add_argument("--images", type=Path, required=True)
        if name == "synthesise":
            q.add_argument("--masks", type=Path, required=True)
        if name == "sample":
            q.add_argument("--labels", required=True, help="comma-separated class ids, e.g. 0,1,1")
        if name != "classify":
            q.add_argument("--out", type=Path, required=True)
        q.add_argument("--seed", type=int, default=0)
    for q in sub.choices.values():
        q.add_argument("--device", default="auto", help="auto (the GPU when there is one), cpu, cuda or cuda:N")
    return p


# ------------------------------------------------------------------ helpers


def palette_for(num_classes: int, beta: float):
    from symmflow.codecs import CELEBAMASK_COLOURS, PaletteCodec, cocostuff_colours

    if num_classes > 216:
        raise UsageError(f"{num_classes} classes: at most 216 palette colours are available")
    colours = CELEBAMASK_COLOURS if num_classes <= len(CELEBAMASK_COLOURS) else cocostuff_colours(216)
    return PaletteCodec(colours[:num_classes], beta)


def _resize(image: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    kw = {} if mode == "nearest" else {"align_corners": False, "antialias": True}
    return torch.nn.functional.interpolate(image[None].float(), size=(size, size), mode=mode, **kw)[0]


def _load_rgb(path: Path, size: int) -> torch.Tensor:
    from symmflow.data.segmentation import read_image

    x = torch.from_numpy(np.array(read_image(path), copy=True)).permute(2, 0, 1).float() / 127.5 - 1
    return _resize(x, size, "bilinear")


def _save_rgb(x: torch.Tensor, path: Path) -> None:
    from PIL import Image

    from symmflow.images import to_uint8

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(x).numpy()).save(path)


def _method(settings: dict):
    """The SymmFlow method of a model folder's settings (folders written before the method
    object kept the same settings flat: image_weight, near_one, label_residual, mask_code)."""
    from symmflow.method import SymmFlow, SymmFlowSettings

    if "symmflow" in settings:
        return SymmFlow(SymmFlowSettings(**settings["symmflow"]))
    per_class = settings["task"] == "segmentation" and settings.get("mask_code") == "per-class"
    return SymmFlow(SymmFlowSettings(
        image_weight=settings.get("image_weight", 0.9), beta=settings["beta"],
        label_code="per-class" if per_class else "image", near_one=settings.get("near_one", 0.0),
        near_one_label_only=settings.get("near_one_label_only", False),
        label_form="residual" if settings.get("label_residual") else "velocity"))


def _palette(settings: dict):
    return palette_for(settings["classes"], _method(settings).settings.beta)


def _codec(settings: dict):
    method = _method(settings)
    if settings["task"] == "segmentation":
        return method.mask_codec(_palette(settings))
    return method.class_codec(len(settings["class_names"]), settings["size"])


def _model(settings: dict, device: str):
    from symmflow.models.pixel_unet import UNetConfig

    size, base = settings["size"], settings["base_channels"]
    config = UNetConfig(base_channels=base, multipliers=(1, 2, 2), layers_per_block=1, head_channels=base,
                        norm_groups=min(32, base))
    method, codec = _method(settings), _codec(settings)
    label_shape = method.label_shape(codec, size, dense=True)
    return method.network(config, 3, label_shape, size).to(device)


def _open_model(folder: Path, device: str, task: str, instead: str):
    """The trained model in ``folder``, which must be a ``task`` model (else: use ``instead``)."""
    from symmflow.checkpoint import load_weights, saved_settings

    settings = saved_settings(folder)
    if settings is None:
        raise UsageError(f"{folder} is not a model folder (no settings.json); train one with symmflow train")
    if settings["task"] != task:
        raise UsageError(f"{folder} is a {settings['task']} model; use symmflow {instead}")
    return load_weights(_model(settings, device), folder).eval(), settings


# ------------------------------------------------------------------ commands


def train(args) -> None:
    from dataclasses import asdict

    from symmflow.checkpoint import save_weights
    from symmflow.data.segmentation import image_files, paired_folders, read_image
    from symmflow.data.streams import draw_batches
    from symmflow.method import SymmFlowSettings
    from symmflow.train import TrainConfig, fit

    if args.size % 8 or args.size < 8:
        raise UsageError(f"--size {args.size}: use a multiple of 8, e.g. 32 or 64")
    if args.steps <= 0 or args.batch_size <= 0:
        raise UsageError("--steps and --batch-size must be positive")
    if not 0 <= args.image_weight <= 1 or not 0 <= args.near_one <= 1:
        raise UsageError("--image-weight and --near-one must lie in [0, 1]")
    device = resolve_device(args.device)
    if args.masks is not None:
        pairs = paired_folders(args.images, args.masks, num_classes=256)
        masks = [read_image(m, "L") for _, m in pairs.items]
        classes = args.classes or int(max(m.max() for m in masks)) + 1
        pairs.num_classes = classes
        data = [pairs[i] for i in range(len(pairs))]  # checks sizes and ids of every pair
        images = torch.stack([_resize(x, args.size, "bilinear") for x, _ in data])
        labels = torch.stack([_resize(m[None], args.size, "nearest")[0].long() for _, m in data])
        settings = {"task": "segmentation", "classes": classes}
        beta, code = args.beta or 10.0, "per-class" if args.mask_code == "per-class" else "image"
    else:
        if not args.images.is_dir():
            raise UsageError(f"images folder {args.images} not found; pass an existing folder")
        names = sorted(p.name for p in args.images.iterdir() if p.is_dir())
        if len(names) < 2:
            raise UsageError(f"{args.images}: for classification put each class's images in its own "
                             "sub-folder (at least two), or pass --masks for segmentation")
        files = [(f, k) for k, n in enumerate(names) for f in image_files(args.images / n)]
        images = torch.stack([_load_rgb(f, args.size) for f, _ in files])
        labels = torch.tensor([k for _, k in files])
        settings = {"task": "classification", "class_names": names}
        beta, code = args.beta or 4.0, "image"
    symmflow = SymmFlowSettings(image_weight=args.image_weight, beta=beta, label_code=code,
                                near_one=args.near_one, near_one_label_only=args.near_one_label_only,
                                label_form="residual" if args.label_residual else "velocity")
    settings.update(size=args.size, base_channels=args.base_channels, steps=args.steps, lr=args.lr,
                    batch_size=args.batch_size, symmflow=asdict(symmflow))
    method, codec, model = _method(settings), _codec(settings), _model(settings, device)

    def loss(m, batch):
        images, labels = batch
        return method.loss(m, images, codec.encode(labels).to(images.device))

    config = TrainConfig(steps=args.steps, lr=args.lr, batch_size=args.batch_size, schedule="onecycle",
                         warmup_steps=min(100, args.steps // 10), ema_decay=0.999 if args.steps > 2000 else 0.99)
    result = fit(model, loss, draw_batches(images, labels, batch_size=args.batch_size, seed=0, device=device),
                 config, device=device, desc="train")
    save_weights(result.model, args.out, settings)
    print(args.out)


def segment(args) -> None:
    from PIL import Image

    from symmflow.data.segmentation import image_files, read_image
    from symmflow.tasks import predict

    device = resolve_device(args.device)
    model, settings = _open_model(args.model, device, "segmentation", "classify")
    codec, size = _codec(settings), settings["size"]
    palette = _palette(settings)  # the colours of the preview PNG
    files = image_files(args.images) if args.images.is_dir() else [args.images]
    generator = torch.Generator().manual_seed(args.seed)
    for file in files:
        h, w = read_image(file).shape[:2]
        x = _load_rgb(file, size)[None].to(device)
        mask = predict(model, x, codec, _method(settings).label_shape(codec, size, dense=True), steps=args.steps,
                       generator=generator)
        mask = torch.nn.functional.interpolate(mask[None].float(), size=(h, w), mode="nearest")[0].long()
        args.out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask[0].byte().cpu().numpy()).save(args.out / f"{file.stem}.png")
        colour = palette.colourise(mask.cpu())[0].byte().permute(1, 2, 0).numpy()
        Image.fromarray(colour).save(args.out / f"{file.stem}_colour.png")
        print(args.out / f"{file.stem}.png")


def synthesise(args) -> None:
    from symmflow.data.segmentation import check_ids, image_files, read_image
    from symmflow.tasks import generate

    device = resolve_device(args.device)
    model, settings = _open_model(args.model, device, "segmentation", "sample")
    codec, size = _codec(settings), settings["size"]
    files = image_files(args.masks) if args.masks.is_dir() else [args.masks]
    generator = torch.Generator().manual_seed(args.seed)
    for file in files:
        mask = read_image(file, "L")
        check_ids(mask, settings["classes"], None, file)
        mask = _resize(torch.from_numpy(mask)[None], size, "nearest").long()
        x = generate(model, mask.to(device), codec, (3, size, size), steps=args.steps, generator=generator)
        _save_rgb(x[0], args.out / f"{file.stem}.png")
        print(args.out / f"{file.stem}.png")


def classify(args) -> None:
    from symmflow.data.segmentation import image_files
    from symmflow.tasks import predict

    device = resolve_device(args.device)
    model, settings = _open_model(args.model, device, "classification", "segment")
    codec, size, names = _codec(settings), settings["size"], settings["class_names"]
    files = image_files(args.images) if args.images.is_dir() else [args.images]
    x = torch.stack([_load_rgb(f, size) for f in files]).to(device)
    labels = predict(model, x, codec, _method(settings).label_shape(codec, size, dense=True), steps=args.steps,
                     generator=torch.Generator().manual_seed(args.seed))
    print("file,class")
    for file, k in zip(files, labels.tolist()):
        print(f"{file.name},{names[k]}")


def sample(args) -> None:
    from symmflow.tasks import generate

    device = resolve_device(args.device)
    model, settings = _open_model(args.model, device, "classification", "synthesise")
    names = settings["class_names"]
    try:
        labels = [int(s) for s in args.labels.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--labels {args.labels!r}: give comma-separated class ids, e.g. 0,1,1") from None
    if not labels or min(labels) < 0 or max(labels) >= len(names):
        raise UsageError(f"--labels {args.labels!r}: class ids run from 0 to {len(names) - 1} ({', '.join(names)})")
    size = settings["size"]
    x = generate(model, torch.tensor(labels, device=device), _codec(settings), (3, size, size),
                 steps=args.steps, generator=torch.Generator().manual_seed(args.seed))
    for i, (image, k) in enumerate(zip(x, labels)):
        _save_rgb(image, args.out / f"{i:04d}_{names[k]}.png")
        print(args.out / f"{i:04d}_{names[k]}.png")


COMMANDS = {"train": train, "segment": segment, "synthesise": synthesise, "classify": classify, "sample": sample}


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        COMMANDS[args.command](args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
