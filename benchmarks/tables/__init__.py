"""The table definitions: which cells each table has per profile, and which experiment answers
them; :func:`tables` is the registry of every table the harness can run, by name."""

from __future__ import annotations

import importlib

#: Each table's module under benchmarks.tables and its attribute, imported only when asked for.
TABLES = {"1": ("toy", "TABLE1"), "2": ("segsynth", "TABLE2"), "3": ("classification", "TABLE3"),
          "4": ("segsynth", "TABLE4"), "5": ("segsynth", "TABLE5"), "11": ("classification", "TABLE11")}


class _LazyTables(dict):
    """Table name -> spec, importing a table's module on first access."""

    def __missing__(self, name):
        module, attribute = TABLES[name]
        spec = getattr(importlib.import_module(f"benchmarks.tables.{module}"), attribute)
        self[name] = spec
        return spec

    def __iter__(self):
        return iter(TABLES)

    def __contains__(self, name):
        return name in TABLES

    def values(self):
        return [self[name] for name in TABLES]


def tables() -> dict:
    """The tables this harness can run, by name."""
    return _LazyTables()
