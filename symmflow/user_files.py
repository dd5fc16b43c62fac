"""A user's image files: read as the flow's tensors (images in [-1, 1], class-id masks), the
training data of ``symmflow train`` from its folders, and images written back as PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from symmflow.errors import UsageError


def resize(image: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    kw = {} if mode == "nearest" else {"align_corners": False, "antialias": True}
    return torch.nn.functional.interpolate(image[None].float(), size=(size, size), mode=mode, **kw)[0]


def rgb_tensor(image: np.ndarray, size: int) -> torch.Tensor:
    x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float() / 127.5 - 1
    return resize(x, size, "bilinear")


def load_rgb(path: Path, size: int) -> torch.Tensor:
    from symmflow.data.segmentation import read_image

    return rgb_tensor(read_image(path), size)


def load_image(path: Path, size: int, channels: int = 3) -> torch.Tensor:
    """An image file as (channels, size, size) in [-1, 1]: RGB (:func:`load_rgb`), or for a
    one-channel model its luminance resized as the authors resize MNIST's digits (PIL's bilinear
    ``Resize(32)``: :func:`symmflow.data.mnist.to_tensor_images`)."""
    if channels == 3:
        return load_rgb(path, size)
    from PIL import Image

    from symmflow.data.mnist import to_tensor_images
    from symmflow.data.segmentation import read_image

    grey = Image.fromarray(read_image(path)).convert("L")
    if grey.size != (size, size):
        grey = grey.resize((size, size), Image.BILINEAR)
    return to_tensor_images(np.array(grey)[None], size, "resize")[0]


def load_mask(path: Path, classes: int, size: int, ignore_index: int | None = None) -> torch.Tensor:
    """A class-id mask file as long (1, size, size); colour files and unknown ids (other than
    ``ignore_index``, e.g. COCO-Stuff's unlabelled 255) are refused."""
    from symmflow.data.segmentation import check_ids, read_image

    mask = read_image(path, "ids")
    check_ids(mask, classes, ignore_index, path)
    return resize(torch.from_numpy(mask)[None], size, "nearest").long()


def save_rgb(x: torch.Tensor, path: Path) -> None:
    from PIL import Image

    from symmflow.images import to_uint8

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = to_uint8(x).numpy()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path)  # one channel: grey



def input_files(path: Path, option: str, outputs_by_stem: bool = False) -> list[Path]:
    """The image files of a folder, or the one file given; none at all is refused, and so are two
    files of one stem when the outputs are named by stem."""
    from symmflow.data.segmentation import IMAGE_SUFFIXES, image_files

    from symmflow.data.segmentation import refuse_broken_link

    refuse_broken_link(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UsageError(f"{option} {path} not found; pass an existing image file or folder")
    files = image_files(path)
    if not files:
        raise UsageError(f"{option} {path} holds no images ({', '.join(IMAGE_SUFFIXES)}); pass a folder of images")
    stems = [f.stem for f in files]
    if outputs_by_stem and len(set(stems)) < len(stems):
        twice = sorted(f.name for f in files if stems.count(f.stem) > 1)
        raise UsageError(f"{option} {path}: {' and '.join(twice[:2])} would write the same output; rename one")
    return files



def segmentation_data(args):
    """Images (N, 3, S, S), masks (N, S, S) and settings of ``--images`` with ``--masks``."""
    from symmflow.data.segmentation import paired_folders, read_image

    pairs = paired_folders(args.images, args.masks, num_classes=256)
    classes = args.classes or int(max(read_image(m, "ids").max() for _, m in pairs.items)) + 1
    pairs.num_classes = classes
    data = [pairs[i] for i in range(len(pairs))]  # checks sizes and ids of every pair
    images = torch.stack([resize(x, args.size, "bilinear") for x, _ in data])
    labels = torch.stack([resize(m[None], args.size, "nearest")[0].long() for _, m in data])
    return images, labels, {"task": "segmentation", "classes": classes}


def classification_data(args):
    """Images (N, 3, S, S), class ids (N,) and settings of ``--images/<class>/`` folders."""
    from symmflow.data.segmentation import IMAGE_SUFFIXES, image_files, refuse_broken_link, visible

    if not args.images.is_dir():
        raise UsageError(f"images folder {args.images} not found; pass an existing folder")
    for entry in visible(args.images):  # a class folder's link that leads nowhere: named, not skipped
        refuse_broken_link(entry)
    names = [p.name for p in visible(args.images) if p.is_dir()]
    if len(names) < 2:
        raise UsageError(f"{args.images}: for classification put each class's images in its own "
                         "sub-folder (at least two), or pass --masks for segmentation")
    files = []
    for k, name in enumerate(names):
        found = image_files(args.images / name)
        if not found:
            raise UsageError(f"class folder {args.images / name} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                             "add some or remove the folder")
        files += [(f, k) for f in found]
    images = torch.stack([load_rgb(f, args.size) for f, _ in files])
    labels = torch.tensor([k for _, k in files])
    return images, labels, {"task": "classification", "class_names": names}
