"""Writing outputs so that nothing is half-written and nothing the project did not write is lost.

* :func:`write_atomic` (:func:`atomic_stream` to write in pieces): a file appears complete or not
  at all (a hidden sibling renamed into place).
* :func:`staged_folder`: a folder likewise -- filled as a hidden sibling, swapped in once complete.
* Every output folder carries the project's marker (:data:`MARKER`, naming the kind of output),
  and an existing folder is replaced (``--overwrite``) only when it carries the marker of the
  same kind: a folder the project did not write is never deleted.
* :func:`check_destination` refuses, before any work, what can never be an output folder: the
  working directory (an empty ``--out``, ``.``) or one of its parents, the home folder, ``/``, an
  input or a folder holding one, a file, an unwritable place (:func:`check_outside`: a folder inside
  an input); :func:`check_free_space` a disk that cannot take the outputs, and :func:`check_writable`
  all of it for the folders a run fills.
* :func:`claimed`: one command at a time writes an output folder (a second is refused, not
  allowed to replace the first's output when both finish).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from symmflow.errors import UsageError

MARKER = ".symmflow-output.json"
"""The marker file of every output folder: ``{"kind": ...}``."""


# ---------------------------------------------------------------- files


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``path`` so that it is either complete or absent (temp file + rename); its
    permissions come from the umask, as for any new file."""
    with atomic_stream(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)


@contextmanager
def atomic_stream(path: Path) -> Iterator:
    """A binary file to write ``path`` through, in pieces: it appears complete when the block
    ends, and not at all when the block raises (:func:`write_atomic` for data held at once)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_file(path: Path) -> tuple[int, Path]:
    """A new hidden sibling ``.<name>.<random>`` of ``path``, open for writing (mode 0666 less the
    umask; ``tempfile.mkstemp`` would give 0600)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


# ---------------------------------------------------------------- where an output may go


def protected(folder: Path) -> str | None:
    """Why ``folder`` can never be an output folder (None when it can): the working directory or
    one of its parents, the home folder, the root."""
    folder = Path(os.path.abspath(folder))
    cwd = Path.cwd().resolve()
    resolved = folder.resolve()
    if resolved == Path(resolved.anchor):
        return "is the root folder"
    if resolved == Path.home().resolve():
        return "is your home folder"
    if resolved == cwd:
        return "is the working directory (an empty --out, e.g. an unset variable, means it)"
    if resolved in cwd.parents:
        return "holds the working directory"
    return None


def check_new_place(folder: Path, option: str = "--out") -> Path:
    """``folder`` as an absolute path, refused in one line when it can never be an output."""
    if str(folder).strip() == "":
        raise UsageError(f"{option} is empty (an unset variable?); pass the folder to write")
    why = protected(folder)
    if why:
        raise UsageError(f"{option} {folder} {why}; pass a new sub-folder to write into")
    return Path(os.path.abspath(folder))


def check_free_space(place: Path, need: int, option: str = "--out") -> None:
    """Refuse, before any work, a ``place`` (or the nearest folder above it that exists) on a disk
    with less than ``need`` bytes free: a full disk is one line now, not a failure after the work."""
    place = Path(os.path.abspath(place))
    existing = next(p for p in (place, *place.parents) if p.exists())
    if not existing.is_dir():
        return  # a file where a folder must be: the caller's own check names it
    free = shutil.disk_usage(existing).free
    if free < need:
        raise UsageError(f"only {free / 2 ** 20:.0f} MiB free where {option} {place} lies, and the outputs need "
                         f"{max(need / 2 ** 20, 1):.0f} MiB: free some space or pass another {option}")


def check_writable(out: Path, folders: tuple[Path, ...], need: int) -> None:
    """Create ``out``'s ``folders`` and write a file in each, once ``need`` bytes are known to be
    free where it lies: a file where a folder must be, a read-only folder or a full disk is one
    line now, not after an hour of training (``python -m benchmarks.run``'s folders)."""
    for folder in folders:  # all of them first: nothing is created when one of them cannot be
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{folder} is a file where the run needs a folder; move it or pass another --out")
    check_free_space(out, need)
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            raise UsageError(f"cannot write to {folder} ({error.strerror}); pass a writable folder with "
                             "--out") from None


