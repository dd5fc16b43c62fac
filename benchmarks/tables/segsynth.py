"""Tables 2, 4 and 5: which cells exist per profile; each cell is answered by the data set's experiment.

* Table 2: segmentation (mIoU at the paper's 25 steps, plus SymmFlow's one-step cell as its
  own row and, on the scene set, the cross-entropy SS U-Net) and synthesis (FID or
  FD-scenenet, LPIPS, LPIPS diversity at 25 steps) of every method of the profile.
* Table 4: synthesis against the number of Euler steps.
* Table 5: SymmFlow's segmentation against the number of Euler steps.

The scene set has no published numbers, so its published column stays empty.  mIoU ignores
the background on the scene set, as the reference does on CelebAMask-HQ.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from benchmarks.claims import Claim
from benchmarks.cells import Cell, CellSink, PlotSpec, RunOptions, digest
from benchmarks.experiments.segsynth import SegSynthExperiment, synthesis_metric
from benchmarks.datasets import DATASETS
from benchmarks.grids import segsynth_grid
from benchmarks.methods import METHODS
from benchmarks.profiles import GPU_BUDGET_NOTE, SEGSYNTH, SegSynthSettings
from symmflow.metrics import PROTOCOLS, inception_available, lpips_available
from symmflow.models.features import NAME as FEATURE_NAME

STEPS = (1, 2, 5, 10, 20, 25)
TABLE2_STEPS = 25
MEASURES = {"miou": ("segmentation", "mIoU"), "frechet": ("synthesis", None), "lpips": ("synthesis", "LPIPS"),
            "diversity": ("synthesis", "LPIPS-diversity")}
"""What a cell measures -> (task, metric); the Frechet distance is named by :func:`synthesis_metric`."""
SYNTHESIS_MEASURES = ("frechet", "lpips", "diversity")
FRECHET = ("FID", f"FD-{FEATURE_NAME}")


SCENE_NOTE = (
    "cpu profile deviations from the authors' settings, each measured (results/cpu/segmentation-design.md, "
    "docs/step-curve.md): masks coded one +-2 channel per class instead of palette colours (with palette "
    "colours and the authors' sampler SymmFlow reached 4.1 mIoU on this budget); the code's scale chosen on "
    "the whole step curve, seed 0, mIoU at 1 / 2 / 5 / 25 steps and FD-scenenet at 25: +-1 78.5 / 46.4 / - / "
    "21.9 and 0.030, +-2 80.3 / 75.8 / 69.7 / 64.9 and 0.026, +-3 77.2 / 74.9 / 69.8 / 67.6 and 0.085; the "
    "label velocity predicted as a residual on y_t; 60% of each batch drawn at t in [0.9, 1] and trained on "
    "the label alone; lr 2e-3 and 2,400 steps of 32 for SymmFlow, SemFlow and the SS U-Net alike; a base-32 "
    "pixel U-Net on the 32 px scene set built from the bundled MNIST digits instead of Stable Diffusion's "
    "latent space. The paper profile keeps the authors' settings.")


class SegSynthTable:
    """What Tables 2, 4 and 5 share: settings per profile, the experiments, the sample grids."""

    name = title = ""
    plot = None
    notes = {"smoke": SCENE_NOTE, "cpu": SCENE_NOTE, "gpu": GPU_BUDGET_NOTE}
    """What a table's notes say per profile (the paper profile keeps the authors' settings)."""

    def __init__(self, settings: dict[str, SegSynthSettings] | None = None, methods: dict | None = None):
        """``settings`` per profile (default: :data:`~benchmarks.profiles.SEGSYNTH`); ``methods``
        the method registry (default: :data:`~benchmarks.methods.METHODS`)."""
        self.settings = SEGSYNTH if settings is None else settings
        self.registry = METHODS if methods is None else methods

    def cells(self, options: RunOptions) -> list[Cell]:
        raise NotImplementedError

    def _cell(self, options: RunOptions, dataset: str, method: str, steps: int, measure: str,
              shown: str | None = None) -> Cell:
        """A cell of ``method`` (a registry key) measured by ``measure`` (:data:`MEASURES`);
        ``shown`` is its row label when it is not the method's."""
        s = self.settings[options.profile]
        task, metric = MEASURES[measure]
        metric = metric or synthesis_metric(s, options)
        return Cell.make(self.name, dataset, task, shown or self.registry[method].label, steps, metric,
                         profile=options.profile, seed=options.seed, solver=options.solver,
                         settings=s.cell_settings(method, dataset), params={"method": method, "measure": measure},
                         protocol=PROTOCOLS.get(metric, "Frechet distance in the scene-set feature network"))

    def methods(self, options: RunOptions, capability: str) -> list[str]:
        """The registered methods that have ``capability`` in the profile's space, by key."""
        space = self.settings[options.profile].space
        return [key for key, m in self.registry.items() if getattr(m, capability) is not None and space in m.spaces]

    def experiment(self, dataset: str, options: RunOptions, experiments: dict) -> SegSynthExperiment:
        """One experiment per (data set, settings, options), shared by the tables of one run."""
        settings = self.settings[options.profile]
        key = digest(["segsynth", dataset, asdict(settings), sorted(self.registry), options.seed, options.solver, options.device,
                      str(options.out), str(options.data_root), str(options.pretrained),
                      str(options.inception_dir), str(options.lpips_dir)])
        if key not in experiments:
            experiments[key] = SegSynthExperiment(dataset, settings, options, self.registry)
        return experiments[key]

    def needs(self, options: RunOptions) -> list[str]:
        return needs(self.settings[options.profile], options)

    def compute(self, todo: list[Cell], options: RunOptions, finish: CellSink, experiments: dict) -> None:
        by_dataset: dict[str, list[Cell]] = {}
        for cell in todo:
            by_dataset.setdefault(cell.dataset, []).append(cell)
        for dataset, cells in by_dataset.items():
            exp = self.experiment(dataset, options, experiments)
            for cell in tqdm(cells, desc=f"table {self.name}: {dataset}", disable=not options.progress):
                finish(cell, exp.measure(cell))
            shown = {(task, self.registry[key].label, steps): result
                     for (task, key, steps), result in exp.results.items() if self.shown(task, steps)}
            if shown and options.shard.is_main:  # previews of the first batch (the main process's); a rerun
                # that only retried skipped cells keeps the grid it has
                _, first = next(iter(exp.eval_batches()))
                segsynth_grid(Path(options.out) / "samples" / f"table{self.name}-{dataset}.png", first,
                              exp.palette, shown)

    def shown(self, task: str, steps: int) -> bool:
        """Whether a (task, steps) result belongs in this table's sample grid."""
        raise NotImplementedError


