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


def interrupted(message: str) -> int:
    """End a command on Ctrl-C or SIGTERM with one line saying what was kept, on a line of its own
    (a progress bar may have been drawing on the current one); exit status 130."""
    import sys

    print(f"\ninterrupted: {message}", file=sys.stderr)
    return 130
