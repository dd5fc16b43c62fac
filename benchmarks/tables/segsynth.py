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

from benchmarks import judges, prose, released
from benchmarks.claims import stated
from benchmarks.cells import Cell, PlotSpec, RunOptions, digest
from benchmarks.measures import JOINT_NAMES as JOINT, directions, measure as declared_measure
from benchmarks.tables.base import Table
from benchmarks.experiments.segsynth import FEATURES, FRECHET_MEASURES, REAL, SegSynthExperiment, joint_embedding
from benchmarks.datasets import DATASETS, paper_name
from benchmarks.render.grids import segsynth_preview
from benchmarks.methods import METHODS
from benchmarks.profiles import SEGSYNTH, SegSynthSettings
from symmflow.metrics import CLEAN_FID, PROTOCOLS, PYTORCH_FID, MetricUnavailable, inception_missing, lpips_missing
from symmflow.metrics import pytorch_fid_missing
from symmflow.models.features import NAME as FEATURE_NAME

STEPS = (1, 2, 5, 10, 20, 25)
TABLE2_STEPS = 25
SYNTHESIS_MEASURES = ("frechet", "pytorch-fid", "joint", "judged", "lpips", "diversity")
"""What a synthesis cell may measure; ``pytorch-fid`` only where it can be computed or, in latent
space, where it is the authors' metric (:meth:`SegSynthTable.synthesis_measures`)."""
FRECHET = (CLEAN_FID, PYTORCH_FID, f"FD-{FEATURE_NAME}")
SYNTHESIS_METRICS = directions((*FRECHET, *JOINT, *declared_measure("segsynth", "judged").metrics))
"""Every metric a synthesis claim is checked on, with whether higher is better (:mod:`benchmarks.measures`)."""
SEEDED_METRICS = (JOINT[1], judges.metric_name("segmenter", False))
"""The synthesis metrics measured by the SS U-Net the run trains with each seed (its features, its
segmentation): both methods of a seed are measured by the same network, so they are paired."""
REAL_LABEL = "Real images"


SCENE_NOTE = prose.note("cpu-scenes")
"""What the cpu profile changes in Tables 2, 4 and 5 and the measurements that chose it."""


def supplied_weights(s, options: RunOptions, measure: str) -> dict:
    """The supplied folders a cell's number depends on, by their content (:mod:`symmflow.digests`):
    the Stable Diffusion folder and the VAE in latent space, the Inception weights of a Frechet
    distance (the joint one too), the LPIPS weights; only those given and present, so a cell
    without them keeps its key."""
    from symmflow.digests import folder_digest

    wanted = {}
    if s.space == "latent":
        wanted.update(pretrained=options.pretrained, vae=options.vae)
    folders = {"inception": options.inception_dir, "lpips": options.lpips_dir}
    wanted.update((name, folders[name]) for name in declared_measure("segsynth", measure).weights)
    return {name: folder_digest(folder) for name, folder in wanted.items()
            if folder is not None and Path(folder).is_dir()}