class Table2(SegSynthTable):
    name = "2"
    title = "Semantic segmentation (mIoU) and semantic image synthesis (FID / LPIPS)"
    claims = (Claim("SymmFlow's mIoU at least SemFlow's at 25 steps (paper: 69.3 against 69.4 on CelebAMask-HQ, "
                    "39.6 against 35.7 on COCO-Stuff)", ("SymmFlow", TABLE2_STEPS, "mIoU"),
                    ("SemFlow", TABLE2_STEPS, "mIoU")),
              *(Claim(f"SymmFlow synthesises better than SemFlow at 25 steps, lower {fd} (paper: FID 11.9 against "
                      "32.6, 7.0 against 90.0)", ("SymmFlow", TABLE2_STEPS, fd), ("SemFlow", TABLE2_STEPS, fd),
                      higher=False) for fd in FRECHET))

    def cells(self, options: RunOptions) -> list[Cell]:
        out = []
        for dataset in self.settings[options.profile].datasets:
            for method in self.methods(options, "segment"):
                if self.registry[method].synthesise is None:  # a segmenter only: one network call
                    out.append(self._cell(options, dataset, method, 1, "miou"))
                    continue
                if method == "symmflow":  # the one-step segmentation, a row of its own
                    out.append(self._cell(options, dataset, method, 1, "miou", shown="SymmFlow (1 step)"))
                out.append(self._cell(options, dataset, method, TABLE2_STEPS, "miou"))
                for measure in SYNTHESIS_MEASURES:
                    out.append(self._cell(options, dataset, method, TABLE2_STEPS, measure))
        return out

    def shown(self, task: str, steps: int) -> bool:
        return steps == TABLE2_STEPS or (task, steps) == ("segmentation", 1)


class Table4(SegSynthTable):
    name = "4"
    title = "Semantic image synthesis against the number of Euler steps"
    plot = PlotSpec(metrics=("FID", f"FD-{FEATURE_NAME}", "LPIPS", "LPIPS-diversity"))
    claims = tuple(Claim(f"SymmFlow's {fd} falls from 1 to 25 steps", ("SymmFlow", TABLE2_STEPS, fd),
                         ("SymmFlow", 1, fd), higher=False) for fd in FRECHET)

    def cells(self, options: RunOptions) -> list[Cell]:
        s = self.settings[options.profile]
        methods = s.synthesis_methods or self.methods(options, "synthesise")
        return [self._cell(options, dataset, method, steps, measure)
                for dataset in s.datasets for method in methods
                for steps in options.steps or STEPS for measure in SYNTHESIS_MEASURES]

    def shown(self, task: str, steps: int) -> bool:
        return task == "synthesis"


class Table5(SegSynthTable):
    name = "5"
    title = "Semantic segmentation (mIoU) against the number of Euler steps"
    plot = PlotSpec(metrics=("mIoU",))
    claims = (Claim("mIoU rises from 1 step to a plateau, 25 steps within 10% of the best (65.3 -> 70.3 -> 69.3, "
                    "29.3 -> 40.1 -> 39.6)", ("SymmFlow", TABLE2_STEPS, "mIoU"), ("SymmFlow", None, "mIoU"),
                    factor=0.9),)

    def cells(self, options: RunOptions) -> list[Cell]:
        return [self._cell(options, dataset, "symmflow", steps, "miou")
                for dataset in self.settings[options.profile].datasets for steps in options.steps or STEPS]

    def shown(self, task: str, steps: int) -> bool:
        return task == "segmentation"


def needs(settings: SegSynthSettings, options: RunOptions) -> list[str]:
    """What the cells of Tables 2, 4 and 5 need, and what of it is missing here."""
    lines = [DATASETS[name].needs(options.data_root) for name in settings.datasets]
    if settings.space == "latent":
        pretrained = options.pretrained
        state = "found" if pretrained and (Path(pretrained) / "unet" / "config.json").is_file() else "MISSING here"
        lines.append(f"Stable Diffusion 2.1 in diffusers layout (--pretrained {pretrained}): {state}")
        gpu = "found" if torch.cuda.is_available() else "MISSING here (no CUDA device)"
        lines.append(f"GPUs: 2 (CelebAMask-HQ) / 4 (COCO-Stuff) for the paper's batch of 32 per GPU: {gpu}")
    for name, reason in (("FID (clean-fid Inception)", inception_available(options.inception_dir)),
                         ("LPIPS (AlexNet)", lpips_available(options.lpips_dir))):
        lines.append(f"{name}: {'found' if reason is None else 'MISSING here: ' + reason}")
    return lines


TABLE2, TABLE4, TABLE5 = Table2(), Table4(), Table5()
