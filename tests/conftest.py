"""Fixtures the test modules share: tiny trained models, the check that bad input is refused
before any work, ``--bad-input-report FILE``: the catalogue of refused bad inputs written as
JSON -- each case, its command line, the one line it got and its exit status -- for the
reliability report (``python -m studies.reliability``), and ``--perf-size``: the size of the
timing checks."""

import json
from pathlib import Path

import pytest

from tests.helpers import TINY, class_folders, seg_folders, tree


def pytest_addoption(parser):
    parser.addoption("--bad-input-report", default=None,
                     help="write every refused bad input (case, command, message, exit status) as JSON to this file")
    parser.addoption("--perf-size", choices=("full", "ci"), default="full",
                     help="the size of the -m perf checks: full (python -m studies.perf's rounds, the targets) or "
                          "ci (fewer rounds and step counts, each ratio held to 1.5x its target)")


@pytest.fixture(scope="session")
def perf_size(request) -> str:
    return request.config.getoption("--perf-size")


@pytest.fixture(scope="session")
def bad_input_log(request):
    records: list[dict] = []
    yield records
    path = request.config.getoption("--bad-input-report")
    if path:
        Path(path).write_text(json.dumps(records, indent=1))


@pytest.fixture(scope="session")
def seg_model(tmp_path_factory) -> Path:
    """A segmentation model folder written by ``symmflow train`` (4 classes, 16 px)."""
    from symmflow.cli import main

    root = tmp_path_factory.mktemp("seg")
    images, masks = seg_folders(root)
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(root / "model"), *TINY]) == 0
    return root / "model"


@pytest.fixture(scope="session")
def clf_model(tmp_path_factory) -> Path:
    """A classification model folder written by ``symmflow train`` (2 classes, 16 px)."""
    from symmflow.cli import main

    root = tmp_path_factory.mktemp("clf")
    assert main(["train", "--images", str(class_folders(root)), "--out", str(root / "model"), *TINY]) == 0
    return root / "model"


@pytest.fixture
def no_work(monkeypatch):
    """Training or inference starting is a test failure: checks come first."""
    def started(*args, **kwargs):
        raise AssertionError("long work started before the input was checked")

    # the harness's modules bind the real functions when imported: imported here first (so that
    # one first imported during such a test never keeps the stand-in), then patched too
    from benchmarks import trained
    from benchmarks.experiments import toy
    from benchmarks.methods import symmflow as symmflow_method
    from symmflow import tasks, train

    for module, name in ((train, "fit"), (tasks, "predict"), (tasks, "generate"), (trained, "fit"),
                         (symmflow_method, "predict"), (symmflow_method, "generate"), (toy, "predict")):
        monkeypatch.setattr(module, name, started)


@pytest.fixture
def refused(capsys, tmp_path, no_work, request, bad_input_log):
    """``refused(argv, needle, command="symmflow")``: exit 2 (130 with ``status``), one line
    holding ``needle``, nothing new under tmp_path; ``command`` ``benchmarks.run`` runs the
    harness instead.  Each verified case is logged for the reliability report."""
    def check(argv, needle: str, command: str = "symmflow", status: int = 2, prefix: str = "error:") -> str:
        if command == "symmflow":
            from symmflow.cli import main
        else:
            from benchmarks.run import main
        capsys.readouterr()
        before = tree(tmp_path)
        code = main([str(a) for a in argv])
        err = "\n".join(line for line in capsys.readouterr().err.splitlines() if "%|" not in line).strip()  # bars
        assert code == status, err
        assert err.startswith(prefix) and "\n" not in err and "Traceback" not in err, err
        assert needle in err, err
        assert tree(tmp_path) == before
        shown = " ".join(str(a).replace(str(tmp_path), "<tmp>") for a in argv)
        name = "symmflow" if command == "symmflow" else "python -m benchmarks.run"
        bad_input_log.append({"case": request.node.name, "command": f"{name} {shown}", "exit_status": code,
                              "message": err.replace(str(tmp_path), "<tmp>"), "nothing_written": True})
        return err

    return check


@pytest.fixture
def native(monkeypatch):
    """This CPU says it has AMX, whatever it has: bf16 runs (emulated where it is not native)."""
    from symmflow import device

    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx512f", "amx_bf16", "amx_tile"})


@pytest.fixture
def not_native(monkeypatch):
    """This CPU says it has neither AMX nor AVX-512 BF16."""
    from symmflow import device

    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx2", "avx512f"})
