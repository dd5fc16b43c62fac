"""studies.batched_inference at a toy size: its record names the machine, the rates and the
speed-up of every batch size, and the masks of every batch size equal one at a time's."""

import json

from studies.batched_inference import main


def test_the_study_records_rates_speed_ups_and_equal_masks(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--images", "3", "--size", "8", "--steps", "1", "--rounds", "2",
                 "--batch-sizes", "3", "--widths", "8"]) == 0
    record = json.loads((tmp_path / "batched-inference.json").read_text())
    assert [(r["width"], r["batch_size"]) for r in record["rows"]] == [(8, 1), (8, 3)]
    assert record["rows"][1]["masks_equal"] and record["rows"][1]["speed_up"]["median"] > 0
    text = (tmp_path / "batched-inference.md").read_text()
    assert "| 8 | 3 |" in text and "other processes' runnable threads held" in text
    assert "Target: batched at least 3x" in text
    assert len(record["other_cores_held"]) == 2 and min(record["other_cores_held"]) >= 0
    assert main(["--out", str(tmp_path), "--rounds", "1"]) == 2 and "--rounds at least 2" in capsys.readouterr().err
