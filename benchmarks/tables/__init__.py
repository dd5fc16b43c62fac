"""The table registry: each table's name and where its definition lies, ``"module:Attribute"``, imported
only when the table is asked for, so that a run of one table imports no other table family.

Adding a table is one module with a :class:`~benchmarks.tables.base.Table` and one :func:`register_table`
(the harness's own in :func:`_register_builtin`); :func:`tables` is the registry of every table the
harness can run, by name."""

from __future__ import annotations

import importlib
import re

TABLES: dict[str, str] = {}
"""Table name -> ``"module:Attribute"`` of its table (an instance, or a class built without arguments),
filled by :func:`register_table`."""

TABLE_NAME = re.compile(r"\w+")
"""What a table's name may hold: it names its files (``tableN.csv``), which the results page finds by it."""


def register_table(name: str, where: str) -> str:
    """Add table ``name``, defined at ``where`` (``"package.module:Attribute"``), to :data:`TABLES` without
    importing it; refused where the name is taken or either is malformed."""
    module, _, attribute = where.partition(":")
    if not TABLE_NAME.fullmatch(name):
        raise ValueError(f"table name {name!r}: use letters, digits and underscores (it names the table's files)")
    if not module or not attribute.isidentifier():
        raise ValueError(f"table {name!r}: {where!r} is not 'module:Attribute', e.g. 'benchmarks.tables.toy:TABLE1'")
    if name in TABLES:
        raise ValueError(f"table {name!r} is registered twice ({TABLES[name]} and {where})")
    TABLES[name] = where
    return name


def load_table(name: str):
    """The table registered as ``name``, its module imported now; refused where it names itself otherwise."""
    module, _, attribute = TABLES[name].partition(":")
    found = getattr(importlib.import_module(module), attribute)
    table = found() if isinstance(found, type) else found
    if table.name != name:
        raise ValueError(f"table {name!r} ({TABLES[name]}) names itself {table.name!r}; register it under that name")
    return table


def _register_builtin() -> None:
    for name, where in (("1", "toy:TABLE1"), ("2", "segsynth:TABLE2"), ("3", "classification:TABLE3"),
                        ("4", "segsynth:TABLE4"), ("5", "segsynth:TABLE5"), ("11", "classification:TABLE11")):
        register_table(name, f"benchmarks.tables.{where}")


_register_builtin()


class _LazyTables(dict):
    """Table name -> table, importing a table's module on first access."""

    def __missing__(self, name):
        table = load_table(name)
        self[name] = table
        return table

    def __iter__(self):
        return iter(TABLES)

    def __contains__(self, name):
        return name in TABLES

    def values(self):
        return [self[name] for name in TABLES]


def tables() -> dict:
    """The tables this harness can run, by name."""
    return _LazyTables()
