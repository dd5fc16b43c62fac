"""The global batch is the profile's on any launch: the split over processes and accumulation, a
network's identity independent of the process count, resuming on another count, and SIGTERM
saving the training's state (:mod:`symmflow.batching`, :func:`symmflow.train.fit`)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from symmflow.batching import plan
from symmflow.data.streams import draw_batches, epoch_batches
from symmflow.distributed import Shard
from symmflow.errors import Terminated, UsageError
from symmflow.train import PROGRESS, TrainConfig, checkpoints, fit


# ---------------------------------------------------------------- the split


@pytest.mark.parametrize("args, split", [
    ((64, 2), (32, 1)),  # the authors' CelebAMask-HQ launch: 2 GPUs x 32
    ((128, 4), (32, 1)),  # COCO-Stuff: 4 x 32
    ((64, 1), (64, 1)),  # the same global batch on one GPU
    ((64, 8), (8, 1)),
    ((64, 1, 16), (16, 4)),  # a small GPU: accumulation keeps the global batch
    ((180, 4, 40), (15, 3)),  # the largest per-device batch up to 40 that divides 45
    ((128, 4, None, 2), (16, 2)),
    ((512, 2, 256, 1), (256, 1)),
])
def test_a_global_batch_splits_into_processes_accumulation_and_a_per_device_batch(args, split):
    found = plan(*args)
    assert (found.per_device, found.accumulation) == split
    assert found.per_device * found.processes * found.accumulation == args[0] == found.global_batch
    assert found.record() == {"processes": args[1], "per_device_batch": split[0], "accumulation": split[1],
                              "global_batch": args[0]}


@pytest.mark.parametrize("args, needle", [
    ((180, 7), "the global batch of 180 does not divide among 7 processes"),
    ((64, 2, None, 3), "--gradient-accumulation-steps 3"),
    ((64, 2, 0), "--batch-size-per-device 0: use a positive number"),
    ((64, 2, -4), "--batch-size-per-device -4: use a positive number"),
    ((64, 2, None, 0), "--gradient-accumulation-steps 0: use a positive number"),
    ((64, 2, 8, 2), "leaves 16 samples per device"),
    ((4, 8), "does not divide among 8 processes"),  # a per-device batch of 0
])
def test_a_split_that_cannot_be_made_is_one_line_naming_the_value_and_the_remedy(args, needle):
    with pytest.raises(UsageError) as error:
        plan(*args)
    assert needle in str(error.value) and "\n" not in str(error.value)
    assert any(word in str(error.value) for word in ("use ", "launch ", "give "))


def test_every_split_of_a_global_batch_draws_the_same_rows_per_step():
    rows = torch.arange(100).unsqueeze(1)  # 6 global batches of 16 per epoch, 4 rows dropped
    for stream in (epoch_batches, draw_batches):
        whole = [next(s)[0] for s in [stream(rows, batch_size=16, seed=3)] for _ in range(8)]
        for processes, accumulation in ((2, 1), (4, 2), (1, 4), (2, 8)):
            per_device = 16 // (processes * accumulation)
            streams = [stream(rows, batch_size=per_device, seed=3, shard=Shard(i, processes),
                              accumulation=accumulation) for i in range(processes)]
            for step in range(8):
                parts = [torch.cat([next(s)[0] for _ in range(accumulation)]) for s in streams]
                assert sorted(torch.cat(parts).flatten().tolist()) == sorted(whole[step].flatten().tolist()), \
                    (stream.__name__, processes, accumulation, step)


# ---------------------------------------------------------------- profiles and identities


def test_the_paper_profiles_state_their_global_batches():
    from benchmarks.profiles import CLASSIFICATION, SEGSYNTH
    from benchmarks.tables.classification import TABLE3
    from benchmarks.tables.segsynth import TABLE2
    from benchmarks.tables.toy import TABLE1

    assert TABLE2.global_batches("paper") == {"CelebAMask-HQ": 64, "COCO-Stuff": 128}  # notes section 6
    assert TABLE3.global_batches("paper") == {"MNIST": 512, "CIFAR-10": 180}  # notes section 5, one GPU
    assert TABLE2.global_batches("cpu") == {"scenes": SEGSYNTH["cpu"].budget.batch_size}
    assert TABLE3.global_batches("smoke") == {"MNIST (bundled 4k/1k)": CLASSIFICATION["smoke"][0].budget.batch_size}
    assert TABLE1.global_batches("paper") == {"two-spirals": 10_000}


@pytest.mark.parametrize("dataset, rows, steps", [("CelebAMask-HQ", 24_183, 200 * 378),
                                                  ("COCO-Stuff", 118_287, 200 * 925)])
def test_latent_paper_steps_are_epochs_of_ceil_rows_over_the_global_batch(dataset, rows, steps):
    from benchmarks.experiments.segsynth import SegSynthExperiment
    from benchmarks.profiles import SEGSYNTH

    experiment = SimpleNamespace(settings=SEGSYNTH["paper"], dataset=dataset, device="cuda",
                                 data=SimpleNamespace(train_count=rows))
    config = SegSynthExperiment._config(experiment, "symmflow")
    assert config.steps == steps and config.warmup_steps == steps // 20  # 10 of 200 epochs
    assert config.batch_size == SEGSYNTH["paper"].global_batch(dataset)


class _Names:
    """A dry run's ledger that only notes the model-cache folder each network would be stored in."""

    def __init__(self):
        self.names = []

    def stand_in(self, name, network, loss, batches, config, cached, device):
        self.names.append((name, config.batch_size, config.gradient_accumulation_steps))
        return network


