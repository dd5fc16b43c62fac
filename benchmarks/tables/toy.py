"""Table 1: toy-spiral classification accuracy against the number of Euler steps.

The cpu and paper profiles are the reference notebook's own setting (notes section 4).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.claims import stated
from benchmarks.cells import Cell, PlotSpec, RunOptions, settings_identity
from benchmarks.tables.base import Table
from benchmarks.experiments.toy import toy_accuracy, train_toy
from benchmarks.toy_settings import TOY, ToySettings

STEPS = (1, 2, 5, 10, 20, 50)


class ToyTable(Table):
    name, title = "1", "Toy-spiral classification accuracy (%) against the number of steps"
    threads = 1
    """The 11-wide MLP runs faster on one CPU thread than on more (benchmarks.run's thread choice)."""
    plot = PlotSpec(metrics=("accuracy",))
    claims = (stated("table1/accuracy-falls-with-steps", ("SymmFlow", 50), ("SymmFlow", 1), (("accuracy", False),),
                     paired=True),)

    def __init__(self, settings: dict[str, ToySettings] | None = None):
        self.settings = TOY if settings is None else settings

    def cells(self, options: RunOptions) -> list[Cell]:
        settings = settings_identity(self.settings[options.profile])
        return [Cell.make("1", "two-spirals", "classification", "SymmFlow", steps, "accuracy",
                          profile=options.profile, seed=options.seed, solver=options.solver,
                          **options.later_settings(), toy=settings)
                for steps in options.steps or STEPS]

    def global_batches(self, profile: str) -> dict[str, int]:
        """The notebook's 10,000 fresh points per step (reference notes section 4), global."""
        return {"two-spirals": self.settings[profile].batch_size}

    def experiment_for(self, group: str, options: RunOptions, experiments: dict):
        """The toy MLP of the profile and seed (from the model cache when trained before)."""
        settings = self.settings[options.profile]
        return train_toy(settings, options.seed, Path(options.out), options.device,
                         options.progress, options.shard, options.report_to, options.ledger,
                         options.checkpoint_every, options.batch_plan(settings.batch_size, "the toy"))

    def measure(self, cell: Cell, trained, options: RunOptions) -> dict:
        settings = self.settings[options.profile]
        result = toy_accuracy(trained.model, settings, cell.steps, options.seed, options.solver, options.device)
        return {**result, "train_s": trained.train_s}


TABLE1 = ToyTable()
