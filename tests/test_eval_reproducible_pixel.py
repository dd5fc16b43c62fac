"""Pixel networks' cells (Tables 2, 4, 5, 11) again rerun, supplied and on two processes; the floor's crops keyed."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from benchmarks import run
from studies.processes import launch
from tests.stored_cells import assert_sharded_equal, cells, exported, rerun_on_copies, symmflow_rows
from tests.stored_cells import one_thread  # noqa: F401 -- the autouse fixture: one intra-op thread
from tests.test_segsynth_tables import TINY, tables_with


# ---------------------------------------------------------------- pixel: Tables 2, 4, 5


def pixel_run(out: Path, tables: str, steps: str, *extra) -> int:
    return run.main(["--table", tables, "--profile", "smoke", "--steps", steps, "--out", str(out), "--device", "cpu",
                     "--no-progress", *extra], tables_with("smoke", TINY))


@pytest.mark.parametrize("tables, steps", [
    ("5", "1,2"), pytest.param("2,4", "1", marks=pytest.mark.slow)])
def test_a_stored_pixel_network_gives_its_cells_again_rerun_and_supplied(tmp_path, tables, steps):
    first = tmp_path / "first"
    assert pixel_run(first, tables, steps) == 0
    stored = cells(first)
    assert stored and len(set(stored.values())) > 1
    rerun_on_copies(first, tmp_path, lambda out, *more: pixel_run(out, tables, steps, *more))
    weights = exported(first, tmp_path / "symmflow.pt")
    supplied = tmp_path / "supplied"
    shutil.copytree(first, supplied)  # the judge and the feature network as stored; the supplied cells anew
    assert pixel_run(supplied, tables, steps, "--weights", f"symmflow={weights}") == 0
    mine = {k: v for k, v in cells(supplied).items() if k[2].startswith("SymmFlow")}
    # a --weights run leaves out the cells that need the run's own judge or feature network
    assert mine and mine.items() <= symmflow_rows(stored).items()
    assert any(k[3] == "mIoU" for k in mine)


def pixel_on_two(folder: Path) -> None:
    """A worker: Table 5 of the smoke profile on the supplied network ``folder/symmflow.pt``."""
    from symmflow.distributed import launched

    code = pixel_run(folder / "out", "5", "1,2", "--weights", f"symmflow={folder / 'symmflow.pt'}")
    (folder / f"exit{launched().index}").write_text(str(code))


@pytest.mark.slow
def test_a_supplied_pixel_network_gives_its_cells_on_two_processes(tmp_path):
    first = tmp_path / "first"
    assert pixel_run(first, "5", "1,2") == 0
    two = tmp_path / "two"
    two.mkdir()
    exported(first, two / "symmflow.pt")
    launch("tests.test_eval_reproducible_pixel:pixel_on_two", two)
    assert [(two / f"exit{r}").read_text() for r in (0, 1)] == ["0", "0"]
    single, sharded = symmflow_rows(cells(first)), cells(two / "out")
    assert_sharded_equal(single, sharded)


# ---------------------------------------------------------------- pixel: Table 11


def classification_run(out: Path, *extra) -> int:
    return run.main(["--table", "11", "--profile", "smoke", "--steps", "1,2", "--out", str(out), "--device", "cpu",
                     "--no-progress", *extra])


def test_a_stored_classifier_gives_its_cells_again_rerun(tmp_path):
    """(The smoke profile's classifier has layers outside its U-Net, which a released file does not
    hold: --weights serves the authors' networks, tests/test_released.py.)"""
    first = tmp_path / "first"
    assert classification_run(first) == 0
    stored = cells(first)
    assert stored and {k[3] for k in stored} == {"accuracy", "one-vs-rest AUC"}
    rerun_on_copies(first, tmp_path, classification_run)


def authors_classifier_tables():
    """Table 11 of the gpu profile (the authors' channel label and guided U-Net, here at toy size on
    the bundled digits): a network a supplied file can hold whole."""
    from benchmarks.profiles import CLASSIFICATION, Budget
    from benchmarks.tables.classification import Table11
    from symmflow.models.guided_unet import GuidedUNetConfig

    tiny = GuidedUNetConfig(model_channels=32, num_res_blocks=1, channel_mult=(1, 2), attention_resolutions=(),
                            num_head_channels=32)
    gpu = dataclasses.replace(CLASSIFICATION["gpu"][0], unet=tiny, test_limit=40, eval_batch=40,
                              budget=Budget(4, 8, 1e-3, 1, schedule="onecycle-cosine", ema_warmup=False))
    return {"11": Table11({"gpu": (gpu,)})}


def authors_classifier_run(out: Path, *extra) -> int:
    return run.main(["--table", "11", "--profile", "gpu", "--steps", "1,2", "--out", str(out), "--device", "cpu",
                     "--no-progress", *extra], authors_classifier_tables())


def test_a_stored_authors_classifier_gives_its_cells_again_rerun_and_supplied(tmp_path):
    first = tmp_path / "first"
    assert authors_classifier_run(first) == 0
    stored = symmflow_rows(cells(first))
    assert stored and {k[3] for k in stored} == {"accuracy", "one-vs-rest AUC"}
    rerun_on_copies(first, tmp_path, authors_classifier_run)
    weights = exported(first, tmp_path / "symmflow.pt")
    assert authors_classifier_run(tmp_path / "supplied", "--weights", f"symmflow={weights}") == 0
    assert symmflow_rows(cells(tmp_path / "supplied")) == stored


def authors_classifier_on_two(folder: Path) -> None:
    """A worker: Table 11 of the toy-size gpu profile on the supplied network ``folder/symmflow.pt``."""
    from symmflow.distributed import launched

    code = authors_classifier_run(folder / "out", "--weights", f"symmflow={folder / 'symmflow.pt'}")
    (folder / f"exit{launched().index}").write_text(str(code))


@pytest.mark.slow
def test_a_supplied_authors_classifier_gives_its_cells_on_two_processes(tmp_path):
    first = tmp_path / "first"
    assert authors_classifier_run(first) == 0
    two = tmp_path / "two"
    two.mkdir()
    exported(first, two / "symmflow.pt")
    launch("tests.test_eval_reproducible_pixel:authors_classifier_on_two", two)
    assert [(two / f"exit{r}").read_text() for r in (0, 1)] == ["0", "0"]
    single, sharded = symmflow_rows(cells(first)), cells(two / "out")
    assert_sharded_equal(single, sharded)


# ---------------------------------------------------------------- the floor of a Frechet distance


def test_the_floor_images_random_crops_are_keyed_by_the_image(tmp_path):
    """The real images of the Frechet floor (COCO-Stuff: random training crops) are cropped alike
    whatever was cropped before them in the process."""
    from benchmarks.datasets import FolderData
    from studies.standins import write_cocostuff

    write_cocostuff(tmp_path, count=10, size=16)
    data = FolderData("COCO-Stuff", "cocostuff", "validation", tmp_path, 8, 0)
    first = data.floor_pairs(3)
    data.train[0]  # a training crop drawn in between
    again, fewer = data.floor_pairs(3), data.floor_pairs(2)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert all(torch.equal(a[:2], b) for a, b in zip(first, fewer))
