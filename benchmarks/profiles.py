"""The settings of every profile, per table group: data, networks, budgets and each method's own.

Nothing here is mutated at run time; a study of other settings builds its own objects
(``dataclasses.replace``) and passes them in.  Each method's settings live apart from the
settings every network of a table shares (:class:`Budget`), so a network's identity in the
model cache (:func:`benchmarks.trained.trained_model`) holds its own settings only.

* ``smoke``: seconds; the cpu profile's code paths at toy size (what the tests run).
* ``cpu``: minutes on 2 CPU cores, on data that ship offline; its deviations from the authors'
  settings are recorded with the measurements that chose them.
* ``gpu``: the authors' recipe (notes sections 1, 2, 5, 11) on the data that ship offline, with the
  paper's pixel U-Net, at a budget sized for one GPU in minutes (:data:`GPU_BUDGET_NOTE`);
* ``paper``: the authors' settings (notes sections 1, 2, 5, 6, 11).

Each profile's differences from the authors' protocol are generated from these settings into
``results/<profile>/protocol.md`` (:mod:`benchmarks.render.protocol`).  Table 1's settings live in
:mod:`benchmarks.toy_settings` (named here too), so that a run of Table 1 imports none of the
other tables' networks and data sets.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import ClassVar

from baselines.diffusion_classifier import Schedule
from benchmarks.cells import settings_identity
from benchmarks.prose import note
from benchmarks.toy_settings import TOY, ToySettings  # noqa: F401 -- named here too
from symmflow.data.scenes import SceneConfig
from symmflow.method import AUTHORS, SymmFlowSettings
from symmflow.models.guided_unet import AUTHORS_CIFAR10, AUTHORS_MNIST, GuidedUNetConfig
from symmflow.models.pixel_unet import MNIST_UNET, UNetConfig
from symmflow.train import TrainConfig

@dataclass(frozen=True)
class Budget:
    """The training budget every network of a table group gets (notes sections 1, 5, 6)."""

    steps: int
    """Training steps; 0 in the latent paper profile, whose epochs decide them."""
    batch_size: int
    lr: float
    warmup_steps: int
    ema_decay: float | None = 0.999
    mixed_precision: str = "no"
    checkpoint_every: int = 0
    schedule: str = "onecycle"
    """``onecycle`` (linear warm-up; the cpu and smoke profiles' networks) or the authors'
    ``onecycle-cosine`` (:class:`~symmflow.train.TrainConfig`)."""
    ema_warmup: bool = True
    """diffusers' decay warm-up (cpu, smoke) or, False, the authors' constant decay."""

    LATER_FIELDS: ClassVar[dict] = {"schedule": "onecycle", "ema_warmup": True}
    """Options added after cells were stored, at the values that reproduce them."""

    def config(self, steps: int | None = None, warmup_steps: int | None = None,
               mixed_precision: str | None = None) -> TrainConfig:
        """AdamW with a one-cycle schedule; the arguments override the budget's own values."""
        return TrainConfig(steps=steps or self.steps, lr=self.lr, batch_size=self.batch_size, optimizer="adamw",
                           schedule=self.schedule, ema_decay=self.ema_decay, ema_warmup=self.ema_warmup, log_every=50,
                           warmup_steps=self.warmup_steps if warmup_steps is None else warmup_steps,
                           mixed_precision=mixed_precision or self.mixed_precision,
                           checkpoint_every=self.checkpoint_every)


AUTHORS_RECIPE = {"schedule": "onecycle-cosine", "ema_warmup": False}
"""The authors' optimisation beyond the budget's numbers (reference notes section 11): torch's
OneCycleLR with a cosine warm-up from 1e-6, and an EMA copied at step 0 that then decays by a
constant rate every step."""


def epochs_steps(epochs: int, rows: int, batch: int) -> int:
    """Optimiser steps of ``epochs`` passes over ``rows`` at a global batch of ``batch``: the
    authors' loader keeps the last partial batch, so an epoch is ceil(rows / batch) steps
    (reference notes section 11)."""
    return epochs * -(-rows // batch)


# ------------------------------------------------------------------ Tables 2, 4, 5


@dataclass(frozen=True)
class SegSynthSettings:
    """Tables 2, 4 and 5: the data sets, the networks' space and size, the shared budget, each
    method's own settings (``symmflow`` with per-data-set overrides) and the evaluation."""

    datasets: tuple[str, ...] = ("scenes",)
    space: str = "pixel"
    scenes: SceneConfig = SceneConfig()
    unet: UNetConfig | None = UNetConfig(base_channels=32, multipliers=(1, 2, 2), layers_per_block=1,
                                         head_channels=32)
    budget: Budget = Budget(1_200, 32, 5e-4, 100, ema_decay=0.995)
    symmflow: SymmFlowSettings = replace(AUTHORS, beta=20.0)
    symmflow_per_dataset: dict = field(default_factory=dict)
    """Overrides of ``symmflow``'s fields per data set (the paper's beta 10 / 6)."""
    synthesis_methods: tuple[str, ...] | None = None
    """The methods of Table 4 (None: every method that synthesises in the profile's space)."""
    feature_steps: int = 400
    eval_samples: int = 300
    eval_batch: int = 150
    diversity_samples: int = 4
    resolution: int = 512
    latent: dict = field(default_factory=dict)
    """The paper profile's epochs, warm-up epochs, GPUs per data set, and FID samples (a cap and
    the samples per evaluation mask, :meth:`fid_samples`)."""
    evaluation_splits: dict = field(default_factory=dict)
    """Per data set, the split its cells are scored on where not the data set's default
    (CelebAMask-HQ test, COCO-Stuff val2017): the authors score CelebAMask-HQ on validation."""
    palettes: dict = field(default_factory=dict)
    """Per data set, the palette reader's options where not its defaults: COCO-Stuff's
    ``{"colours": "raw-id"}``, the authors' (:data:`symmflow.data.cocostuff.COLOURS`)."""
    fid_quantise: str = "round"
    """How samples become the 8-bit pixels pytorch-fid scores: ``round``, or the authors' PNGs'
    ``truncate`` (``(x * 255).astype(uint8)``, reference notes section 11)."""

    LATER_FIELDS: ClassVar[dict] = {"evaluation_splits": {}, "palettes": {}, "fid_quantise": "round"}
    """Options added after cells were stored, at the values that reproduce them."""

    def symmflow_for(self, dataset: str) -> SymmFlowSettings:
        return replace(self.symmflow, **self.symmflow_per_dataset.get(dataset, {}))

    def global_batch(self, dataset: str) -> int:
        """The samples of one optimiser step on ``dataset``, whatever the launch: the budget's batch
        per GPU times the authors' GPU count where the profile follows them (the latent paper
        profile: 32 x 2 = 64 on CelebAMask-HQ, 32 x 4 = 128 on COCO-Stuff, reference notes
        section 6), else the budget's batch."""
        return self.budget.batch_size * self.latent.get("gpus", {}).get(dataset, 1)

    def method_settings(self, key: str, dataset: str):
        """The own settings of method ``key`` on ``dataset`` (None: it has none)."""
        return self.symmflow_for(dataset) if key == "symmflow" else None

    def fid_samples(self, dataset: str, masks: int) -> int:
        """Samples a synthesis cell scores on ``dataset`` with ``masks`` evaluation masks: the
        profile's samples per mask (the authors': 17 on CelebAMask-HQ, 10 on COCO-Stuff) up to its
        cap (their 50,000); 0 -- one sample per mask."""
        cap, per_mask = self.latent.get("fid_samples", 0), self.latent.get("samples_per_mask", {}).get(dataset)
        return min(per_mask * masks, cap) if per_mask and cap else cap

    def cell_settings(self, key: str, dataset: str) -> dict:
        """What a cell of method ``key`` depends on: everything but the other methods' settings."""
        shared = {k: v for k, v in settings_identity(self).items() if k not in ("symmflow", "symmflow_per_dataset")}
        return {**shared, "method": self.method_settings(key, dataset)}


SCENE_RECOGNITION = replace(AUTHORS, beta=20.0, label_code="per-class", code_scale=2.0, label_form="residual",
                            near_one=0.4, near_one_label_only=True)
"""The authors' path and loss with the settings the scene-set comparisons chose: one +-2 channel per
class, the label residual (results/cpu/segmentation-design.md, docs/step-curve.md), 40% of the batch at
t in [0.9, 1] on the label alone -- lowered from 60% on the recognition-generation front, where it
keeps the synthesis claims 60% loses at the cost of recognition (results/cpu/front.md, three seeds)."""

SEGSYNTH = {
    # the cpu profile's SymmFlow at toy size, so that the tests run its code path
    "smoke": SegSynthSettings(scenes=SceneConfig(train_scenes=256, test_scenes=32), symmflow=SCENE_RECOGNITION,
                              unet=UNetConfig(base_channels=8, multipliers=(1, 2), layers_per_block=1,
                                              head_channels=8, norm_groups=4),
                              budget=Budget(30, 16, 2e-3, 5, ema_decay=0.995), eval_samples=32, eval_batch=32,
                              feature_steps=20),
    "cpu": SegSynthSettings(budget=Budget(2_400, 32, 2e-3, 100, ema_decay=0.995), symmflow=SCENE_RECOGNITION),
    # the authors' SymmFlow (palette code, t ~ U(0, 1), image weight 0.9) and the MNIST U-Net on the scene set
    "gpu": SegSynthSettings(unet=MNIST_UNET,
                            budget=Budget(4_000, 128, 5e-4, 400, mixed_precision="bf16", **AUTHORS_RECIPE),
                            feature_steps=1_000, eval_batch=300),
    # notes section 6: SD 2.1 latent U-Net, 200 epochs, lr 8e-5, warm-up 10 epochs, w 0.7, EMA 0.9
    "paper": SegSynthSettings(datasets=("CelebAMask-HQ", "COCO-Stuff"), space="latent", unet=None,
                              budget=Budget(0, 32, 8e-5, 0, ema_decay=0.9, mixed_precision="bf16",
                                            checkpoint_every=5_000, **AUTHORS_RECIPE),
                              symmflow=replace(AUTHORS, image_weight=0.7, beta=10.0),
                              symmflow_per_dataset={"CelebAMask-HQ": {"beta": 10.0}, "COCO-Stuff": {"beta": 6.0}},
                              synthesis_methods=("symmflow",), eval_samples=0,
                              latent={"epochs": 200, "warmup_epochs": 10, "fid_samples": 50_000,
                                      "samples_per_mask": {"CelebAMask-HQ": 17, "COCO-Stuff": 10},
                                      "gpus": {"CelebAMask-HQ": 2, "COCO-Stuff": 4}},
                              evaluation_splits={"CelebAMask-HQ": "validation"},
                              palettes={"COCO-Stuff": {"colours": "raw-id"}}, fid_quantise="truncate"),
}


# ------------------------------------------------------------------ Tables 3, 11


@dataclass(frozen=True)
class ClassificationSettings:
    """Tables 3 and 11 on one data set: backbone, shared budget, SymmFlow's own settings, evaluation."""

    dataset: str
    unet: UNetConfig | GuidedUNetConfig
    """The backbone of every network of the tables: the authors' U-Net (gpu, paper), or a diffusers
    U-Net (cpu, smoke: the vector label needs its own projection and head, which it has)."""
    symmflow: SymmFlowSettings
    budget: Budget
    test_limit: int | None = None
    """Held-out images SymmFlow and the reference are scored on (None: the whole test split)."""
    dc_images: int = 20
    """Test images the published 2,750-NFE Diffusion Classifier is run on (a fixed subset)."""
    dc_cheap: tuple[Schedule, ...] = (Schedule((10,), (1,)), Schedule((10, 50), (3, 1)))
    dc_cheap_images: int = 100
    speed_images: int = 4
    footprint_classes: tuple[int, ...] = (10, 100)
    generate_per_class: int = 50
    generate_steps: int = 25
    eval_batch: int = 250
    flow_matching: dict = field(default_factory=lambda: {"sigma_min": 1e-4, "time_scale": 1.0})
    """The class-conditional flow-matching model's own settings (the Diffusion Classifier's too):
    SymmFlow's image path and time scale."""
    mnist_fit: str = "pad"
    """MNIST's 28 px digits to 32 px: ``pad`` (cpu, smoke) or the authors' ``resize``."""

    LATER_FIELDS: ClassVar[dict] = {"mnist_fit": "pad"}
    """Options added after cells were stored, at the values that reproduce them."""

    def method_settings(self, key: str):
        """The own settings of method ``key`` (None: it has none)."""
        return {"symmflow": self.symmflow, "flow-matching": self.flow_matching,
                "diffusion-classifier": self.flow_matching}.get(key)

    def cell_settings(self, keys: tuple[str, ...]) -> dict:
        """What a cell computed with methods ``keys`` depends on: everything but other methods' settings."""
        shared = {k: v for k, v in settings_identity(self).items() if k not in ("symmflow", "flow_matching")}
        return {**shared, "methods": {key: self.method_settings(key) for key in keys}}


CPU_UNET = UNetConfig(base_channels=16, multipliers=(1, 2, 2), layers_per_block=1, head_channels=32,
                      norm_groups=8)
CPU_SYMMFLOW = replace(AUTHORS, label_code="per-class", code_scale=3.0, image_weight=0.7, near_one=0.5,
                       near_one_label_only=True, label_form="residual")
"""The cpu profile's classifier: the vector label with the +-3 code, its head's output added to y_t,
half of the batch at t in [0.9, 1] on the label alone (the image keeps t ~ U(0, 1)), image weight
0.7 -- chosen on recognition *and* generation (the measurements that chose it:
results/cpu/classification-design.md for the code and the near-one share, results/cpu/front.md,
three seeds, for the image weight and the near-one times on the label alone)."""
SMOKE_UNET = UNetConfig(base_channels=8, multipliers=(1, 2, 2), layers_per_block=1, head_channels=8,
                        norm_groups=4)

GPU_BUDGET_NOTE = note("gpu-budget")
"""What the gpu profile runs of the authors' recipe, printed under its tables (``paper_tables/notes.json``)."""

CLASSIFICATION: dict[str, tuple[ClassificationSettings, ...]] = {
    "smoke": (ClassificationSettings("mnist", SMOKE_UNET, CPU_SYMMFLOW, Budget(12, 32, 1e-3, 2), test_limit=40,
                                     dc_images=1, dc_cheap=(Schedule((2, 4), (3, 1)),), dc_cheap_images=4,
                                     speed_images=1, generate_per_class=2, generate_steps=2, eval_batch=40),),
    "cpu": (ClassificationSettings("mnist", CPU_UNET, CPU_SYMMFLOW, Budget(1500, 64, 1e-3, 75), eval_batch=500),),
    # the authors' classifier (channel label with noise per pixel, beta 4, t ~ U(0, 1), image weight 0.9, the
    # MNIST U-Net, batch 512, lr 5e-4, cosine warm-up a tenth, EMA 0.999, float32) on the bundled digits
    "gpu": (ClassificationSettings("mnist", AUTHORS_MNIST, AUTHORS, Budget(4_000, 512, 5e-4, 400, **AUTHORS_RECIPE),
                                   dc_images=100, dc_cheap_images=1_000, speed_images=20, eval_batch=1_000,
                                   mnist_fit="resize"),),
    "paper": (ClassificationSettings("mnist-full", AUTHORS_MNIST, AUTHORS,
                                     Budget(epochs_steps(1_000, 60_000, 512), 512, 5e-4, epochs_steps(100, 60_000, 512),
                                            checkpoint_every=118_000 // 4, **AUTHORS_RECIPE),
                                     dc_images=1000, dc_cheap_images=10_000, speed_images=20,
                                     generate_per_class=1000, mnist_fit="resize"),
              ClassificationSettings("cifar10", AUTHORS_CIFAR10, AUTHORS,
                                     Budget(epochs_steps(1_000, 50_000, 180), 180, 3e-4, epochs_steps(100, 50_000, 180),
                                            checkpoint_every=278_000 // 4, **AUTHORS_RECIPE),
                                     dc_images=1000, dc_cheap_images=10_000, speed_images=20,
                                     generate_per_class=1000)),
}


def with_train_steps(settings, steps: int):
    """A profile's settings with every network trained for ``steps`` instead of its budget
    (``benchmarks.run --train-steps``: a short check of a profile, e.g. the paper profile at full
    size for a few hundred steps).  The warm-up keeps its share of the budget (the latent
    paper profile's: warm-up epochs over epochs); the budget is part of every network's and
    cell's identity, so these are stored apart from the profile's own."""
    if isinstance(settings, tuple):
        return tuple(with_train_steps(s, steps) for s in settings)
    if isinstance(settings, ToySettings):
        return replace(settings, train_steps=steps)
    budget = settings.budget
    warmup = budget.warmup_steps * steps // budget.steps if budget.steps else 0
    shorter = replace(settings, budget=replace(budget, steps=steps, warmup_steps=warmup))
    return replace(shorter, feature_steps=steps) if isinstance(settings, SegSynthSettings) else shorter


def table_with_train_steps(spec, profile: str, steps: int):
    """A copy of table ``spec`` whose ``profile`` trains every network for ``steps`` (``--train-steps``)."""
    shorter = copy.copy(spec)
    shorter.settings = {**spec.settings, profile: with_train_steps(spec.settings[profile], steps)}
    return shorter
