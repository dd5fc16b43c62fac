"""What every table of the harness is: the contract :mod:`benchmarks.run` and the rendering rely
on, with the defaults a table that has no such thing keeps."""

from __future__ import annotations

from typing import Callable

from benchmarks.cells import Cell, CellSink, PlotSpec, RunOptions


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

    def cells(self, options: RunOptions) -> list[Cell]:
        """Every cell of the table for ``options`` (one seed)."""
        raise NotImplementedError

    def needs(self, options: RunOptions) -> list[str]:
        """What the table needs that is not bundled (listed by ``--dry-run``)."""
        return []

    def compute(self, todo: list[Cell], options: RunOptions, finish: CellSink, experiments: dict) -> None:
        """Compute ``todo`` and hand each finished cell to ``finish`` right away; ``experiments``
        holds what the tables of one run share (trained models, memoised scores), by key."""
        raise NotImplementedError

    def networks(self, cell: Cell, options: RunOptions) -> set[str]:
        """The methods whose trained networks ``cell`` uses (what ``--weights`` may supply)."""
        return set()

    def released_methods(self, profile: str) -> set[str]:
        """The methods whose released weights this table can evaluate under ``profile``."""
        return set()

    def judge_probes(self, profile: str) -> list:
        """(kind, :class:`benchmarks.judges.Probe`) of every judge this table feeds under ``profile``."""
        return []
