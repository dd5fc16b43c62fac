"""The Python API: a model folder loaded once, then segment, classify, synthesise and sample.

    import symmflow

    model = symmflow.load("model/")                    # symmflow train's folder, or an imported release
    masks = model.segment(images, steps=25, seed=0)    # PIL images, numpy arrays or tensors
    pictures = model.synthesise(masks, seed=0)         # back at each mask's own size

Every call runs in batches of ``batch_size`` with each image's noise drawn from its own seed
(:mod:`symmflow.inference`), so the batch size changes the speed, not the result.  An image of any
shape runs letterboxed in the model's square and its mask comes back at its exact size
(:mod:`symmflow.letterbox`).  ``precision="bf16"`` evaluates the network under bf16 autocast, the
weights in fp32, where the device computes bf16 natively (``"auto"``: there, else fp32; the default
is fp32).  Bad input is one :class:`~symmflow.errors.UsageError` naming the
problem and the remedy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from symmflow.errors import UsageError

USES = {"segmentation": "segment or synthesise", "classification": "classify or sample"}


def load(folder, device: str = "auto", task: str | None = None) -> "Model":
    """The model in ``folder`` -- written by ``symmflow train`` (diffusers' layout or the earlier one)
    or ``symmflow import-released`` -- on ``device`` (``auto``: the GPU when there is one); with
    ``task`` (``segmentation`` or ``classification``) a model of another task is refused."""
    from symmflow.device import resolve_device
    from symmflow.model_folder import open_folder

    if task not in (None, *USES):
        raise UsageError(f"task {task!r} is not segmentation or classification")
    device = resolve_device(device)
    return Model(open_folder(Path(folder), device, task), Path(folder), device)


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"{name} {value!r}: use a positive integer")
    return value


def _seeds(seed, generator, count: int) -> list[int]:
    """The seed of each of ``count`` inputs: ``seed + i`` (:func:`symmflow.inference.image_seeds`), or
    with ``generator`` one drawn from it per input in turn."""
    from symmflow.inference import image_seeds
    from symmflow.model_folder import image_seeds as drawn

    if generator is not None:
        return drawn(generator, count)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise UsageError(f"seed {seed!r}: use an integer from 0 to 2^63 - 1")
    return image_seeds(seed, count)


def _items(given, batched_dims: int) -> tuple[list, str]:
    """The inputs as a list, and how the output is given back: ``one``, ``list`` or ``stacked``
    (a tensor or array of ``batched_dims`` dimensions is a batch)."""
    if isinstance(given, (list, tuple)):
        if not given:
            raise UsageError("no inputs: give one, or a list or batch of them")
        return list(given), "list"
    if isinstance(given, (Tensor, np.ndarray)) and given.ndim == batched_dims:
        if len(given) == 0:
            raise UsageError("an empty batch: give one input or more")
        return list(given), "stacked"
    return [given], "one"


def _give(outputs: list[Tensor], form: str):
    if form == "one":
        return outputs[0]
    return torch.stack(outputs) if form == "stacked" and len({o.shape for o in outputs}) == 1 else outputs


class Model:
    """A SymmFlow model opened for inference (:func:`load`).  ``task``, ``size`` (the side it runs
    at), ``channels``, ``classes``, ``class_names`` and ``settings`` describe it; ``network`` is its
    network (for a folder in diffusers' layout the :class:`~symmflow.pretrained.SymmFlowModel`)."""

    def __init__(self, opened, folder: Path, device: str):
        self.opened, self.folder, self.device = opened, folder, device
        settings = opened.settings
        self.settings, self.task, self.size = settings, settings["task"], settings["size"]
        self.channels = settings.get("channels", 3)
        self.class_names = settings.get("class_names")
        self.classes = settings["classes"] if self.task == "segmentation" else len(self.class_names)
        self.network = opened.pretrained if opened.pretrained is not None else opened.model

    def __repr__(self) -> str:
        return f"<symmflow.Model {self.task}, {self.classes} classes, {self.size} px, from {self.folder}>"

    def _need(self, task: str, call: str) -> None:
        if self.task != task:
            raise UsageError(f"{self.folder} is a {self.task} model, which cannot {call}; call {USES[self.task]}")

    def _run(self, run, states: list, seeds: list[int], steps: int, solver: str, batch_size: int, progress: bool,
             desc: str, precision: str):
        """``run(opened, batch, seeds, steps, solver)`` over ``states`` in batches, the network
        evaluated at ``precision`` (:data:`symmflow.device.PRECISIONS`: fp32; bf16 autocast with the
        weights in fp32, refused where the device has no native bf16; auto); the outputs in order."""
        from tqdm.auto import tqdm

        from symmflow.device import evaluation_precision, resolve_precision
        from symmflow.solver import parse_solver

        _positive(steps, "steps")
        _positive(batch_size, "batch_size")
        try:
            parse_solver(solver)
        except ValueError as error:
            raise UsageError(str(error)) from None
        outputs = []
        with evaluation_precision(self.device, resolve_precision(precision, self.device, "precision")), \
                tqdm(total=len(states), desc=desc, unit="image", disable=not progress or len(states) < 2,
                     dynamic_ncols=True) as bar:
            for start in range(0, len(states), batch_size):
                batch = torch.stack(states[start:start + batch_size]).to(self.device)
                outputs += list(run(self.opened, batch, seeds[start:start + batch_size], steps, solver).cpu())
                bar.update(len(batch))
        return outputs

    def segment(self, images, *, steps: int = 25, solver: str = "euler", seed: int = 0,
                generator: torch.Generator | None = None, batch_size: int = 16, progress: bool = False,
                precision: str = "fp32"):
        """Class-id masks (long, H x W of each image) of ``images`` (paper section 3.2: [image,
        noise] from t = 1 to 0, the label decoded, eq. 8): one image -> one mask, a list -> a list, a
        batch (B, C, H, W) -> (B, H, W).  ``solver``: any of :data:`symmflow.solver.SOLVERS`."""
        from symmflow.arrays import fitted_image
        from symmflow.inference import recognise
        from symmflow.letterbox import unfit

        self._need("segmentation", "segment")
        items, form = _items(images, 4)
        fitted = [fitted_image(item, self.size, self.channels, f"image {i}") for i, item in enumerate(items)]
        seeds = _seeds(seed, generator, len(items))
        masks = self._run(recognise, [x for x, _ in fitted], seeds, steps, solver, batch_size, progress, "segment",
                          precision)
        return _give([unfit(m[None], box, nearest=True)[0].long() for m, (_, box) in zip(masks, fitted)], form)

    def classify(self, images, *, steps: int = 1, solver: str = "euler", seed: int = 0,
                 generator: torch.Generator | None = None, batch_size: int = 16, progress: bool = False,
                 precision: str = "fp32"):
        """Class ids of ``images`` (the flow of :meth:`segment` on the class label): one image -> an
        int, a list or batch -> a long tensor (B,); ``class_names`` names them."""
        from symmflow.arrays import fitted_image
        from symmflow.inference import recognise

        self._need("classification", "classify")
        items, form = _items(images, 4)
        states = [fitted_image(item, self.size, self.channels, f"image {i}")[0] for i, item in enumerate(items)]
        seeds = _seeds(seed, generator, len(items))
        labels = torch.stack(self._run(recognise, states, seeds, steps, solver, batch_size, progress, "classify",
                                       precision))
        return int(labels[0]) if form == "one" else labels

    def synthesise(self, masks, *, steps: int = 25, solver: str = "euler", seed: int = 0,
                   generator: torch.Generator | None = None, batch_size: int = 16, progress: bool = False,
                   precision: str = "fp32"):
        """Images in [-1, 1] (C, H, W, each at its mask's own size) of class-id ``masks`` (paper
        section 3.2: [noise, label] from t = 0 to 1): one mask -> one image, a list -> a list, a batch
        (B, H, W) -> (B, C, H, W)."""
        from symmflow.arrays import mask_ids
        from symmflow.data.segmentation import check_ids
        from symmflow.inference import generate
        from symmflow.letterbox import fit, unfit
        from symmflow.model_folder import parts

        self._need("segmentation", "synthesise")
        ignore = parts(self.settings).palette.ignore_index  # an id with a colour of its own (COCO-Stuff's 255)
        items, form = _items(masks, 3)
        fitted = []
        for i, item in enumerate(items):
            ids = mask_ids(item, f"mask {i}")
            check_ids(ids, self.classes, ignore, f"mask {i}")
            square, box = fit(torch.from_numpy(ids)[None], self.size, nearest=True)
            fitted.append((square[0].round().long(), box))
        seeds = _seeds(seed, generator, len(items))
        images = self._run(generate, [m for m, _ in fitted], seeds, steps, solver, batch_size, progress,
                           "synthesise", precision)
        return _give([unfit(x, box).clamp(-1, 1) for x, (_, box) in zip(images, fitted)], form)

    def sample(self, labels, *, steps: int = 25, solver: str = "euler", seed: int = 0,
               generator: torch.Generator | None = None, batch_size: int = 16, progress: bool = False,
               precision: str = "fp32"):
        """Images (B, C, size, size) in [-1, 1] of ``labels``: class ids or class names (one -> one
        image (C, size, size))."""
        from symmflow.inference import generate

        self._need("classification", "sample")
        items, form = _items(labels, 1)
        ids = []
        for label in items:
            label = label.item() if isinstance(label, (Tensor, np.generic)) else label
            if isinstance(label, str) and label in self.class_names:
                label = self.class_names.index(label)
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < self.classes:
                raise UsageError(f"label {label!r}: class ids run from 0 to {self.classes - 1} "
                                 f"({', '.join(self.class_names)}), or give a class name")
            ids.append(torch.tensor(label))
        seeds = _seeds(seed, generator, len(items))
        images = self._run(generate, ids, seeds, steps, solver, batch_size, progress, "sample", precision)
        return images[0] if form == "one" else torch.stack(images)

    def save(self, folder, overwrite: bool = False) -> Path:
        """Write this model to ``folder`` in diffusers' layout (:func:`symmflow.pretrained.save_model`):
        a model of the earlier layout converted; a released model keeps the layout of its import."""
        from symmflow.pretrained import save_model

        if self.opened.method is not None:
            raise UsageError(f"{self.folder} is an imported released model; it runs from its own folder (copy the "
                             "folder, or import the released file again with symmflow import-released --out)")
        import json

        from symmflow.pretrained import STATS

        settings = dict(self.settings)
        if (self.folder / STATS).is_file():  # the loss by step, kept beside the weights
            settings["train_stats"] = json.loads((self.folder / STATS).read_text())
        save_model(self.network, Path(folder), settings, overwrite, (self.folder,))
        return Path(folder)
