"""What every table of the harness is: the contract :mod:`benchmarks.run` and the rendering rely
on, with the defaults a table that has no such thing keeps.  :meth:`Table.compute` is the one
place a cell is dispatched to its measurement, for every table."""

from __future__ import annotations

from typing import Any, Callable

from tqdm.auto import tqdm

from benchmarks.cells import Cell, CellSink, PlotSpec, RunOptions
from benchmarks.measures import measure
from symmflow.device import evaluation_precision
from symmflow.metrics import MetricUnavailable


class Table:
    name: str = ""
    title: str = ""
    plot: PlotSpec | None = None
    """What ``tableN.png`` draws (None: no plot)."""
    claims: tuple = ()
    """The paper's orderings checked on the run's cells (:class:`benchmarks.claims.Claim`)."""
    notes: dict[str, str] = {}
    """The notes under the table, per profile."""
    threads: int | None = None
    """CPU threads the table runs best on (None: torch's own choice)."""
    compare: Callable[[str], str] | None = None
    """Our data set's name -> the paper's, where ours is a stand-in."""
    family: str | None = None
    """The family of :mod:`benchmarks.measures` its cells' ``measure`` parameter names (None: its
    cells have no such parameter)."""

    def cells(self, options: RunOptions) -> list[Cell]:
        """Every cell of the table for ``options`` (one seed)."""
        raise NotImplementedError

    def needs(self, options: RunOptions) -> list[str]:
        """What the table needs that is not bundled (listed by ``--dry-run``)."""
        return []

    def compute(self, todo: list[Cell], options: RunOptions, finish: CellSink, experiments: dict) -> None:
        """Measure ``todo`` and hand each finished cell to ``finish`` right away: the cells of one
        :meth:`group` share one :meth:`experiment_for`, and each is measured by :meth:`measured`.
        A group whose experiment cannot run here (its data are missing) is stored as skipped with
        the reason.  ``experiments`` holds what the tables of one run share (trained models,
        memoised scores), by key.  Every measurement runs at the run's evaluation precision
        (``--eval-precision``, :func:`symmflow.device.evaluation_precision`), which a cell computed
        at another than fp32 also records."""
        groups: dict[str, list[Cell]] = {}
        for cell in todo:
            groups.setdefault(self.group(cell), []).append(cell)
        for group, cells in groups.items():
            try:
                experiment = self.experiment_for(group, options, experiments)
            except MetricUnavailable as why:
                for cell in cells:
                    finish(cell, {"status": "skipped", "reason": str(why)})
                continue
            for cell in tqdm(cells, desc=f"table {self.name}: {group}", disable=not options.progress):
                with evaluation_precision(options.device, options.eval_precision):
                    measured = self.measured(cell, experiment, options)
                finish(cell, {**measured, **options.later_settings()})

    def group(self, cell: Cell) -> str:
        """What the cells that share one experiment have in common (default: the data set)."""
        return cell.dataset

    def experiment_for(self, group: str, options: RunOptions, experiments: dict) -> Any:
        """The experiment (trained networks, data, memoised scores) that measures the cells of
        ``group``; raises :class:`~symmflow.metrics.MetricUnavailable` when it cannot run here."""
        raise NotImplementedError

    def measured(self, cell: Cell, experiment: Any, options: RunOptions) -> dict:
        """The measurement of one cell: by its measure's own ``compute`` where it has one, else :meth:`measure`."""
        own = measure(self.family, cell.param("measure")).compute if self.family is not None else None
        return (own or self.measure)(cell, experiment, options)

    def measure(self, cell: Cell, experiment: Any, options: RunOptions) -> dict:
        """The measurement of one cell (``value`` and what it depends on), or a skipped record
        with the reason; a ``preview`` (:mod:`benchmarks.render.grids`) is drawn by rendering."""
        raise NotImplementedError

    def networks(self, cell: Cell, options: RunOptions) -> set[str]:
        """The methods whose trained networks ``cell`` uses (what ``--weights`` may supply)."""
        return set()

    def released_methods(self, profile: str) -> set[str]:
        """The methods whose released weights this table can evaluate under ``profile``."""
        return set()

    def weights_shapes(self, profile: str, method: str, dataset: str) -> dict | None:
        """Key -> shape of the state dict a supplied file of ``method`` on ``dataset`` must hold,
        where the table knows it without data (None: the file's name or ``@DATASET`` decides)."""
        return None

    def gpus(self, profile: str) -> dict[str, int]:
        """Data set -> the number of GPUs the authors trained it on, where ``profile`` follows them
        (what ``--dry-run`` turns its estimate into GPU-hours with)."""
        return {}

    def global_batches(self, profile: str) -> dict[str, int]:
        """Cell data set -> the global batch its networks train on under ``profile``, whatever the
        launch (:mod:`symmflow.batching`; checked before anything runs, recorded with every cell)."""
        return {}

    def latent(self, profile: str) -> bool:
        """Whether this table's networks run in a VAE's latent space under ``profile`` (``--vae``)."""
        return False

    def judge_probes(self, profile: str) -> list:
        """(kind, :class:`benchmarks.judges.Probe`) of every judge this table feeds under ``profile``."""
        return []
