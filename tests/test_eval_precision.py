"""``--eval-precision bf16``: the evaluation's network evaluations under bf16 autocast, cells keyed
apart from fp32 ones (whose keys stay those of the committed results), refused where the device
has no native bf16."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from benchmarks import run
from benchmarks.cells import RunOptions, settings_identity
from benchmarks.tables import tables
from symmflow import device
from symmflow.device import check_eval_precision, evaluation_precision, native_bf16
from symmflow.errors import UsageError
from symmflow.solver import NFECounter

COMMITTED = Path(__file__).resolve().parents[1] / "results" / "cpu"
TABLE1 = ["--table", "1", "--profile", "smoke", "--steps", "1,2", "--device", "cpu", "--no-progress"]


# ---------------------------------------------------------------- identity


@pytest.mark.parametrize("table", ["1", "3", "5"])
def test_fp32_cells_keep_the_committed_keys_and_bf16_cells_have_their_own(table):
    committed = pd.read_csv(COMMITTED / f"table{table}.csv", dtype={"cell": str})
    stored = set(committed[committed["seed"] == 0]["cell"])
    spec = tables()[table]
    fp32 = {c.key for c in spec.cells(RunOptions(profile="cpu", seed=0))}
    bf16 = spec.cells(RunOptions(profile="cpu", seed=0, eval_precision="bf16"))
    assert fp32 == stored  # every committed cell of seed 0 is found under its key at the default
    assert not {c.key for c in bf16} & stored and len(bf16) == len(fp32)
    assert all(c.settings["eval_precision"] == "bf16" for c in bf16)


def test_the_precision_enters_the_options_identity_only_away_from_fp32():
    assert "eval_precision" not in settings_identity(RunOptions())
    assert settings_identity(RunOptions(eval_precision="bf16"))["eval_precision"] == "bf16"
    assert RunOptions().later_settings() == {} and RunOptions(eval_precision="bf16").later_settings() == {
        "eval_precision": "bf16"}


# ---------------------------------------------------------------- the autocast


class Probe(nn.Module):
    """A linear layer that records whether it ran under autocast, and at which dtype."""

    def __init__(self):
        super().__init__()
        self.linear, self.seen = nn.Linear(4, 4), []

    def forward(self, x):
        self.seen.append(torch.is_autocast_enabled("cpu"))
        out = self.linear(x)
        self.seen.append(out.dtype)
        return out, out * 2


def test_a_counted_evaluation_runs_under_bf16_autocast_in_a_bf16_block_and_returns_fp32():
    probe = Probe()
    counter = NFECounter(probe)
    x = torch.randn(3, 4)
    with torch.no_grad():
        plain = counter(x)
        with evaluation_precision("cpu", "bf16"):
            low = counter(x)
            with evaluation_precision("cpu", "fp32"):  # the inner block decides
                counter(x)
        counter(x)
    assert probe.seen == [False, torch.float32, True, torch.bfloat16, False, torch.float32, False, torch.float32]
    assert isinstance(low, tuple) and all(t.dtype == torch.float32 for t in low)
    assert probe.linear.weight.dtype == torch.float32  # the weights stay fp32
    assert torch.allclose(low[0], plain[0], atol=0.1) and not torch.equal(low[0], plain[0])
    assert counter.evaluations == 12


def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch):
    for flags, expected in (({"avx512_bf16"}, True), ({"amx_bf16"}, True), ({"avx2", "avx512f"}, False),
                            (set(), False)):
        monkeypatch.setattr(device, "cpu_flags", lambda flags=flags: flags)
        assert native_bf16("cpu")[0] is expected


def test_a_gpu_without_native_bf16_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla V100")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    with pytest.raises(UsageError, match="the GPU Tesla V100 has no native bf16.*use --eval-precision fp32"):
        check_eval_precision("bf16", "cuda")
    check_eval_precision("fp32", "cuda")  # fp32 asks nothing of the device


def test_a_cuda_device_torch_cannot_see_has_no_native_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert native_bf16("cuda") == (False, "no CUDA GPU (torch sees none)")


# ---------------------------------------------------------------- bad input: tests/test_train_precision.py checks
# --eval-precision's refusals beside --precision's


# ---------------------------------------------------------------- a table at bf16, end to end


def test_table1_at_bf16_is_stored_and_rendered_apart_from_fp32(tmp_path, native):
    out = tmp_path / "out"
    assert run.main([*TABLE1, "--out", str(out), "--eval-precision", "bf16"]) == 0
    records = [json.loads(p.read_text()) for p in (out / "cells" / "table1").glob("*.json")]
    assert len(records) == 2 and all(r["eval_precision"] == "bf16" and r["status"] == "ok" for r in records)
    frame = pd.read_csv(out / "table1.csv")
    assert list(frame["eval_precision"]) == ["bf16", "bf16"]
    assert "evaluation at bf16" in (out / "table1.md").read_text().splitlines()[2]
    bf16_keys = set(frame["cell"])

    assert run.main([*TABLE1, "--out", str(out)]) == 0  # fp32: its own cells, the same trained network
    frame = pd.read_csv(out / "table1.csv")
    assert "eval_precision" not in frame and not set(frame["cell"]) & bf16_keys
    assert "evaluation at" not in (out / "table1.md").read_text()
    assert len(list((out / "cells" / "table1").glob("*.json"))) == 4
    assert len([p for p in (out / "checkpoints").glob("toy-mlp-*") if p.suffix != ".run"]) == 1  # trained once

    from studies import eval_precision  # the comparison record reads both precisions' cells of one folder

    record = tmp_path / "eval-precision.md"
    assert eval_precision.main(["--fp32", str(out), "--bf16", str(out), "--tables", "1", "--profile", "smoke",
                                "--reference", str(tmp_path / "none"), "--out", str(record)]) == 0
    rows = json.loads(record.with_suffix(".json").read_text())["rows"]
    assert [r["steps"] for r in rows] == [1, 2] and all(r["bf16_precision"] == "bf16" for r in rows)
    assert all(r["fp32"] is not None and r["bf16"] is not None for r in rows)
    text = record.read_text()
    assert "| 1 | two-spirals | SymmFlow | 1 | accuracy |" in text
    assert ("| 1 | bf16 | `python -m benchmarks.run --table 1 --profile smoke" in text
            and "--eval-precision bf16` |" in text)