class SegSynthTable(Table):
    """What Tables 2, 4 and 5 share: settings per profile, the experiments, the sample grids."""

    family = "segsynth"
    compare = staticmethod(paper_name)
    grid_shows_judge = False
    """Whether the sample grid shows, under each synthesis row, what the judge segments in it."""
    measures: tuple[str, ...] = ()
    """What the table's cells measure (keys of :mod:`benchmarks.measures`)."""
    notes = prose.table_notes("segsynth")
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
        """A cell of ``method`` (a registry key) measured by ``measure`` (a key of :mod:`benchmarks.measures`);
        ``shown`` is its row label when it is not the method's."""
        s = self.settings[options.profile]
        measured = declared_measure(self.family, measure)
        metric = measured.metric_in(s, options)
        protocol = measured.protocol or PROTOCOLS.get(metric, "Frechet distance in the scene-set feature network")
        judge = judges.identity(options.judges.get("segmenter")) if measure == "judged" else None
        floor = {"floor": DATASETS[dataset].floor} if method == REAL and measure != "judged" else {}
        return Cell.make(self.name, dataset, measured.task, shown or self.registry[method].label, steps, metric,
                         profile=options.profile, seed=options.seed, solver=options.solver,
                         **options.later_settings(),
                         settings=s.cell_settings(method, dataset), params={"method": method, "measure": measure},
                         protocol=protocol, **({"judge": judge} if judge else {}),
                         **supplied_weights(s, options, measure), **floor)

    def synthesis_measures(self, options: RunOptions, real: bool = False) -> list[str]:
        """What a synthesis cell (``real``: a real-image row) measures in this run: pytorch-fid's
        FID where its weights are given, or in latent space, where it is the authors' metric
        (skipped with the reason when absent); the real-image rows have no LPIPS."""
        s = self.settings[options.profile]
        wanted = [m for m in SYNTHESIS_MEASURES if not real or m in (*FRECHET_MEASURES, "judged")]
        if s.space != "latent" and pytorch_fid_missing(options.inception_dir) is not None:
            wanted.remove("pytorch-fid")
        return wanted

    def methods(self, options: RunOptions, capability: str) -> list[str]:
        """The registered methods that have ``capability`` in the profile's space, by key."""
        space = self.settings[options.profile].space
        return [key for key, m in self.registry.items() if getattr(m, capability) is not None and space in m.spaces]

    def experiment(self, dataset: str, options: RunOptions, experiments: dict) -> SegSynthExperiment:
        """One experiment per (data set, settings, options), shared by the tables of one run."""
        settings = self.settings[options.profile]
        options = released.scoped(options, dataset)  # the supplied files of this data set only
        key = digest(["segsynth", dataset, asdict(settings), sorted(self.registry), options.seed, options.solver,
                      options.device, str(options.out), str(options.data_root), str(options.pretrained),
                      str(options.vae), str(options.inception_dir), str(options.lpips_dir),
                      sorted(map(str, options.judges.items())), sorted(map(str, options.weights.items()))])
        if key not in experiments:
            experiments[key] = SegSynthExperiment(dataset, settings, options, self.registry)
        return experiments[key]

    def needs(self, options: RunOptions) -> list[str]:
        return needs(self.settings[options.profile], options)

    def networks(self, cell: Cell, options: RunOptions) -> set[str]:
        """The methods whose trained networks the cell needs (a ``--weights`` run keeps a cell
        only where every one of them is supplied)."""
        method, measure = cell.param("method"), cell.param("measure")
        pixel = self.settings[options.profile].space == "pixel"
        needs = set() if method == REAL else {method}
        if measure == "frechet" and pixel and inception_missing(options.inception_dir) is not None:
            needs.add(FEATURES)
        if (measure == "judged" and pixel and "segmenter" not in options.judges
                or measure == "joint" and joint_embedding(self.settings[options.profile], options) == "features"):
            needs.add("ss")
        return needs

    def released_methods(self, profile: str) -> set[str]:
        """The methods whose released weights this table can evaluate in ``profile``."""
        s = self.settings[profile]
        return {key for key in ("symmflow", "semflow") if key in self.registry and s.space in self.registry[key].spaces}

    def latent(self, profile: str) -> bool:
        return self.settings[profile].space == "latent"

    def gpus(self, profile: str) -> dict[str, int]:
        return dict(self.settings[profile].latent.get("gpus", {}))

    def global_batches(self, profile: str) -> dict[str, int]:
        s = self.settings[profile]
        return {dataset: s.global_batch(dataset) for dataset in s.datasets}

    def judge_probes(self, profile: str) -> list[tuple[str, judges.Probe]]:
        """(kind, probe) of every judge this table uses: a segmenter of each data set's images
        where the table judges synthesised scenes."""
        s = self.settings[profile]
        if "judged" not in self.measures:
            return []
        return [("segmenter", judges.Probe(dataset, 3, *DATASETS[dataset].shape(s))) for dataset in s.datasets]

    def experiment_for(self, group: str, options: RunOptions, experiments: dict) -> SegSynthExperiment:
        return self.experiment(group, options, experiments)

    def measure(self, cell: Cell, exp: SegSynthExperiment, options: RunOptions) -> dict:
        """The cell's score from the experiment (each (task, method, steps) scored once), with the
        first batch's preview where the table's sample grid shows it; or a skipped record."""
        method, measure = cell.param("method"), cell.param("measure")
        task = declared_measure(self.family, measure).task
        try:
            if method == REAL:
                result = exp.real_images(measure)
            elif measure == "miou":
                result = exp.segmentation(method, cell.steps)
            elif measure in ("lpips", "diversity"):
                result = exp.lpips(method, cell.steps, measure)
            elif measure in FRECHET_MEASURES:
                result = exp.frechet(method, cell.steps, measure)
            else:
                result = exp.synthesis(method, cell.steps)
                if measure == "judged":
                    if result["unjudged"]:
                        raise MetricUnavailable(result["unjudged"])
                    result = {**result, "value": result["judged"]}
        except MetricUnavailable as why:
            return {"status": "skipped", "reason": str(why)}
        kept = {k: v for k, v in result.items()
                if k not in ("preview", "paired", "judged", "judged_preview", "unjudged", "frechet", "unavailable")}
        if method != REAL and result.get("preview") is not None and self.in_grid(task, cell.steps):
            row = f"{self.registry[method].label} {'synth' if task == 'synthesis' else 'seg'} {cell.steps}"
            kept["preview"] = segsynth_preview(f"table{self.name}-{cell.dataset}", exp.first_batch(), exp.palette,
                                               row, task, result, judged=self.grid_shows_judge)
        return kept

    def in_grid(self, task: str, steps: int) -> bool:
        """Whether a (task, steps) result belongs in this table's sample grid."""
        raise NotImplementedError


