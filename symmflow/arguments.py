"""The value types and help layout of the ``symmflow`` command's options: a value outside its
range is one argparse line naming the rule, and every option's help ends with its default."""

from __future__ import annotations

import argparse
import math


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless it is required or its help says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required or action.default is None or "default" in text:
            return text
        return super()._get_help_string(action)


def checked(kind, ok, rule: str):
    """An argparse type: ``kind(text)`` when it satisfies ``ok``, else the one-line ``rule``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r}: {rule}")
        return value

    return parse


POSITIVE = checked(int, lambda v: v > 0, "use a positive integer")
COUNT = checked(int, lambda v: v >= 0, "use 0 or a positive integer")
SEED = checked(int, lambda v: 0 <= v < 2 ** 63, "use an integer from 0 to 2^63 - 1, e.g. 0")
RATE = checked(float, lambda v: 0 < v < math.inf, "use a positive number")  # NaN fails too
SHARE = checked(float, lambda v: 0 <= v <= 1, "must lie in [0, 1]")
DECAY = checked(float, lambda v: 0 <= v < 1, "use a decay in [0, 1), e.g. 0.999")
SIZE = checked(int, lambda v: v >= 8 and v % 8 == 0, "use a multiple of 8, e.g. 32 or 64")
CHANNELS = checked(int, lambda v: v > 0 and (v <= 32 or v % 32 == 0),  # group norms of min(32, base) groups
                   "use 1 to 32 or a multiple of 32, e.g. 8, 32 or 64")
