"""One stored latent network, one set of cells (issue 44): every random draw of an evaluation comes
from a generator keyed by the run's seed and the batch's position (:meth:`~symmflow.distributed.Shard.take`),
so Tables 2, 4 and 5 of a latent network are the same to the last digit when the run is repeated with
``--force`` on a copy of its results folder, when the network is supplied through ``--weights``, and
-- within the reduction's float order -- on two processes; and the latent training stream draws its
posterior samples from generators keyed by the training seed and the batch, so that a training
stopped and rerun ends with the uninterrupted weights, whatever the data loader's workers. The pixel
networks' cells: tests/test_eval_reproducible_pixel.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from benchmarks import run
from benchmarks.profiles import SEGSYNTH
from studies.processes import launch
from tests.stored_cells import assert_sharded_equal, cells, exported, rerun_on_copies, symmflow_rows
from tests.stored_cells import one_thread  # noqa: F401 -- the autouse fixture: one intra-op thread
from tests.test_judges import Segmenter, scripted
from tests.test_segsynth_tables import tables_with


# ---------------------------------------------------------------- latent: Tables 2, 4 and 5


@pytest.fixture(scope="module")
def latent(tmp_path_factory) -> dict:
    """A tiny Stable Diffusion folder, a small CelebAMask-HQ layout of varied faces, a supplied
    judge, and the paper profile on them (:func:`paper_on_fixture`)."""
    from studies.standins import write_celebamask, write_sd_folder
    from symmflow.data import celebamask

    root = tmp_path_factory.mktemp("reproducible")
    write_celebamask(root / "data", count=40, size=16)  # 4 faces evaluated: 2 batches
    sd = write_sd_folder(root / "sd", "tiny")
    return {"root": root, "sd": sd, "paper": paper_on_fixture(),
            "judge": scripted(root, Segmenter(celebamask.NUM_CLASSES))}


def paper_on_fixture():
    """The paper profile on the fixture: one data set at 16 px, evaluation and training batches of 2."""
    paper = SEGSYNTH["paper"]
    return dataclasses.replace(paper, datasets=("CelebAMask-HQ",), resolution=16, eval_batch=2,
                               budget=dataclasses.replace(paper.budget, batch_size=2),
                               latent={**paper.latent, "epochs": 1, "warmup_epochs": 0,
                                       "gpus": {"CelebAMask-HQ": 1}, "fid_samples": 0})


def latent_argv(world: dict, out: Path, *extra) -> list[str]:
    return ["--table", "2,4,5", "--profile", "paper", "--steps", "1,2", "--train-steps", "2", "--out", str(out),
            "--device", "cpu", "--no-progress", "--data-root", str(world["root"] / "data"),
            "--pretrained", str(world["sd"]), "--judge-weights", f"segmenter={world['judge']}",
            "--skip-missing-metrics", *extra]  # FID and LPIPS cells skipped where their extra is absent


def latent_run(world: dict, out: Path, *extra) -> int:
    """Tables 2 (at 2 steps, not 25: :func:`short_table2`), 4 and 5 on the fixture."""
    return run.main(latent_argv(world, out, *extra), tables_with("paper", world["paper"]))


@pytest.fixture
def short_table2(monkeypatch):
    """Table 2's cells at 2 Euler steps instead of the paper's 25 (the same code, fewer evaluations)."""
    monkeypatch.setattr("benchmarks.tables.segsynth.TABLE2_STEPS", 2)


@pytest.mark.parametrize("cache", [True, False], ids=["cached latents", "per-step encoding"])
def test_a_stored_latent_network_gives_its_cells_again_rerun_and_supplied(latent, tmp_path, short_table2, cache):
    extra = ("--cache-latents",) if cache else ()
    first = tmp_path / "first"
    assert latent_run(latent, first, *extra) == 0
    stored = cells(first)
    # segmentation (Tables 2 and 5) and synthesis judged by the supplied segmenter (Tables 2 and 4)
    assert {k[0] for k in stored} == {"2", "4", "5"}
    assert any("of samples" in k[3] for k in stored) and any(k[3] == "mIoU" for k in stored)
    assert len(set(stored.values())) > 2  # cells that tell networks and draws apart
    rerun_on_copies(first, tmp_path, lambda out, *more: latent_run(latent, out, *extra, *more))
    weights = exported(first, tmp_path / "symmflow.pt")
    supplied = tmp_path / "supplied"
    assert latent_run(latent, supplied, "--weights", f"symmflow={weights}") == 0
    assert cells(supplied) == symmflow_rows(stored)


def latent_on_two(folder: Path) -> None:
    """A worker: Tables 2, 4 and 5 of the supplied latent network ``folder/symmflow.pt`` (the
    fixture's folders named in ``folder/world.json``)."""
    from benchmarks.tables import segsynth
    from symmflow.distributed import launched

    segsynth.TABLE2_STEPS = 2  # as short_table2 sets it in the test's process
    world = {k: Path(v) for k, v in json.loads((folder / "world.json").read_text()).items()}
    code = latent_run({**world, "paper": paper_on_fixture()}, folder / "out",
                      "--weights", f"symmflow={folder / 'symmflow.pt'}")
    (folder / f"exit{launched().index}").write_text(str(code))


@pytest.mark.slow
def test_a_supplied_latent_network_gives_its_cells_on_two_processes(latent, tmp_path, short_table2):
    first = tmp_path / "first"
    assert latent_run(latent, first, "--cache-latents") == 0
    two = tmp_path / "two"
    two.mkdir()
    weights = exported(first, two / "symmflow.pt")
    alone = tmp_path / "alone"
    assert latent_run(latent, alone, "--weights", f"symmflow={weights}") == 0
    (two / "world.json").write_text(json.dumps({k: str(latent[k]) for k in ("root", "sd", "judge")}))
    launch("tests.test_eval_reproducible:latent_on_two", two)
    assert [(two / f"exit{r}").read_text() for r in (0, 1)] == ["0", "0"]
    single, sharded = cells(alone), cells(two / "out")
    assert_sharded_equal(single, sharded)


# ---------------------------------------------------------------- the latent training stream


class Stopped(Exception):
    """A training stopped part-way (as a killed process leaves it: its checkpoints on disk)."""


def experiment(world: dict, out: Path, cache: bool, **options):
    from benchmarks.cells import RunOptions
    from benchmarks.experiments.segsynth import SegSynthExperiment

    settings = dataclasses.replace(world["paper"], budget=dataclasses.replace(world["paper"].budget, steps=5))
    return SegSynthExperiment("CelebAMask-HQ", settings, RunOptions(
        profile="paper", out=out, data_root=world["root"] / "data", pretrained=world["sd"], device="cpu",
        progress=False, cache_latents=cache, **options))


def first_batches(stream, count: int = 3) -> list:
    return [tuple(part.clone() for part in next(stream)) for _ in range(count)]


def training_stream(exp, monkeypatch):
    """``batches()`` of the SymmFlow training ``exp`` would start (what it hands the model cache)."""
    from benchmarks.experiments import segsynth

    found = {}

    def capture(name, identity, build, loss, batches, *args, **kwargs):
        found["batches"] = batches
        raise Stopped

    with monkeypatch.context() as patched:
        patched.setattr(segsynth, "trained_model", capture)
        with pytest.raises(Stopped):
            exp.trained("symmflow")
    return found["batches"]


@pytest.mark.parametrize("cache", [True, False], ids=["cached latents", "per-step encoding"])
def test_the_latent_training_stream_is_the_same_whatever_the_loader_workers(latent, tmp_path, monkeypatch, cache):
    """A training batch, with whatever its posterior sample is drawn from, is a function of the
    training seed and the batch: not of the data loader's worker count, nor of the global RNG."""
    from symmflow.data import streams

    batches = training_stream(experiment(latent, tmp_path, cache), monkeypatch)
    drawn = []
    for workers, global_seed in ((0, 1), (2, 2), (0, 3)):
        monkeypatch.setattr(streams, "loader_workers", lambda workers=workers: workers)
        torch.manual_seed(global_seed)
        drawn.append(first_batches(batches()))
    for other in drawn[1:]:
        assert len(other) == len(drawn[0])
        for mine, theirs in zip(drawn[0], other):
            assert len(mine) == len(theirs) and all(torch.equal(a, b) for a, b in zip(mine, theirs))
    assert not torch.equal(drawn[0][0][0], drawn[0][1][0])  # a fresh batch every step


@pytest.mark.parametrize("cache", [True, False], ids=["cached latents", "per-step encoding"])
def test_a_latent_training_stopped_and_rerun_ends_with_the_uninterrupted_weights(latent, tmp_path, monkeypatch,
                                                                                 cache):
    """Stopped after its checkpoint at step 2, rerun: the weights of the run never stopped (the
    training images read in the training process itself, beside the loss's own draws)."""
    from benchmarks.methods.symmflow import SymmFlowMethod
    from symmflow.data import streams

    monkeypatch.setattr(streams, "loader_workers", lambda: 0)
    straight = experiment(latent, tmp_path / "straight", cache).trained("symmflow").model.state_dict()

    original, calls = SymmFlowMethod.loss, []

    def stopping(self, model, batch):
        calls.append(1)
        if len(calls) == 4:  # in step 4, after the checkpoint of step 2
            raise Stopped
        return original(self, model, batch)

    monkeypatch.setattr(SymmFlowMethod, "loss", stopping)
    with pytest.raises(Stopped):
        experiment(latent, tmp_path / "stopped", cache, checkpoint_every=2).trained("symmflow")
    monkeypatch.setattr(SymmFlowMethod, "loss", original)
    assert list((tmp_path / "stopped" / "checkpoints").glob("symmflow-*.run/checkpoint-2"))
    resumed = experiment(latent, tmp_path / "stopped", cache, checkpoint_every=2).trained("symmflow")
    assert resumed.stats[-1]["step"] == 5
    state = resumed.model.state_dict()
    assert state.keys() == straight.keys()
    for name, tensor in straight.items():
        assert torch.equal(tensor, state[name]), name
