"""Two CPU processes (gloo, launched by torchrun as a cluster job would be), through
:mod:`studies.processes`: data-parallel training keeps the ranks identical and equals one
process on the global batch; a sharded evaluation equals the single-process one; a table run
on two processes stores its cells from the main one only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from studies.processes import launch, study
from symmflow.data.streams import draw_batches, epoch_batches
from symmflow.distributed import Shard, launched


@pytest.fixture(scope="module")
def found(tmp_path_factory) -> dict:
    return study(tmp_path_factory.mktemp("processes"))


def test_two_processes_train_identical_parameters_equal_to_one_process_on_the_global_batch(found):
    training = found["training"]
    assert training["ranks_bitwise_equal"]
    assert training["moved_by_training"] > 0.01
    assert training["max_diff_to_one_process"] < 1e-5  # float rounding of the all-reduce
    assert training["max_diff_accumulated_to_one_process"] < 1e-5


def test_the_shards_of_a_stream_partition_its_global_batches():
    rows = torch.arange(40).unsqueeze(1)
    for stream in (epoch_batches, draw_batches):
        whole = next(stream(rows, batch_size=10, seed=3, shard=Shard()))[0]
        halves = [next(stream(rows, batch_size=5, seed=3, shard=Shard(i, 2)))[0] for i in (0, 1)]
        if stream is epoch_batches:  # the same permutation, cut the same way
            assert torch.equal(torch.cat(halves), whole)
        assert set(halves[0].flatten().tolist()).isdisjoint(halves[1].flatten().tolist()) or stream is draw_batches
    assert [p for p, _ in Shard(1, 3).take("abcdefg")] == [1, 4]


# ---------------------------------------------------------------- sharded evaluation

def test_a_sharded_evaluation_equals_the_single_process_one(found):
    alone = found["evaluation"]["single"]
    for sharded in found["evaluation"]["sharded"]:
        assert sharded["samples"] == alone["samples"] == 14
        assert sharded["fd_samples"] == alone["fd_samples"] == 14
        # a sample count that is not whole passes: each process cuts its share (other batches, same count)
        assert sharded["cut_samples"] == alone["cut_samples"] == 20
        assert sharded["miou"] == pytest.approx(alone["miou"], abs=1e-9)
        assert sharded["fd"] == pytest.approx(alone["fd"], rel=1e-9)


# ---------------------------------------------------------------- the harness

def table_on_two(folder: Path) -> None:
    """A worker: Table 5 of the smoke profile, its exit code written per process."""
    from benchmarks.run import main

    code = main(["--table", "5", "--profile", "smoke", "--out", str(folder / "results"), "--no-progress",
                 "--steps", "1,2"])
    (folder / f"exit{launched().index}").write_text(str(code))


@pytest.mark.slow
def test_a_table_on_two_processes_is_stored_once_by_the_main_process(tmp_path):
    launch("tests.test_distributed:table_on_two", tmp_path)
    assert [(tmp_path / f"exit{r}").read_text() for r in (0, 1)] == ["0", "0"]
    cells = [json.loads(p.read_text()) for p in (tmp_path / "results" / "cells" / "table5").glob("*.json")]
    assert len(cells) == 2 and all(c["status"] == "ok" and 0 <= c["value"] <= 100 for c in cells)
    assert all(c["samples"] == 32 for c in cells)  # the whole evaluation set, over both processes
    assert (tmp_path / "results" / "table5.csv").is_file()
    assert not list((tmp_path / "results").rglob(".*-new-*"))  # no staged folder left behind
