"""A study's record: both files written whole, the command named as it was given."""

import json

from studies.records import as_given, write_record


def test_a_record_is_its_json_and_markdown_and_the_command_as_given(tmp_path, capsys):
    out = tmp_path / "new" / "folder"
    assert write_record(out, "study", {"rows": [1, 2]}, "# Study\n") == 0
    assert json.loads((out / "study.json").read_text()) == {"rows": [1, 2]}
    assert (out / "study.md").read_text() == "# Study\n" and sorted(p.name for p in out.iterdir()) == [
        "study.json", "study.md"]  # no temporary file left beside them
    assert capsys.readouterr().out.strip() == str(out / "study.md")
    assert as_given("studies.threads", ["--out", "results/cpu", "--busy", "1"]) == (
        "python -m studies.threads --out results/cpu --busy 1")
