"""The precision a run's networks train at: each table's profile's, or ``--precision``'s.

A table's settings hold the precision its networks train at (:attr:`benchmarks.profiles.Budget.mixed_precision`,
:attr:`benchmarks.profiles.ToySettings.mixed_precision`), and both identities follow from the settings:
a network's (its training config, :func:`benchmarks.trained.trained_model`) and a cell's (its table's
settings).  A run at a profile's own precision therefore keeps every stored key, a run at another
has keys of its own, and fp32 and bf16 networks never mix in a table.  bf16 is autocast with the
weights and the optimiser's state in fp32 (:func:`symmflow.train.fit`).  A profile's bf16 on a device
without native bf16 trains at fp32 (emulated bf16 gains nothing), and its settings say fp32.
"""

from __future__ import annotations

import copy
from dataclasses import replace

from symmflow.device import mixed_precision, native_bf16


def of(settings) -> str:
    """The precision a table's ``settings`` (one profile's) train its networks at: fp32 or bf16."""
    if isinstance(settings, tuple):  # Tables 3 and 11: one settings object per data set, trained alike
        return of(settings[0])
    budget = getattr(settings, "budget", settings)  # a toy's settings hold the field themselves
    return "fp32" if budget.mixed_precision == "no" else budget.mixed_precision


def at(settings, precision: str):
    """``settings`` with every network trained at ``precision`` (fp32 or bf16)."""
    if isinstance(settings, tuple):
        return tuple(at(s, precision) for s in settings)
    if hasattr(settings, "budget"):
        return replace(settings, budget=replace(settings.budget, mixed_precision=mixed_precision(precision)))
    return replace(settings, mixed_precision=mixed_precision(precision))


def trains_at(mixed: str, device: str) -> str:
    """A budget's ``mixed_precision`` (``no``, ``bf16``) as ``device`` trains it: bf16 where the device
    computes it natively (:func:`symmflow.device.native_bf16`), else ``no``."""
    return mixed if mixed == "no" or native_bf16(device)[0] else "no"


def table_at(spec, profile: str, precision: str | None, device: str) -> tuple:
    """(table ``spec`` training at ``precision`` -- a resolved ``--precision``, or None: its
    profile's own as ``device`` trains it --, (the profile's precision, the run's) where the two
    differ, else None).  ``spec`` itself is returned where nothing changes (a table that trains
    nothing has no settings)."""
    settings = getattr(spec, "settings", {}).get(profile)
    if settings is None:
        return spec, None
    own = of(settings)
    run = precision or ("fp32" if trains_at(mixed_precision(own), device) == "no" else own)
    if run == own:
        return spec, None
    changed = copy.copy(spec)
    changed.settings = {**spec.settings, profile: at(settings, run)}
    return changed, (own, run)


def tables_at(chosen: list, profile: str, precision: str | None, device: str) -> tuple[list, dict]:
    """(the tables ``chosen`` as :func:`table_at` makes them, table name -> (the profile's precision,
    the run's) for those whose precision differs from their profile's)."""
    pairs = [table_at(spec, profile, precision, device) for spec in chosen]
    return [spec for spec, _ in pairs], {spec.name: d for spec, d in pairs if d is not None}


def deviation_text(profile: str, deviation: tuple | None, option: str | None) -> str:
    """What a table's first line says of a training precision other than its profile's (nothing
    where it is the profile's): the run's, the profile's, and why."""
    if deviation is None:
        return ""
    own, run = deviation
    why = f"`--precision {option}`" if option is not None else f"this device has no native {own}"
    return f", training at {run} ({why}; the {profile} profile trains at {own})"


def record(spec, cell, profile: str) -> dict:
    """The training precision a cell's networks were trained at, for its record (nothing where
    the cell's weights were supplied, not trained)."""
    settings = getattr(spec, "settings", {}).get(profile)
    return {} if settings is None or "weights" in cell.settings else {"train_precision": of(settings)}
