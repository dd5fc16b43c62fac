"""``python -m benchmarks.run``'s start-up is stateless: parsing the options changes no global state
(the work's threads are set when it starts and given back when it ends)."""

import pytest
import torch

from benchmarks import run

TABLE1 = ["--table", "1", "--profile", "smoke", "--steps", "1", "--device", "cpu", "--no-progress"]


@pytest.mark.parametrize("given, wanted", [((), 1), (("--threads", "2"), 2)])
def test_the_threads_are_set_for_the_work_and_given_back(tmp_path, monkeypatch, given, wanted):
    before, seen = torch.get_num_threads(), []
    monkeypatch.setattr(run, "dry_run", lambda *args: seen.append(torch.get_num_threads()) or 0)
    assert run.main([*TABLE1, "--out", str(tmp_path / "out"), "--dry-run", *given]) == 0
    assert seen == [wanted] and torch.get_num_threads() == before  # Table 1's one thread unless told