class Table2(SegSynthTable):
    name = "2"
    grid_shows_judge = True
    measures = ("miou", *SYNTHESIS_MEASURES)
    title = "Semantic segmentation (mIoU) and semantic image synthesis (FID / LPIPS)"
    claims = (stated("table2/segmentation-against-semflow", ("SymmFlow", TABLE2_STEPS), ("SemFlow", TABLE2_STEPS),
                     directions(("mIoU",))),
              stated("table2/synthesis-against-semflow", ("SymmFlow", TABLE2_STEPS), ("SemFlow", TABLE2_STEPS),
                     SYNTHESIS_METRICS, seeded_metrics=SEEDED_METRICS))

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
                for measure in self.synthesis_measures(options):
                    out.append(self._cell(options, dataset, method, TABLE2_STEPS, measure))
            # the real images scored as samples are: the Frechet distances' floor, the judge's ceiling
            out += [self._cell(options, dataset, REAL, None, measure, shown=REAL_LABEL)
                    for measure in self.synthesis_measures(options, real=True)]
        return out

    def in_grid(self, task: str, steps: int) -> bool:
        return steps == TABLE2_STEPS or (task, steps) == ("segmentation", 1)


class Table4(SegSynthTable):
    name = "4"
    measures = SYNTHESIS_MEASURES
    title = "Semantic image synthesis against the number of Euler steps"
    plot = PlotSpec(metrics=(*(m for m, _ in SYNTHESIS_METRICS), "LPIPS", "LPIPS-diversity"),
                    relative={**{fd: "FID" for fd in FRECHET}, "LPIPS": "LPIPS"})
    claims = (stated("table4/synthesis-improves-with-steps", ("SymmFlow", TABLE2_STEPS), ("SymmFlow", 1),
                     SYNTHESIS_METRICS, paired=True),)

    def cells(self, options: RunOptions) -> list[Cell]:
        s = self.settings[options.profile]
        methods = s.synthesis_methods or self.methods(options, "synthesise")
        return [self._cell(options, dataset, method, steps, measure)
                for dataset in s.datasets for method in methods
                for steps in options.steps or STEPS for measure in self.synthesis_measures(options)]

    def in_grid(self, task: str, steps: int) -> bool:
        return task == "synthesis"


class Table5(SegSynthTable):
    name = "5"
    measures = ("miou",)
    title = "Semantic segmentation (mIoU) against the number of Euler steps"
    plot = PlotSpec(metrics=("mIoU",), relative={"mIoU": "mIoU"})
    claims = (stated("table5/segmentation-plateau", ("SymmFlow", TABLE2_STEPS), ("SymmFlow", None),
                     directions(("mIoU",)), factor=0.9, paired=True),)

    def cells(self, options: RunOptions) -> list[Cell]:
        return [self._cell(options, dataset, "symmflow", steps, "miou")
                for dataset in self.settings[options.profile].datasets for steps in options.steps or STEPS]

    def in_grid(self, task: str, steps: int) -> bool:
        return task == "segmentation"


def needs(settings: SegSynthSettings, options: RunOptions) -> list[str]:
    """What the cells of Tables 2, 4 and 5 need, and what of it is missing here."""
    lines = [DATASETS[name].needs(options.data_root) for name in settings.datasets]
    if settings.space == "latent":
        pretrained = options.pretrained
        state = "found" if pretrained and (Path(pretrained) / "unet" / "config.json").is_file() else "MISSING here"
        lines.append(f"Stable Diffusion 2.1 in diffusers layout (--pretrained {pretrained}): {state}")
        lines.append(f"VAE: --vae {options.vae}" if options.vae is not None else
                     "VAE: the --pretrained folder's own (the authors use sd-vae-ft-mse: pass it with --vae)")
        gpu = "found" if torch.cuda.is_available() else "MISSING here (no CUDA device)"
        lines.append(f"GPUs: 2 (CelebAMask-HQ) / 4 (COCO-Stuff) for the paper's batch of 32 per GPU: {gpu}")
    for name, reason in (("FID (clean-fid Inception)", inception_missing(options.inception_dir)),
                         ("FID (pytorch-fid Inception)", pytorch_fid_missing(options.inception_dir)),
                         ("LPIPS (AlexNet)", lpips_missing(options.lpips_dir))):
        lines.append(f"{name}: {'found' if reason is None else 'MISSING here: ' + reason}")
    return lines


TABLE2, TABLE4, TABLE5 = Table2(), Table4(), Table5()
