"""The commit a record names: dirty when the code differs from it, not when outputs do."""

import subprocess

from benchmarks.provenance import OUTPUTS, git_commit


def _git(root, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=root,
                   check=True, capture_output=True)


def test_a_rewritten_output_leaves_the_commit_clean_and_a_changed_code_file_does_not(tmp_path):
    (tmp_path / OUTPUTS).mkdir()
    (tmp_path / OUTPUTS / "table.csv").write_text("a\n")
    (tmp_path / "method.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    clean = git_commit.__wrapped__(tmp_path)
    assert len(clean) == 12 and not clean.endswith("-dirty")

    (tmp_path / OUTPUTS / "table.csv").write_text("b\n")  # a run rewrote its outputs
    (tmp_path / "README.md").write_text("prose\n")  # and the docs quoting them
    assert git_commit.__wrapped__(tmp_path) == clean

    (tmp_path / "method.py").write_text("x = 2\n")  # the code that computes changed
    assert git_commit.__wrapped__(tmp_path) == clean + "-dirty"
