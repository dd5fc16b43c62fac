"""What a reader of a table sees: rows without steps, the notes the studies write, the sanity
ladder's verdicts, the published curves of other data sets beside ours."""

import json
import struct

import pandas as pd

from benchmarks.cells import PlotSpec, RunOptions
from benchmarks.claims import LadderFailures
from benchmarks.render.tables import fmt, fmt_like, ladder, markdown, plot, read_record, study_notes


def cells(rows) -> pd.DataFrame:
    base = {"table": "9", "dataset": "scenes", "task": "synthesis", "method": "SymmFlow", "metric": "FD",
            "status": "ok", "reason": "", "published": float("nan"), "nfe_per_sample": 25.0, "samples_per_s": 1.0,
            "samples": 300, "note": "", "seed": 0, "git_commit": "c", "device": "cpu", "train_s": 1.0}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_numbers_read_as_a_table_should():
    assert fmt(0.027912) == "0.0279" and fmt(0.2) == "0.200" and fmt(97.4) == "97.40" and fmt(1984.7) == "1984.70"
    assert fmt_like(-0.302, 99.7) == "-0.30" and fmt_like(0.0004, 0.0279) == "0.0004"


def test_a_row_without_steps_shows_none():
    df = cells([{"steps": 25, "value": 0.03}, {"method": "Real images", "steps": pd.NA, "value": 0.001}])
    df["steps"] = df["steps"].astype("Int64")
    text = markdown(df, "t", RunOptions(), None)
    real = next(line for line in text.splitlines() if "Real images" in line)
    assert "<NA>" not in real and "| Real images |" in real.replace("  ", " ").replace("  ", " ")


def test_the_sanity_ladder_and_the_front_speak_in_the_notes(tmp_path):
    (tmp_path / "sanity-ladder.json").write_text(json.dumps({"metrics": [
        {"dataset": "scenes", "metric": "FD", "blind_to": ["masks shuffled"], "not_monotone_in": ["additive noise"]},
        {"dataset": "scenes", "metric": "FJD", "blind_to": [], "not_monotone_in": []},
        {"dataset": "scenes", "metric": "mIoU of samples", "blind_to": []}]}))  # a record from before monotony
    failures, checked = ladder(read_record(tmp_path, "sanity-ladder.json")[0])
    assert failures == {("scenes", "FD"): LadderFailures(("masks shuffled",), ("additive noise",))}
    assert {("scenes", "FJD"), ("scenes", "mIoU of samples")} < checked
    df = cells([{"steps": 25, "value": 0.03}, {"steps": 25, "metric": "mIoU of samples", "value": 40.0}])
    text = markdown(df, "t", RunOptions(), None, ladder=(failures, checked))
    assert "- scenes, FD: fails: blind to masks shuffled; not monotone in additive noise" in text
    assert "- scenes, mIoU of samples: passes: moves monotonically with every degradation" in text
    (tmp_path / "front-notes.json").write_text(json.dumps({"profile": "cpu", "notes": {"scenes": "chosen: x2"}}))
    front, line = read_record(tmp_path, "front-notes.json")
    assert study_notes(front, "cpu") == {"scenes": "chosen: x2"} and line == ""
    assert study_notes(front, "gpu") == {}  # measured on the cpu profile only
    assert study_notes(None, "cpu") == {} and ladder(None) == ({}, set())


def test_a_study_record_a_table_reads_is_named_in_one_line_where_missing_or_damaged(tmp_path):
    missing, line = read_record(tmp_path, "front-notes.json")
    assert missing is None and line == "Not shown: front-notes.json is not in this folder (`python -m studies.front` " \
        "writes it)."
    (tmp_path / "front-notes.json").write_text("[1, 2")  # damaged: one line, no traceback
    damaged, line = read_record(tmp_path, "front-notes.json")
    assert damaged is None and line.startswith("Not shown: front-notes.json could not be read (") and "\n" not in line
    (tmp_path / "sanity-ladder.json").write_text(json.dumps({"metrics": [{"dataset": "scenes"}]}))
    assert read_record(tmp_path, "sanity-ladder.json")[1].startswith(
        "Not shown: sanity-ladder.json is not a record of `python -m studies.sanity_ladder` (")
    df = cells([{"steps": 25, "value": 0.03}])
    text = markdown(df, "t", RunOptions(), None, not_shown=(line,))
    assert text.count("Not shown: ") == 1 and line in text.splitlines()


def test_the_published_curves_of_other_data_sets_are_drawn_beside_ours():
    df = cells([{"steps": s, "value": v} for s, v in ((1, 0.2), (2, 0.1), (25, 0.03))])
    df["steps"] = df["steps"].astype("Int64")
    published = pd.DataFrame({"dataset": ["CelebAMask-HQ"] * 3, "method": ["SymmFlow"] * 3, "steps": [1, 2, 25],
                              "metric": ["FID"] * 3, "value": [88.5, 73.2, 11.9]})

    def height(png: bytes) -> int:
        return struct.unpack(">I", png[20:24])[0]

    alone = plot(df, "t", PlotSpec(metrics=("FD",)))
    beside = plot(df, "t", PlotSpec(metrics=("FD",), relative={"FD": "FID"}), published)
    assert height(beside) > 1.6 * height(alone)  # a second row of panels
