"""The results index page: tables in numeric order, published beside reproduced, plots, seeds, errors."""

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.render.index import main, render_index


def _row(table, method="SymmFlow", steps=1, metric="accuracy", value=97.0, published=99.3, status="ok",
         reason="", seed=0, **extra):
    return {"table": table, "dataset": "MNIST", "task": "classification", "method": method, "steps": steps,
            "metric": metric, "value": value, "published": published, "difference": None, "status": status,
            "reason": reason, "wall_s": 1.5, "seed": seed, "profile": "cpu", "git_commit": "abc123",
            "device": "cpu (x86_64, 2 threads)", **extra}


def _write(folder, table, rows):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / f"table{table}.csv", index=False)


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "cpu"
    for table in ("11", "2", "5", "1"):
        _write(out, table, [_row(table)])
    return out


def test_lists_every_table_in_numeric_order(folder):
    page = render_index(folder, {"11": "AUC against steps"}).read_text()
    positions = [page.index(f"## Table {n}") for n in ("1\n", "2\n", "5\n", "11: AUC against steps")]
    assert positions == sorted(positions)
    assert page.startswith("# Results: profile `cpu`")
    assert f"python -m benchmarks.render.index --out {folder}" in page  # the folder it was rendered for
    assert "1 cells (1 ok); commit(s) abc123; device(s) cpu (x86_64, 2 threads); 1.5 s" in page


def test_published_beside_reproduced(folder):
    page = render_index(folder).read_text()
    header = next(line for line in page.splitlines() if line.startswith("| dataset"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "dataset", "method", "steps", "metric", "reproduced", "published", "difference"]
    assert "| 97.00" in page and "| 99.30" in page and "| -2.30" in page


def test_embeds_existing_plot_and_grids_not_missing_plot(folder):
    (folder / "table5.png").write_bytes(b"png")
    (folder / "samples").mkdir()
    (folder / "samples" / "table5-scenes.png").write_bytes(b"png")
    (folder / "samples" / "table11-other.png").write_bytes(b"png")
    (folder / "table5.md").write_text("# Table 5: x\n")
    (folder / "perf.md").write_text("# Performance against the limit and the peers\n")
    page = render_index(folder).read_text()
    table5 = page[page.index("## Table 5"):page.index("## Table 11")]
    assert "![Table 5](table5.png)" in table5 and "(samples/table5-scenes.png)" in table5
    assert "table11-other" not in table5 and "[table5.md](table5.md)" in table5
    assert "table1.png" not in page and "table2.png" not in page
    assert "[perf.md](perf.md): Performance against the limit and the peers" in page
    assert "](/" not in page and f"]({folder}" not in page  # relative links only


def test_skipped_cells_show_their_reason(tmp_path):
    reason = "lpips is not importable (it needs torchvision, which needs torch==2.14.1); install the extra"
    _write(tmp_path, "2", [_row("2", metric="LPIPS", value=None, published=None, status="skipped", reason=reason)])
    page = render_index(tmp_path).read_text()
    line = next(line for line in page.splitlines() if "LPIPS" in line)
    assert "skipped: lpips is not importable" in line and "install the extra" not in line
    assert "0 ok" not in page and "1 skipped" in page


def test_several_seeds_mean_and_standard_deviation(tmp_path):
    rows = [_row("3", value=v, seed=s) for s, v in enumerate([97.0, 97.5, 98.0])] + [_row("3", steps=2, value=96.0)]
    _write(tmp_path, "3", rows)
    page = render_index(tmp_path).read_text()
    assert "97.50 ± 0.50 (3 seeds)" in page and "| -1.80" in page
    assert "96.00" in page and "96.00 ±" not in page


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir(),
                                  lambda p: (p.mkdir(), (p / "x.md").write_text("x"))])
def test_empty_or_missing_folder_is_one_line_and_exit_2(tmp_path, capsys, make):
    folder = tmp_path / "results"
    make(folder)
    before = sorted(tmp_path.rglob("*"))
    assert main(["--out", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "benchmarks.run" in err[0]
    assert sorted(tmp_path.rglob("*")) == before


def test_main_writes_the_page(folder, capsys):
    assert main(["--out", str(folder)]) == 0
    assert capsys.readouterr().out.strip() == str(folder / "README.md")


@pytest.mark.parametrize("profile", ["cpu", "gpu", "paper"])
def test_the_committed_protocol_pages_are_rendered_from_the_profiles_settings(profile):
    """results/<profile>/protocol.md is what the settings give now: a changed setting without a
    re-rendered page fails here (python -m benchmarks.render.protocol --profile PROFILE)."""
    from benchmarks.render import protocol

    committed = Path(__file__).resolve().parent.parent / "results" / profile / "protocol.md"
    assert committed.read_text() == protocol.markdown(profile)


def test_the_protocol_verdicts_follow_the_settings(tmp_path, capsys, monkeypatch):
    from benchmarks import profiles
    from benchmarks.render import protocol

    def verdict(profile, group, point):
        return {row[0]: row[4] for row in protocol.rows(profile)[group]}[point]

    assert verdict("paper", "classification", "mnist-full: class label") == "MATCH"
    assert verdict("paper", "segmentation", "COCO-Stuff colours") == "MATCH"
    assert verdict("gpu", "classification", "mnist: EMA") == "MATCH"
    assert verdict("cpu", "classification", "mnist: EMA") == "DIFFERS"  # with the record that chose it
    assert ("classification-design.md"
            in {r[0]: r[5] for r in protocol.rows("cpu")["classification"]}["mnist: class label"])
    # the paper profile moved off the authors' class code: DIFFERS, and no record says why -> an error
    moved = dataclasses.replace(profiles.CLASSIFICATION["paper"][0], symmflow=dataclasses.replace(
        profiles.CLASSIFICATION["paper"][0].symmflow, label_code="image-offset"))
    monkeypatch.setitem(profiles.CLASSIFICATION, "paper", (moved,))
    with pytest.raises(ValueError, match="classification/label_code differs .* no record says why"):
        protocol.markdown("paper")
    assert protocol.main(["--profile", "nope", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not list(tmp_path.iterdir())
