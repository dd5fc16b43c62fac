"""A part of a run: ``--datasets`` and ``--methods`` restrict the cells computed, and supplied
weights (``--weights``, :mod:`benchmarks.released`) answer the cells of their own data set.

:func:`select` is the one place the cells of every table are filtered, whatever the table; the
names a user may write are checked against the cells the chosen tables have (:class:`Catalogue`)
in one ``error:`` line before anything is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from benchmarks import released
from benchmarks.cells import Cell, RunOptions
from symmflow.errors import UsageError

RELEASED = "released"
"""``--datasets released``: the data sets the supplied ``--weights`` files answer, and no other."""


def normal(name: str) -> str:
    """A name as it is compared: lower case, letters and digits only (``CIFAR-10`` = ``cifar10``)."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def method_key(cell: Cell) -> str:
    """The registry key of the cell's method (a table without keys, the toy: its label's)."""
    params = cell.settings.get("params") or {}
    return params.get("method") or normal(cell.method)


@dataclass
class Catalogue:
    """What the chosen tables have in a profile: data sets (by their cell name) and the names
    they answer to, method keys, and per method the data sets with cells that need its network
    and the tables of those cells."""

    datasets: dict[str, set[str]] = field(default_factory=dict)
    methods: set[str] = field(default_factory=set)
    needing: dict[str, dict[str, list]] = field(default_factory=dict)

    @classmethod
    def of(cls, chosen: list, profile: str) -> "Catalogue":
        found, options = cls(), RunOptions(profile=profile)
        for spec in chosen:
            for cell in spec.cells(options):
                names = found.datasets.setdefault(cell.dataset, {normal(cell.dataset)})
                params = cell.settings.get("params") or {}
                if "dataset" in params:  # the settings' own name: mnist, mnist-full, cifar10
                    names.add(normal(params["dataset"]))
                names |= {normal(short) for short, name in released.DATASETS.items() if name == cell.dataset}
                found.methods.add(method_key(cell))
                for method in spec.networks(cell, options):
                    tables = found.needing.setdefault(method, {}).setdefault(cell.dataset, [])
                    if spec not in tables:
                        tables.append(spec)
        return found

    def dataset(self, name: str, what: str) -> str:
        """The data set ``name`` stands for; one line naming the choices where none."""
        hits = [d for d, names in self.datasets.items() if normal(name) in names]
        if len(hits) != 1:
            raise UsageError(f"{what}: the chosen tables have no data set {name!r}; choose from "
                             f"{', '.join(sorted(self.datasets))} or choose other tables")
        return hits[0]


def parse_list(text: str | None, option: str) -> list[str] | None:
    """A comma-separated option's values (None: not given); an empty list is refused."""
    if text is None:
        return None
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise UsageError(f"{option} {text!r}: give a comma-separated list, e.g. {option} "
                         f"{'MNIST,CIFAR-10' if option == '--datasets' else 'symmflow,semflow'}")
    return values


def pick_methods(text: str | None, catalogue: Catalogue) -> tuple[str, ...] | None:
    """``--methods``: method keys the chosen tables have; one line naming the choices otherwise."""
    values = parse_list(text, "--methods")
    if values is None:
        return None
    for value in values:
        if value not in catalogue.methods:
            raise UsageError(f"--methods {value!r}: the chosen tables have no method {value!r}; choose from "
                             f"{', '.join(sorted(catalogue.methods))}")
    return tuple(dict.fromkeys(values))


def pick_datasets(text: str | None, catalogue: Catalogue) -> tuple[str, ...] | None:
    """``--datasets``: data sets of the chosen tables, by their name in the tables or the settings'
    (``MNIST``, ``cifar10``, ``CelebAMask-HQ``, ``coco``); :data:`RELEASED` is kept as it is."""
    values = parse_list(text, "--datasets")
    if values is None:
        return None
    if RELEASED in values:
        if len(values) > 1:
            raise UsageError(f"--datasets {text!r}: '{RELEASED}' stands for the data sets of the --weights files; "
                             "give it alone or name the data sets")
        return (RELEASED,)
    return tuple(dict.fromkeys(catalogue.dataset(v, f"--datasets {v!r}") for v in values))


def select(spec, cells: list[Cell], options: RunOptions) -> list[Cell]:
    """The cells of ``spec`` this run computes: those of ``--datasets`` and ``--methods`` (all
    where not given); on a data set a supplied file answers, only the cells every network of which
    is supplied for that data set, as their own rows (:func:`benchmarks.released.released_cell`);
    the cells of other data sets as usual (trained)."""
    answered: dict[str, dict[str, object]] = {}
    for (method, dataset), path in options.released.items():
        answered.setdefault(dataset, {})[method] = path
    kept = []
    for cell in cells:
        if options.datasets is not None and cell.dataset not in options.datasets:
            continue
        if options.methods is not None and method_key(cell) not in options.methods:
            continue
        files = answered.get(cell.dataset)
        if files is None:
            kept.append(cell)
            continue
        needs = spec.networks(cell, options)
        if needs and needs <= set(files):
            kept.append(released.released_cell(cell, "+".join(released.identity(files[m]) for m in sorted(needs))))
    return kept
