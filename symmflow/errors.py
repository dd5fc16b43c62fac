"""The one exception type for bad input that a user can fix, and the parser that raises it."""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """Bad input: the message names the problem and the remedy in one line.

    Command-line entry points print it alone (no traceback) and exit with status 2.
    """


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one :class:`UsageError` line (no usage dump)."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")
