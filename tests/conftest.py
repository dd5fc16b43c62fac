"""``--bad-input-report FILE``: the catalogue of refused bad inputs (tests/test_bad_input.py)
written as JSON -- each case, its command line, the one line it got and its exit status --
for the reliability report (``python -m benchmarks.reliability``)."""

import json
from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.addoption("--bad-input-report", default=None,
                     help="write every refused bad input (case, command, message, exit status) as JSON to this file")


@pytest.fixture(scope="session")
def bad_input_log(request):
    records: list[dict] = []
    yield records
    path = request.config.getoption("--bad-input-report")
    if path:
        Path(path).write_text(json.dumps(records, indent=1))
