"""Two CPU processes (gloo, launched by torchrun as a cluster job would be): data-parallel
training keeps the ranks identical and equals one process on the global batch; a sharded
evaluation equals the single-process one; a table run on two processes stores its cells from
the main one only.  Each case runs this file as the workers' script, in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmarks.evaluation import segmentation_score, synthesis_score
from symmflow.data.streams import draw_batches, epoch_batches
from symmflow.distributed import Shard, launched
from symmflow.train import TrainConfig, fit

pytestmark = pytest.mark.filterwarnings("ignore")


def _launch(function, folder: Path) -> None:
    """Run ``function(folder)`` on two processes, as ``torchrun --standalone --nproc-per-node 2``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           __file__, function.__name__, str(folder)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _data():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(96, 4, generator=generator)
    return inputs, inputs @ torch.randn(4, 2, generator=generator) + 0.1 * torch.randn(96, 2, generator=generator)


def _regression(model, batch):
    inputs, targets = batch
    return ((model(inputs) - targets) ** 2).mean()


def _train(batch_size: int, shard: Shard, accumulate: int = 1) -> nn.Module:
    torch.manual_seed(0)
    config = TrainConfig(steps=6, lr=0.05, batch_size=batch_size, optimizer="adamw", schedule="onecycle",
                         warmup_steps=2, ema_decay=0.9, gradient_accumulation_steps=accumulate, log_every=3)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    batches = epoch_batches(*_data(), batch_size=batch_size, seed=1, shard=shard)
    return fit(model, _regression, batches, config, device="cpu", progress=False).model


def _train_on_two(folder: Path) -> None:
    shard = launched()
    model = _train(8, shard)
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, folder / f"rank{shard.index}.pt")


def test_two_processes_train_identical_parameters_equal_to_one_process_on_the_global_batch(tmp_path):
    _launch(_train_on_two, tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    one = _train(16, Shard()).state_dict()  # the same 16 rows per step, on one process
    accumulated = _train(8, Shard(), accumulate=2).state_dict()  # and as two accumulated halves
    for name, value in one.items():
        assert not torch.equal(value, _fresh()[name])  # training moved it
        torch.testing.assert_close(ranks[0][name], value, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(accumulated[name], value, rtol=1e-5, atol=1e-6)


def _fresh() -> dict:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).state_dict()


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

def _eval_batches(shard: Shard):
    generator = torch.Generator().manual_seed(5)
    masks = torch.randint(0, 6, (7, 8, 8), generator=generator)  # 7 batches: the shards are uneven
    for position, mask in shard.take(masks):
        yield position, (torch.zeros(2, 3, 8, 8) + position, mask.repeat(2, 1, 1))


def _segment(images, position):
    noisy = torch.Generator().manual_seed(position)
    return torch.randint(0, 6, images.shape[:1] + images.shape[2:], generator=noisy)


def _synthesise(masks, key):
    return torch.randn(len(masks), 3, generator=torch.Generator().manual_seed(100 * key[0] + key[1])) + masks[:, :1, 0]


def _scores(shard: Shard) -> dict:
    mio = segmentation_score(_segment, _eval_batches(shard), 6, 0, shard)
    reference = torch.zeros(3).numpy(), torch.eye(3).numpy()
    fd = synthesis_score(_synthesise, lambda: _eval_batches(shard), lambda x: x.float(), reference, shard=shard)
    cut = synthesis_score(_synthesise, lambda: _eval_batches(shard), lambda x: x.float(), reference, wanted=20,
                          shard=shard)
    return {"miou": mio["value"], "samples": mio["samples"], "fd": fd["value"], "fd_samples": fd["samples"],
            "cut_samples": cut["samples"]}


def _evaluate_on_two(folder: Path) -> None:
    shard = launched()
    (folder / f"rank{shard.index}.json").write_text(json.dumps(_scores(shard)))


def test_a_sharded_evaluation_equals_the_single_process_one(tmp_path):
    _launch(_evaluate_on_two, tmp_path)
    alone = _scores(Shard())
    for rank in (0, 1):
        sharded = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert sharded["samples"] == alone["samples"] == 14
        assert sharded["fd_samples"] == alone["fd_samples"] == 14
        # a sample count that is not whole passes: each process cuts its share (other batches, same count)
        assert sharded["cut_samples"] == alone["cut_samples"] == 20
        assert sharded["miou"] == pytest.approx(alone["miou"], abs=1e-9)
        assert sharded["fd"] == pytest.approx(alone["fd"], rel=1e-9)


# ---------------------------------------------------------------- the harness

def _table_on_two(folder: Path) -> None:
    from benchmarks.run import main

    code = main(["--table", "5", "--profile", "smoke", "--out", str(folder / "results"), "--no-progress",
                 "--steps", "1,2"])
    (folder / f"exit{launched().index}").write_text(str(code))


def test_a_table_on_two_processes_is_stored_once_by_the_main_process(tmp_path):
    _launch(_table_on_two, tmp_path)
    assert [(tmp_path / f"exit{r}").read_text() for r in (0, 1)] == ["0", "0"]
    cells = [json.loads(p.read_text()) for p in (tmp_path / "results" / "cells" / "table5").glob("*.json")]
    assert len(cells) == 2 and all(c["status"] == "ok" and 0 <= c["value"] <= 100 for c in cells)
    assert all(c["samples"] == 32 for c in cells)  # the whole evaluation set, over both processes
    assert (tmp_path / "results" / "table5.csv").is_file()
    assert not list((tmp_path / "results").rglob(".*-new-*"))  # no staged folder left behind


if __name__ == "__main__":  # a worker of :func:`_launch`
    from symmflow.distributed import close

    globals()[sys.argv[1]](Path(sys.argv[2]))
    close(launched())
