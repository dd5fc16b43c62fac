"""How a command of this project starts and ends: ``with CommandShell(...) as shell:`` around its
body, then ``return shell.status``.

Bad input (:class:`~symmflow.errors.UsageError`) ends the command in one line ``error: ...`` and
exit status 2; given their texts, Ctrl-C ends it in one line ``interrupted: ...`` (130), SIGTERM's
:class:`~symmflow.errors.Terminated` in ``terminated: ...`` (143; without its own text as Ctrl-C
does) and a write that failed (``OSError``) in ``error: could not write ...`` (2), each saying what
was kept and how to go on.  However it ends, the command's cleanup runs and the signal handlers and
torch's thread count of before come back.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Callable, Union

from symmflow.errors import Terminated, UsageError, interrupted, terminated

Said = Union[str, Callable[[BaseException], str], None]
"""What an ending says: a text, a function of the exception that ended the command, or None where
the command does not end that way in one line (the exception goes on)."""


class SigtermAsInterrupt:
    """SIGTERM ends the command as Ctrl-C does (KeyboardInterrupt, its cleanup run on the way out);
    the handler before comes back."""

    def __init__(self):
        self.before = signal.signal(signal.SIGTERM, self.handle)

    @staticmethod
    def handle(signum, frame):
        raise KeyboardInterrupt

    def restore(self) -> None:
        signal.signal(signal.SIGTERM, self.before)


class RunSignals:
    """SIGTERM (a cluster's preemption) and Ctrl-C for a run in this process: SIGTERM raises
    :class:`Terminated` -- a training under way saves its state at the current step first (its own
    handler, :func:`symmflow.train.fit`) -- and Ctrl-C KeyboardInterrupt.  A process forked from the
    run before installing its own handlers (a DataLoader worker starting while the group is
    signalled) leaves the answer to the run's process.  Once a signal has ended the run, later ones
    are ignored until the process exits (the loader's shutdown and its workers' ends are not
    interrupted into tracebacks of their own); otherwise the handlers before it come back."""

    def __init__(self):
        self.pid, self.received = os.getpid(), False
        self.before = {signum: signal.signal(signum, self.handle) for signum in (signal.SIGTERM, signal.SIGINT)}

    def handle(self, signum, frame):
        if os.getpid() != self.pid:
            return
        self.received = True
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    def restore(self) -> None:
        for signum, before in self.before.items():
            signal.signal(signum, signal.SIG_IGN if self.received else before)


def _text(said: Said, error: BaseException) -> str:
    return said(error) if callable(said) else said


class CommandShell:
    """The start and end of one command.  ``interrupted``, ``terminated``: what the one line after
    Ctrl-C / SIGTERM says was kept; ``unwritable``: what follows ``error: could not write PATH
    (why); `` (None: that exception goes on).  ``signals``: the handlers installed for the command
    (:class:`SigtermAsInterrupt`, :class:`RunSignals`; None: the process's own); ``cleanup``: run
    however it ends, before they are restored.  Torch's thread count is restored where torch is
    loaded when the command starts (a command that never loads it pays no import).

    ``status``: 0, or the exit status of the ending that stopped the body (``stopped``)."""

    def __init__(self, interrupted: Said = None, terminated: Said = None, unwritable: Said = None,
                 signals: Callable[[], SigtermAsInterrupt | RunSignals] | None = None,
                 cleanup: Callable[[], None] | None = None):
        self.interrupted, self.terminated, self.unwritable = interrupted, terminated, unwritable
        self.signals, self.cleanup = signals, cleanup
        self.status, self.stopped = 0, False
        self.threads: tuple | None = None  # torch and its thread count at the start
        self.handlers: SigtermAsInterrupt | RunSignals | None = None

    def __enter__(self) -> CommandShell:
        torch = sys.modules.get("torch")
        self.threads = (torch, torch.get_num_threads()) if torch is not None else None
        self.handlers = self.signals() if self.signals is not None else None
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            status = None if error is None else self.ending(error)
        finally:
            try:
                if self.cleanup is not None:
                    self.cleanup()
            finally:
                if self.handlers is not None:
                    self.handlers.restore()
                if self.threads is not None:
                    torch, threads = self.threads
                    torch.set_num_threads(threads)
        if status is None:
            return False
        self.status, self.stopped = status, True
        return True

    def ending(self, error: BaseException) -> int | None:
        """Print the one line that ends the command on ``error`` and give its exit status; None
        where the error is not one this command ends on in one line."""
        if isinstance(error, UsageError):
            print(f"error: {error}", file=sys.stderr)
            return 2
        if isinstance(error, Terminated) and self.terminated is not None:
            return terminated(_text(self.terminated, error))
        if isinstance(error, KeyboardInterrupt) and self.interrupted is not None:
            return interrupted(_text(self.interrupted, error))
        if isinstance(error, OSError) and self.unwritable is not None:
            where = f" {error.filename}" if error.filename else ""
            print(f"error: could not write{where} ({error.strerror or error}); {_text(self.unwritable, error)}",
                  file=sys.stderr)
            return 2
        return None
