"""Tables 3 and 11 through the harness: smoke runs, reruns, skipped cells, bad input."""

import json

import pandas as pd
import pytest

from benchmarks.run import main


def cells(out, table):
    return [json.loads(p.read_text()) for p in (out / "cells" / f"table{table}").glob("*.json")]


def test_table11_smoke_stores_every_cell_and_a_rerun_computes_none(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--table", "11", "--profile", "smoke", "--out", str(out), "--no-progress"]) == 0
    stored = cells(out, "11")
    assert len(stored) == 14 and all(c["status"] == "ok" for c in stored)
    nfe = sorted({c["nfe_per_sample"] for c in stored})
    assert nfe == [1.0, 2.0, 5.0, 10.0, 20.0, 25.0, 50.0]  # counted, one network call per Euler step
    table = pd.read_csv(out / "table11.csv")
    assert table["value"].between(0, 100).all() and (out / "table11.png").is_file()
    accuracy = table[table["metric"] == "accuracy"]
    assert accuracy.loc[accuracy["steps"] == 1, "published"].tolist() == [99.3]  # the paper's MNIST
    capsys.readouterr()
    assert main(["--table", "11", "--profile", "smoke", "--out", str(out), "--no-progress"]) == 0
    assert "14 cells, 0 to compute, 14 stored" in capsys.readouterr().err


def test_paper_profile_without_data_is_refused_before_anything_is_created(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--table", "11", "--profile", "paper", "--data-root", str(tmp_path / "none"),
                 "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "not found; download it there or pass --data-root" in err[-1], err
    assert all(line.startswith("error: ") for line in err) and not out.exists()


def test_dry_run_names_missing_data(tmp_path, capsys):
    assert main(["--table", "3", "--profile", "paper", "--dry-run", "--data-root", str(tmp_path)]) == 2
    text = capsys.readouterr().err
    assert "cifar-10-batches-py not found; download it there or pass --data-root" in text
    assert "MNIST/raw not found" in text and text.strip().splitlines()[-1].startswith("error:")


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--steps", "-3"], ["--profile", "huge"]])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv):
    assert main(["--table", "11", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


@pytest.mark.slow
def test_table3_smoke(tmp_path):
    out = tmp_path / "out"
    assert main(["--table", "3", "--profile", "smoke", "--out", str(out), "--no-progress"]) == 0
    assert all(c["status"] == "ok" for c in cells(out, "3"))
    table = pd.read_csv(out / "table3.csv")
    dc = table[table["method"] == "Diffusion Classifier"].iloc[0]
    assert dc["nfe_per_sample"] == 2750 and dc["steps"] == 2750
    assert (out / "samples").is_dir() and len(list((out / "samples").glob("*.png"))) == 2
    # generated digits judged by the cross-entropy classifier; the real digits are its own accuracy
    judged = table[table["metric"] == "accuracy of samples (cross-entropy U-Net)"].set_index("method")["value"]
    assert set(judged.index) == {"SymmFlow", "Flow matching (class-conditional)", "Real images"}
    assert judged.between(0, 100).all()
    reference = table[(table["method"] == "U-Net encoder + cross-entropy") & (table["metric"] == "accuracy")]
    assert judged["Real images"] == pytest.approx(reference["value"].item())  # the same held-out images
    fd = table[table["metric"].str.startswith("FD")].set_index("method")["value"]
    assert 0 <= fd["Real images"] < min(fd["SymmFlow"], fd["Flow matching (class-conditional)"])