def marker_kind(folder: Path) -> str | None:
    """The kind of output ``folder`` holds by its marker (None: not written by the project).  A
    model folder written before the marker existed is known by its two files."""
    folder = Path(folder)
    try:
        kind = json.loads((folder / MARKER).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        legacy = (folder / "settings.json").is_file() and (folder / "model.safetensors").is_file()
        return "model" if legacy and len(list(folder.iterdir())) == 2 else None
    return kind if isinstance(kind, str) else None


def check_destination(folder: Path, overwrite: bool = False, kind: str = "output",
                      inputs: tuple[Path, ...] = ()) -> None:
    """Refuse, before any work, an output folder that cannot be written all-or-nothing or must
    not be replaced: a protected place (:func:`protected`), an input or a folder holding one, a
    file, a non-empty folder (unless ``overwrite`` and it carries the marker of ``kind``), or a
    place where nothing can be created."""
    folder = check_new_place(folder)
    for path in inputs:
        source = Path(os.path.abspath(path))
        if folder == source or folder in source.parents:
            raise UsageError(f"--out {folder} would replace the input {source}; choose another output folder")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output folder {folder} is an existing file; pass a folder path with --out")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise UsageError(f"output folder {folder} already exists and is not empty; pass --overwrite to replace "
                             "it, or choose a new folder")
        found = marker_kind(folder)
        if found != kind:
            what = "was not written by symmflow" if found is None else f"holds a {found}, not a {kind}"
            raise UsageError(f"--overwrite refused: {folder} {what}; remove it yourself if it may go, or choose "
                             "a new folder")
    parent = next(p for p in folder.parents if p.exists())  # the root always exists
    if not parent.is_dir():
        raise UsageError(f"cannot write the output folder {folder}: {parent} is a file; pass a folder path with --out")
    try:
        with tempfile.TemporaryFile(dir=parent):  # leaves nothing behind
            pass
    except OSError as error:
        raise UsageError(f"cannot write the output folder {folder} (creating a file in {parent}: {error.strerror}); "
                         "pass a writable place with --out") from None


def check_outside(folder: Path, inputs: tuple[Path, ...]) -> None:
    """Refuse an output ``folder`` inside one of the input folders, where its files would be taken for inputs."""
    out = Path(os.path.abspath(folder))
    for source in inputs:
        source = Path(os.path.abspath(source))
        if source.is_dir() and source in out.parents:
            raise UsageError(f"--out {folder} lies inside the input folder {source}, where its files would be "
                             "taken for inputs; choose a folder outside it")


# ---------------------------------------------------------------- folders


@contextmanager
def claimed(folder: Path) -> Iterator[None]:
    """Hold ``folder`` for one command while it works: a hidden sibling ``.<name>.writing`` names
    the process; a second command for the same folder is refused while that process lives (a claim
    left by a process that died is taken over), so that two runs never replace each other's output."""
    folder = Path(os.path.abspath(folder))
    claim = folder.with_name(f".{folder.name}.writing")
    if not folder.parent.is_dir():  # nothing there yet, so nothing written there yet: no claim to leave behind
        yield
        return
    for _ in range(2):
        try:
            fd = os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            holder = _holder(claim)
            if holder is not None:
                raise UsageError(f"--out {folder} is being written by another symmflow command (process {holder}); "
                                 "wait for it to end or pass another --out") from None
            claim.unlink(missing_ok=True)  # its process died: the claim is stale
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        break
    else:
        raise UsageError(f"--out {folder}: could not claim it ({claim} keeps coming back); pass another --out")
    try:
        yield
    finally:
        claim.unlink(missing_ok=True)


def _holder(claim: Path) -> int | None:
    """The live process that holds ``claim`` (None: none, or it died)."""
    try:
        pid = int(claim.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0 or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


@contextmanager
def staged_folder(folder: Path, overwrite: bool = False, kind: str = "output",
                  inputs: tuple[Path, ...] = ()) -> Iterator[Path]:
    """An empty hidden sibling of ``folder`` to fill; when the block ends without error it gets the
    marker of ``kind`` and replaces ``folder``, else it is removed and ``folder`` is left as it was."""
    folder = Path(os.path.abspath(folder))
    check_destination(folder, overwrite, kind, inputs)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staged = _new_sibling(folder, "new")
    try:
        yield staged
        (staged / MARKER).write_text(json.dumps({"kind": kind}))
        _move_into_place(staged, folder)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _new_sibling(folder: Path, tag: str) -> Path:
    """A new empty folder ``.<name>-<tag>-<random>`` beside ``folder`` (permissions from the umask)."""
    while True:
        path = folder.with_name(f".{folder.name}-{tag}-{secrets.token_hex(4)}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _move_into_place(staged: Path, folder: Path) -> None:
    """Rename ``staged`` to ``folder``; an existing ``folder`` is first renamed aside, and
    removed only once the new one is in place (restored if that rename fails)."""
    if not folder.is_dir() or not any(folder.iterdir()):
        os.replace(staged, folder)  # an empty folder is replaced in one rename
        return
    old = _new_sibling(folder, "old")
    os.replace(folder, old)
    try:
        os.replace(staged, folder)
    except BaseException:
        os.replace(old, folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- damaged stored state


def set_aside(path: Path, why: str) -> Path:
    """Move a damaged stored file or folder aside, under a name that says so, and say it in one
    line: whatever read it then recomputes it."""
    path = Path(path)
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}")
    os.replace(path, aside)
    reason = " ".join(str(why).split())[:200]
    print(f"warning: {path} was damaged ({reason}); moved it to {aside.name} and recomputing it", file=sys.stderr)
    return aside
