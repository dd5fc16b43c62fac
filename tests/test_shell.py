"""The shell every command starts and ends in (symmflow.shell): each ending's one line and exit
status, and the signal handlers, torch's thread count and the cleanup restored however it ends."""

import errno
import os
import signal

import pytest
import torch

from symmflow.errors import Terminated, UsageError
from symmflow.shell import CommandShell, RunSignals, SigtermAsInterrupt


def ended(shell: CommandShell, error: BaseException | None = None) -> CommandShell:
    with shell:
        torch.set_num_threads(2 if torch.get_num_threads() == 1 else 1)  # the command's own threads
        if error is not None:
            raise error
    return shell


@pytest.fixture
def handlers():
    """The process's SIGTERM and SIGINT handlers and thread count, put back after the test whatever it did."""
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    threads = torch.get_num_threads()
    yield before
    for signum, handler in before.items():
        signal.signal(signum, handler)
    torch.set_num_threads(threads)


def test_a_body_that_ends_normally_gives_status_0_and_says_nothing(capsys, handlers):
    shell = ended(CommandShell(interrupted="kept"))
    assert (shell.status, shell.stopped) == (0, False) and capsys.readouterr().err == ""


def test_bad_input_is_one_error_line_and_status_2(capsys, handlers):
    shell = ended(CommandShell(), UsageError("--steps 0: use a positive number"))
    assert (shell.status, shell.stopped) == (2, True)
    assert capsys.readouterr().err == "error: --steps 0: use a positive number\n"


def test_an_interrupt_is_one_line_saying_what_was_kept_and_status_130(capsys, handlers):
    assert ended(CommandShell(interrupted="nothing was written"), KeyboardInterrupt()).status == 130
    assert capsys.readouterr().err == "\ninterrupted: nothing was written\n"


def test_sigterm_has_its_own_line_and_143_where_given_else_ends_as_ctrl_c(capsys, handlers):
    said = CommandShell(interrupted="i", terminated=lambda why: f"{why}; kept")
    assert ended(said, Terminated("saved")).status == 143
    assert capsys.readouterr().err == "\nterminated: saved; kept\n"
    assert ended(CommandShell(interrupted="nothing was written"), Terminated("saved")).status == 130
    assert capsys.readouterr().err == "\ninterrupted: nothing was written\n"


def test_a_failed_write_is_one_line_naming_the_file_and_status_2(capsys, handlers):
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out/table.csv")
    assert ended(CommandShell(unwritable="free some space, then rerun"), full).status == 2
    assert capsys.readouterr().err == (f"error: could not write out/table.csv ({os.strerror(errno.ENOSPC)}); "
                                       "free some space, then rerun\n")
    ended(CommandShell(unwritable="rerun"), OSError("gone"))
    assert capsys.readouterr().err == "error: could not write (gone); rerun\n"


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError("gone"), ValueError("a bug")])
def test_an_ending_without_its_text_goes_on(error, handlers):
    with pytest.raises(type(error)):
        ended(CommandShell(), error)


@pytest.mark.parametrize("error", [None, UsageError("bad"), KeyboardInterrupt(), OSError("gone"), ValueError("bug")])
@pytest.mark.parametrize("signals", [SigtermAsInterrupt, RunSignals])
def test_handlers_threads_and_cleanup_come_back_however_it_ends(error, signals, handlers):
    cleaned, threads = [], torch.get_num_threads()
    shell = CommandShell(interrupted="kept", unwritable="kept", signals=signals, cleanup=lambda: cleaned.append(1))
    try:
        ended(shell, error)
    except ValueError:
        pass
    assert cleaned == [1] and torch.get_num_threads() == threads
    assert {signum: signal.getsignal(signum) for signum in handlers} == handlers


def test_the_thread_count_of_before_comes_back_after_an_error_and_an_interrupt(handlers):
    threads = torch.get_num_threads()
    for error in (UsageError("bad"), KeyboardInterrupt()):
        ended(CommandShell(interrupted="kept"), error)
        assert torch.get_num_threads() == threads


def test_sigterm_ends_a_command_as_ctrl_c_does_with_sigterm_as_interrupt(capsys, handlers):
    with CommandShell(interrupted="nothing was written", signals=SigtermAsInterrupt) as shell:
        os.kill(os.getpid(), signal.SIGTERM)
    assert shell.status == 130 and capsys.readouterr().err == "\ninterrupted: nothing was written\n"
    assert signal.getsignal(signal.SIGTERM) == handlers[signal.SIGTERM]


def test_a_run_ended_by_sigterm_says_so_and_ignores_later_signals(capsys, handlers):
    with CommandShell(interrupted="kept", terminated="finished cells are stored", signals=RunSignals) as shell:
        os.kill(os.getpid(), signal.SIGTERM)
    assert shell.status == 143 and capsys.readouterr().err == "\nterminated: finished cells are stored\n"
    assert signal.getsignal(signal.SIGTERM) == signal.getsignal(signal.SIGINT) == signal.SIG_IGN
