"""The one exception type for bad input that a user can fix, and the parser that raises it."""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """Bad input: the message names the problem and the remedy in one line.

    Command-line entry points print it alone (no traceback) and exit with status 2.  Raised in a
    ``DataLoader`` worker it comes back as this type around the worker's traceback: it keeps its
    own line.
    """

    def __init__(self, message: str = ""):
        if "Original Traceback" in message and "UsageError: " in message:
            message = message.rsplit("UsageError: ", 1)[1].strip()
        super().__init__(message)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one :class:`UsageError` line (no usage dump), and whose
    ``--help`` speaks in whole sentences as every option's help does (tests/test_help.py)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = "Show this help message and exit."

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def first_paragraph(doc: str) -> str:
    """The first paragraph of a module's docstring on one line: a parser's description, whole (its
    first line alone may stop mid-sentence)."""
    return " ".join(doc.strip().split("\n\n")[0].split())


class Terminated(KeyboardInterrupt):
    """SIGTERM -- a cluster's preemption (Slurm) -- ended a command; the message says what was kept.
    An interrupt still, so whatever cleans up after Ctrl-C cleans up after it."""


TERMINATED = 143
"""The exit status of a command ended by SIGTERM (128 + 15, as the shell reports it)."""


def terminated(message: str) -> int:
    """End a command on SIGTERM with one line saying what was kept, on a line of its own; exit
    status :data:`TERMINATED`."""
    import sys

    print(f"\nterminated: {message}", file=sys.stderr)
    return TERMINATED


def interrupted(message: str) -> int:
    """End a command on Ctrl-C or SIGTERM with one line saying what was kept, on a line of its own
    (a progress bar may have been drawing on the current one); exit status 130."""
    import sys

    print(f"\ninterrupted: {message}", file=sys.stderr)
    return 130


def _redeliver_swallowed_interrupts() -> None:
    """An interrupt that Python cannot raise where it lands -- in a weakref callback or a finaliser
    (``Exception ignored in ...``), which a signal arriving while the garbage collector runs hits --
    is sent again a moment later instead of being lost: Ctrl-C or SIGTERM then ends the command in
    its one line, never a printed trace and a command that carries on."""
    import os
    import signal
    import sys
    import threading

    previous = sys.unraisablehook

    def hook(unraisable):
        error = unraisable.exc_value
        if isinstance(error, KeyboardInterrupt) and threading.current_thread() is threading.main_thread():
            signum = signal.SIGTERM if isinstance(error, Terminated) else signal.SIGINT
            threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()
            return
        previous(unraisable)

    sys.unraisablehook = hook
    previous_thread_hook = threading.excepthook

    def thread_hook(args):  # multiprocessing's resource sharer, whose peer (a loader worker) the interrupt ended
        import traceback

        files = [frame.filename for frame in traceback.extract_tb(args.exc_traceback)] if args.exc_traceback else []
        if isinstance(args.exc_value, (OSError, EOFError)) and any(f.endswith("resource_sharer.py") for f in files):
            return
        previous_thread_hook(args)

    threading.excepthook = thread_hook


_redeliver_swallowed_interrupts()
