"""One stored network, one set of cells (issue 44): every random draw of an evaluation comes from a
generator keyed by the run's seed and the batch's position (:meth:`~symmflow.distributed.Shard.take`),
so the cells of a network are the same to the last digit when the run is repeated with ``--force``
on a copy of its results folder, when the network is supplied through ``--weights``, and -- within
the reduction's float order -- on two processes; and the latent training stream draws its posterior
samples from generators keyed by the training seed and the batch, so that a training stopped and
rerun ends with the uninterrupted weights, whatever the data loader's workers."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from benchmarks import run
from benchmarks.profiles import SEGSYNTH
from studies.processes import launch
from tests.test_judges import Segmenter, scripted
from tests.test_segsynth_tables import TINY, tables_with

RELEASED = " (released weights)"


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the tiny networks' runs are several times faster on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- helpers


def cells(out: Path) -> dict[tuple, float]:
    """(table, dataset, method, metric, steps) -> stored value of every computed cell under ``out``;
    a supplied network's rows under the method's own name."""
    found = {}
    for table in sorted(out.glob("table*.csv")):
        with table.open() as f:
            for row in csv.DictReader(f):
                if row["status"] != "ok":
                    continue
                stored = json.loads((out / "cells" / f"table{row['table']}" / f"{row['cell']}.json").read_text())
                found[(row["table"], row["dataset"], row["method"].removesuffix(RELEASED), row["metric"],
                       row["steps"])] = stored["value"]
    return found


def symmflow_rows(found: dict) -> dict:
    return {k: v for k, v in found.items() if k[2].startswith("SymmFlow")}


def exported(out: Path, path: Path) -> Path:
    """The SymmFlow network the run under ``out`` trained, written as a supplied weights file."""
    from safetensors.torch import load_file

    (folder,) = [p for p in (out / "checkpoints").glob("symmflow-*") if p.suffix != ".run"]
    state = load_file(str(folder / "model.safetensors"))
    torch.save({k.removeprefix("unet."): v for k, v in state.items()}, path)  # released.matched finds the prefix
    return path


def assert_sharded_equal(single: dict, sharded: dict) -> None:
    """The cells of a two-process run equal the single-process ones within float reduction order."""
    assert single.keys() == sharded.keys() and single
    for key, value in single.items():
        assert sharded[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def rerun_on_copies(first: Path, tmp_path: Path, main, copies: int = 1) -> None:
    """The run of ``main(out, *extra)`` repeated with --force on copies of ``first``: the same cells."""
    stored = cells(first)
    for n in range(copies):
        copy = tmp_path / f"copy{n}"
        shutil.copytree(first, copy)
        assert main(copy, "--force") == 0
        assert cells(copy) == stored


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
    launch("tests.test_eval_reproducible:pixel_on_two", two)
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
    launch("tests.test_eval_reproducible:authors_classifier_on_two", two)
    assert [(two / f"exit{r}").read_text() for r in (0, 1)] == ["0", "0"]
    single, sharded = symmflow_rows(cells(first)), cells(two / "out")
    assert_sharded_equal(single, sharded)
