"""The cost of a run before it runs (benchmarks.cost): stand-ins count and charge, nothing is trained."""

import re
import pytest
import torch
from torch import nn

from benchmarks.cost import Estimate, Ledger, TimedStandIn


class Doubler(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))
        self.calls = 0

    def forward(self, x, t):
        self.calls += 1
        return self.scale * x


def test_a_stand_in_runs_its_network_once_per_shape_and_charges_every_call():
    ledger, network = Ledger(), Doubler()
    stand_in = TimedStandIn(network, ledger)
    x = torch.ones(5, 3)
    mark = ledger.mark()
    first = stand_in(x, 0.5)
    assert torch.equal(first, 2 * x) and network.calls == 2  # a warm-up and the timed call
    for _ in range(3):
        assert torch.equal(stand_in(torch.zeros(5, 3), 0.1), first)  # answered at once, same shape
    assert network.calls == 2 and ledger.evaluations == 20
    stand_in(torch.ones(2, 3), 0.5)  # a new shape: timed once more
    assert network.calls == 4 and ledger.evaluations == 22
    spent = ledger.since(mark)
    assert spent.evaluations == 22 and spent.evaluation_s > 0 and spent.training_s == 0
    assert stand_in.scale is network.scale  # the network's own attributes stay reachable


def test_a_stand_in_whose_layer_a_hook_reads_runs_every_call_for_real():
    """A feature read by a forward hook (the scene set's joint-distance embedding) must see each
    input, not an answer remembered from another input of the same shape."""
    from baselines.ss import bottleneck_features, ss_unet
    from symmflow.models.pixel_unet import UNetConfig

    network = ss_unet(UNetConfig(base_channels=8, multipliers=(1, 2), layers_per_block=1, head_channels=8,
                                 norm_groups=4, mid_attention=False), 3, 4, 16).eval()
    stand_in = TimedStandIn(network, Ledger())
    images = torch.randn(2, 3, 3, 16, 16)
    with torch.no_grad():
        assert not torch.equal(bottleneck_features(stand_in, images[0]), bottleneck_features(stand_in, images[1]))
        assert torch.allclose(bottleneck_features(stand_in, images[1]), bottleneck_features(network, images[1]))
    assert stand_in.network is network


def test_a_network_to_train_is_charged_its_budget_at_the_timed_step_and_not_trained_to_it():
    from symmflow.train import TrainConfig

    ledger, network = Ledger(), nn.Linear(4, 1)

    def batches():
        while True:
            yield torch.randn(8, 4)

    config = TrainConfig(steps=10_000, lr=1e-3, batch_size=8)
    ledger.stand_in("line", network, lambda model, batch: model(batch).pow(2).mean(), batches, config,
                    cached=False, device="cpu")
    charged = ledger.trainings["line"]
    assert charged["steps"] == 10_000 and charged["seconds"] == 10_000 * charged["step_s"] > 0
    assert ledger.training_s == charged["seconds"]
    ledger.stand_in("line", nn.Linear(4, 1), None, None, config, cached=False, device="cpu")
    assert len(ledger.trainings) == 1 and ledger.training_s == charged["seconds"]  # one network, charged once
    ledger.stand_in("stored", nn.Linear(4, 1), None, None, config, cached=True, device="cpu")
    assert "stored" not in ledger.trainings
    assert str(Estimate(1234, 3.0, 0.0)) == "1,234 network evaluations, about 3 s"


@pytest.mark.slow
def test_a_dry_run_of_every_table_estimates_every_cell_and_writes_nothing(tmp_path, capsys):
    from benchmarks import run

    assert run.main(["--table", "all", "--profile", "smoke", "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("): to compute; ") == out.count("): to compute")  # every cell to compute has its estimate
    assert "no estimate" not in out and not (tmp_path / "out").exists()


def test_a_skipped_or_shared_cell_says_so_instead_of_zero_seconds():
    assert str(Estimate(0, 0.0, 0.0, "LPIPS is not importable")) == "will be skipped: LPIPS is not importable"
    assert "no network evaluations of its own" in str(Estimate(0, 0.0, 0.0)) and "0 s" not in str(Estimate(0, 0.0, 0.0))


def test_a_dry_run_with_everything_present_gives_the_total_its_spread_and_the_load(tmp_path, capsys):
    from benchmarks import run

    assert run.main(["--table", "11", "--profile", "smoke", "--out", str(tmp_path / "out"), "--dry-run",
                     "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"trains \S+: [\d,]+ steps of about \S+ s \(timed steps \S+ - \S+ s\)", out), out
    table = next(line for line in out.splitlines() if line.startswith("table 11 (seed 0): "))
    assert re.search(r"about \d+ s on cpu \(\d+ s - \d+ s from the timed steps' spread\)", table), table
    total = out.strip().splitlines()[-1]
    assert total.startswith("total: about") and "load average of" in total
    assert not re.search(r"(?<![\d,])0 network evaluations", out)
    assert not (tmp_path / "out").exists()


def test_a_dry_run_whose_timed_steps_spread_widely_says_the_estimate_is_unreliable(tmp_path, capsys, monkeypatch):
    from benchmarks import cost, run

    monkeypatch.setattr(cost.Ledger, "spread", lambda self, names: (0.0, 1e6))  # the slowest steps far slower
    assert run.main(["--table", "11", "--profile", "smoke", "--out", str(tmp_path / "out"), "--dry-run",
                     "--no-progress"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "estimate unreliable" in warnings[0] and "load average of" in warnings[0], warnings
