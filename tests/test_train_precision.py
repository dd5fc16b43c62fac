"""``--precision {fp32,bf16,auto}``: the precision every network trains at, part of each table's
settings and so of every network's and cell's identity (fp32 cells keep the committed keys, bf16 ones
have their own), named in the rendered table where it is not the profile's; refused in one line
where the device has no native bf16."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import precision, run
from benchmarks.cells import RunOptions
from benchmarks.tables import tables
from symmflow import device
from symmflow.device import resolve_precision
from symmflow.errors import UsageError

COMMITTED = Path(__file__).resolve().parents[1] / "results" / "cpu"
TABLE1 = ["--table", "1", "--profile", "smoke", "--steps", "1,2", "--device", "cpu", "--no-progress"]


# ---------------------------------------------------------------- resolving a precision


def test_auto_is_bf16_where_native_and_fp32_elsewhere(monkeypatch):
    for flags, expected in (({"amx_bf16"}, "bf16"), ({"avx512_bf16"}, "bf16"), ({"avx2"}, "fp32")):
        monkeypatch.setattr(device, "cpu_flags", lambda flags=flags: flags)
        assert resolve_precision("auto", "cpu") == expected
        assert resolve_precision("fp32", "cpu") == "fp32"


def test_bf16_without_native_bf16_and_an_unknown_precision_are_refused(not_native):
    with pytest.raises(UsageError, match="--precision bf16: this CPU .* has no native bf16.*--precision auto "
                                         "chooses fp32 here"):
        resolve_precision("bf16", "cpu")
    with pytest.raises(UsageError, match="--precision 'fp16' is not a precision; choose from fp32, bf16, auto"):
        resolve_precision("fp16", "cpu")


# ---------------------------------------------------------------- identity


@pytest.mark.parametrize("table", ["1", "3", "5"])
def test_the_profiles_precision_keeps_the_committed_keys_and_bf16_has_its_own(table):
    committed = pd.read_csv(COMMITTED / f"table{table}.csv", dtype={"cell": str})
    stored = set(committed[committed["seed"] == 0]["cell"])
    spec, options = tables()[table], RunOptions(profile="cpu", seed=0)
    same, unchanged = precision.table_at(spec, "cpu", "fp32", "cpu")
    low, deviation = precision.table_at(spec, "cpu", "bf16", "cpu")
    assert unchanged is None and same is spec and {c.key for c in spec.cells(options)} == stored
    assert deviation == ("fp32", "bf16") and precision.of(low.settings["cpu"]) == "bf16"
    assert not {c.key for c in low.cells(options)} & stored and len(low.cells(options)) == len(stored)
    assert precision.of(spec.settings["cpu"]) == "fp32"  # the profile's own settings untouched


def test_a_profiles_bf16_trains_at_fp32_where_the_device_has_no_native_bf16(monkeypatch):
    spec = tables()["5"]
    monkeypatch.setattr(device, "cpu_flags", lambda: {"amx_bf16"})
    assert precision.table_at(spec, "gpu", None, "cpu") == (spec, None)  # the authors' bf16, kept
    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx2"})
    fallback, deviation = precision.table_at(spec, "gpu", None, "cpu")
    assert deviation == ("bf16", "fp32") and precision.of(fallback.settings["gpu"]) == "fp32"
    assert precision.trains_at("bf16", "cpu") == "no" and precision.trains_at("no", "cpu") == "no"
    assert "this device has no native bf16; the gpu profile trains at bf16" in precision.deviation_text(
        "gpu", deviation, None)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("option, remedy", [("--precision", "--precision auto chooses fp32 here"),
                                            ("--eval-precision", "use --eval-precision fp32")])
def test_bf16_on_a_cpu_without_native_bf16_is_refused_before_anything_is_built(refused, tmp_path, not_native,
                                                                               option, remedy):
    err = refused([*TABLE1, "--out", tmp_path / "out", option, "bf16"], "has no native bf16",
                  command="benchmarks.run")
    assert "neither AMX nor AVX-512 BF16" in err and remedy in err


@pytest.mark.parametrize("option", ["--precision", "--eval-precision"])
def test_an_unknown_precision_is_refused(refused, tmp_path, option):
    refused([*TABLE1, "--out", tmp_path / "out", option, "fp16"], f"argument {option}: invalid choice: 'fp16'",
            command="benchmarks.run")


# ---------------------------------------------------------------- a table trained at bf16, end to end


def test_table1_trained_at_bf16_is_stored_and_rendered_apart_from_fp32(tmp_path, native):
    out = tmp_path / "out"
    assert run.main([*TABLE1, "--out", str(out), "--precision", "bf16"]) == 0
    records = [json.loads(p.read_text()) for p in (out / "cells" / "table1").glob("*.json")]
    assert len(records) == 2 and all(r["train_precision"] == "bf16" and r["status"] == "ok" for r in records)
    frame = pd.read_csv(out / "table1.csv")
    assert list(frame["train_precision"]) == ["bf16", "bf16"] and frame["machine"].notna().all()
    first = (out / "table1.md").read_text().splitlines()[2]
    assert "training at bf16 (`--precision bf16`; the smoke profile trains at fp32)" in first
    assert re.search(r"threads\) \[\d+ cores, \d+ threads; ", first)  # the machine beside the device
    bf16_keys = set(frame["cell"])

    assert run.main([*TABLE1, "--out", str(out), "--precision", "fp32"]) == 0  # the profile's: its own cells
    frame = pd.read_csv(out / "table1.csv")
    assert list(frame["train_precision"]) == ["fp32", "fp32"] and not set(frame["cell"]) & bf16_keys
    assert "training at" not in (out / "table1.md").read_text()
    assert len([p for p in (out / "checkpoints").glob("toy-mlp-*") if p.suffix != ".run"]) == 2  # one per precision

    from studies import train_precision  # the comparison record reads both precisions' cells of one folder

    record = tmp_path / "train-precision.md"
    assert train_precision.main(["--fp32", str(out), "--bf16", str(out), "--control", str(out), "--tables", "1",
                                 "--profile", "smoke", "--reference", str(tmp_path / "none"),
                                 "--out", str(record)]) == 0
    stored = json.loads(record.with_suffix(".json").read_text())
    rows = stored["rows"]
    assert all(r["bf16"] == r["fp32"] and r["bf16_train_s"] for r in stored["control"])  # a control of the same run
    assert [r["steps"] for r in rows] == [1, 2] and all(r["bf16_precision"] == "bf16" for r in rows)
    assert all(r["fp32"] is not None and r["bf16"] is not None and r["bf16_train_s"] for r in rows)
    text = record.read_text()
    assert "| 1 | two-spirals | SymmFlow | 1 | accuracy |" in text and "Verdict: 0 of the 0 cells" in text
    assert "| 1 | bf16 | `python -m benchmarks.run --table 1 --profile smoke" in text
    assert "## A fresh fp32 run against the same cells" in text and "| 1 | fp32 | `python -m benchmarks.run" in text


# ---------------------------------------------------------------- symmflow train --precision


def test_symmflow_train_refuses_bf16_without_native_bf16_and_an_unknown_precision(refused, tmp_path, not_native):
    from tests.helpers import TINY, seg_folders

    images, masks = seg_folders(tmp_path)
    err = refused(["train", "--images", images, "--masks", masks, "--out", tmp_path / "model", *TINY,
                   "--precision", "bf16"], "has no native bf16")
    assert "--precision auto chooses fp32 here" in err
    refused(["train", "--images", images, "--masks", masks, "--out", tmp_path / "model", *TINY,
             "--precision", "fp16"], "argument --precision: invalid choice: 'fp16'")


def test_symmflow_train_at_bf16_records_its_precision(tmp_path, native):
    from symmflow.cli import main
    from tests.helpers import TINY, seg_folders

    images, masks = seg_folders(tmp_path)
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "model"), *TINY,
                 "--precision", "auto", "--no-progress"]) == 0
    assert "precision: bf16" in (tmp_path / "model" / "README.md").read_text()  # the model card's training settings
