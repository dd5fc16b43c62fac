"""The text of one table entry, the same in every table, results page and quoted figure: floats to
two decimals (three significant digits below 1 in size), a difference to its value's decimals, a
step count, and a mean over seeds with its sample standard deviation."""

from __future__ import annotations

import math

import pandas as pd


def fmt(value, digits=2) -> str:
    """A table entry: floats to ``digits`` decimals, and to three significant digits below 1 in
    size (Frechet distances of the scene set are around 0.03); missing values empty."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    if isinstance(value, float):
        if 0 < abs(value) < 1 and digits > 0:
            return f"{value:.{max(digits, 2 - math.floor(math.log10(abs(value))))}f}"
        return f"{value:.{digits}f}"
    return str(value)


def fmt_like(value, like) -> str:
    """``value`` to as many decimals as :func:`fmt` gives ``like`` (a difference to its value's)."""
    if pd.isna(value) or pd.isna(like):
        return fmt(value)
    text = fmt(float(like))
    return f"{float(value):.{len(text.split('.')[1]) if '.' in text else 0}f}"


def steps_text(steps) -> str:
    """A step count as a table shows it (empty where a row has none)."""
    return "" if pd.isna(steps) else str(int(steps))


def mean_sd(mean, sd, n, count: bool = True) -> str:
    """``mean``, or ``mean ± sd (n seeds)`` over several seeds (without the count: ``mean ± sd``)."""
    if n <= 1:
        return fmt(mean)
    digits = len(fmt(float(mean)).split(".")[-1])  # the sd to the mean's decimals
    return f"{fmt(mean)} ± {sd:.{digits}f}" + (f" ({n} seeds)" if count else "")