@pytest.mark.parametrize("processes, per_device", [(2, None), (4, None), (4, 100), (1, 250)])
def test_a_network_is_one_identity_on_any_process_count(tmp_path, processes, per_device):
    from benchmarks.experiments.toy import train_toy
    from benchmarks.profiles import TOY

    settings, names = TOY["smoke"], {}
    for count, device_batch in ((1, None), (processes, per_device)):
        ledger = _Names()
        split = plan(settings.batch_size, count, device_batch)
        train_toy(settings, 0, tmp_path, shard=Shard(count - 1, count), ledger=ledger, plan=split)
        names[count, device_batch] = ledger.names[0]
    (one, _, _), (other, batch, accumulation) = names.values()
    assert one == other  # the model cache's folder: the same network
    assert batch * processes * accumulation == settings.batch_size  # trained on this process's share


# ---------------------------------------------------------------- resuming and SIGTERM


def _regression():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    return x, x @ torch.randn(4, 2)


def _loss(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def _train(run_dir: Path | None, loss=_loss, steps: int = 8, checkpoint_every: int = 0):
    torch.manual_seed(1)
    config = TrainConfig(steps=steps, lr=0.05, batch_size=8, schedule="onecycle", warmup_steps=2, ema_decay=0.9,
                         checkpoint_every=checkpoint_every, log_every=1)
    return fit(torch.nn.Linear(4, 2), loss, epoch_batches(*_regression(), batch_size=8, seed=3), config,
               device="cpu", run_dir=run_dir, progress=False)


def test_sigterm_saves_the_state_at_the_current_step_and_the_rerun_resumes_it(tmp_path):
    straight = _train(None).model.state_dict()
    calls = []

    def signalled(model, batch):
        calls.append(1)
        if len(calls) == 3:  # during step 3
            os.kill(os.getpid(), signal.SIGTERM)
        return _loss(model, batch)

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as stopped:
        _train(tmp_path, signalled)
    assert "step 3 of 8" in str(stopped.value) and "\n" not in str(stopped.value)
    assert signal.getsignal(signal.SIGTERM) == before  # the caller's handler is back
    assert [n for n, _ in checkpoints(tmp_path)] == [3]
    saved = json.loads((tmp_path / "checkpoint-3" / PROGRESS).read_text())
    assert saved["batch"] == {"processes": 1, "per_device_batch": 8, "accumulation": 1, "global_batch": 8}
    resumed = _train(tmp_path)
    assert resumed.resumed_from == 3 and [r["step"] for r in resumed.stats] == list(range(1, 9))
    for name, tensor in straight.items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_a_checkpoint_of_another_process_count_resumes_and_one_of_another_global_batch_is_refused(tmp_path):
    straight, calls = _train(None).model.state_dict(), []

    def stop(model, batch):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("stopped")
        return _loss(model, batch)

    with pytest.raises(RuntimeError):
        _train(tmp_path, stop, checkpoint_every=4)
    progress = tmp_path / "checkpoint-4" / PROGRESS
    saved = json.loads(progress.read_text())
    # as a launch of 4 processes x 2 would have written it: the same global batch of 8
    progress.write_text(json.dumps({**saved, "batch": {"processes": 4, "per_device_batch": 2, "accumulation": 1,
                                                       "global_batch": 8}}))
    resumed = _train(tmp_path, checkpoint_every=4)  # the loss draws no noise: the RNG fallback changes nothing here
    assert resumed.resumed_from == 4
    for name, tensor in straight.items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    progress = tmp_path / "checkpoint-8" / PROGRESS
    progress.write_text(json.dumps({**json.loads(progress.read_text()),
                                    "batch": {"processes": 1, "per_device_batch": 16, "accumulation": 1,
                                              "global_batch": 16}}))
    with pytest.raises(UsageError, match="global batch of 16, this training's is 8"):
        _train(tmp_path, steps=10, checkpoint_every=4)


@pytest.mark.slow
def test_the_scale_check_study_at_its_smallest(tmp_path):
    """1 and 2 processes, accumulation, two nodes, preemption on 2 resumed on 2, SIGTERM on one."""
    from studies.scale_check import study

    record = study(tmp_path, (1, 2), epochs=1)
    assert all(record["same_across_launches"].values()), record["same_across_launches"]
    assert record["curves_within_tolerance"]
    assert {r["steps"] for r in record["rows"]} == {13} and {r["samples"] for r in record["rows"]} == {13 * 16}
    nodes = next(r for r in record["rows"] if r["nodes"] == 2)["processes_where"]
    assert sorted(p["node_rank"] for p in nodes) == [0, 1]
    resume = record["resume_across_counts"]
    assert resume["matched"] and resume["checkpoints"] and resume["workers_terminated"] == 2
    term = record["sigterm"]
    assert term["exit_status"] == 143 and term["stderr_lines"] == 1 and term["stderr"].startswith("terminated:")
    assert term["bitwise_equal"] and term["losses_equal"]
