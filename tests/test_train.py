"""The training loop: schedule, loss going down, resumable checkpoints."""

import pytest
import torch
from torch import nn

from symmflow.schedules import lr_factor, lr_schedule, weights_average
from symmflow.train import TrainConfig, fit, latest_checkpoint


def test_one_cycle_schedule_shape():
    c = TrainConfig(steps=100, lr=1e-3, batch_size=1, schedule="onecycle", warmup_steps=10, min_lr=1e-6)
    assert lr_factor(0, c) == pytest.approx(1e-3)
    assert lr_factor(10, c) == pytest.approx(1.0)
    assert lr_factor(100, c) == pytest.approx(1e-3)
    assert lr_factor(55, c) == pytest.approx(0.5 * (1 + 1e-3))
    after = [lr_factor(s, c) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(after, after[1:]))
    assert lr_factor(7, TrainConfig(steps=10, lr=1.0, batch_size=1)) == 1.0


def test_the_authors_schedule_is_a_cosine_warm_up_from_1e6():
    """``onecycle-cosine``: OneCycleLR as the authors build it -- 1e-6 at step 0, a cosine ramp to
    lr at the end of the warm-up (half-way: the mean of the two), cosine down to 1e-6 at the end."""
    c = TrainConfig(steps=100, lr=1e-3, batch_size=1, schedule="onecycle-cosine", warmup_steps=11, min_lr=1e-6)
    optimizer = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=c.lr)
    schedule, lrs = lr_schedule(optimizer, c), []
    for _ in range(c.steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs[0] == pytest.approx(1e-6) and lrs[10] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-6)
    assert lrs[5] == pytest.approx((1e-3 + 1e-6) / 2)  # cosine, where a linear ramp would be too
    assert max(lrs) == lrs[10] and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    torch_optimizer = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=c.lr)
    theirs = torch.optim.lr_scheduler.OneCycleLR(torch_optimizer, max_lr=c.lr, total_steps=c.steps, pct_start=0.11,
                                                 anneal_strategy="cos", cycle_momentum=False, div_factor=c.lr / 1e-6,
                                                 final_div_factor=1)
    for step in range(c.steps):  # the authors' scheduler itself, step by step
        assert lrs[step] == pytest.approx(torch_optimizer.param_groups[0]["lr"], rel=1e-9, abs=1e-15)
        torch_optimizer.step()
        theirs.step()
    for warmup, steps in ((0, 5), (1, 2), (1, 1)):  # degenerate budgets (--train-steps 1) stay defined
        short = TrainConfig(steps=steps, lr=1e-3, batch_size=1, schedule="onecycle-cosine", warmup_steps=warmup)
        assert all(1e-6 <= lr_factor(s, short) * 1e-3 <= 1e-3 + 1e-12 for s in range(steps))


@pytest.mark.parametrize("decay", [0.9, 0.999])
def test_the_authors_ema_is_a_copy_at_step_0_then_a_constant_decay(decay):
    """``ema_warmup=False`` gives the authors' ``update_ema``: ema = w_0, then ema = d ema + (1 - d) w_k."""
    weight = nn.Parameter(torch.tensor([1.0]))
    config = TrainConfig(steps=10, lr=1.0, batch_size=1, ema_decay=decay, ema_warmup=False)
    ema, theirs = weights_average([weight], config), weight.detach().clone()
    for k in range(1, 6):
        with torch.no_grad():
            weight.add_(float(k))
        ema.step([weight])
        theirs = decay * theirs + (1 - decay) * weight.detach()
        torch.testing.assert_close(ema.shadow_params[0], theirs)
    warmed = weights_average([weight], TrainConfig(steps=10, lr=1.0, batch_size=1, ema_decay=decay))
    warmed.step([weight])
    assert torch.equal(warmed.shadow_params[0], weight.detach())  # diffusers' rule: a copy at its first step


def regression_batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.tensor([[2.0], [-1.0]])
    while True:
        x = torch.randn(32, 2, generator=g)
        yield x, x @ w


def mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def test_fit_trains_when_called_from_an_evaluation_without_gradients():
    config = TrainConfig(steps=20, lr=0.05, batch_size=32, log_every=10)
    with torch.no_grad():  # an evaluation that finds its network missing from the cache trains it
        result = fit(nn.Linear(2, 1), mse, regression_batches(), config, device="cpu", progress=False)
    assert result.losses[-1][1] < result.losses[0][1]


def test_fit_lowers_the_loss_and_keeps_an_ema():
    torch.manual_seed(0)
    config = TrainConfig(steps=200, lr=0.05, batch_size=32, ema_decay=0.9, log_every=50)
    result = fit(nn.Linear(2, 1), mse, regression_batches(), config, device="cpu", progress=False)
    assert result.losses[-1][1] < 0.1 * result.losses[0][1]
    torch.testing.assert_close(result.model.weight, torch.tensor([[2.0, -1.0]]), atol=0.05, rtol=0)


def test_fit_resumes_from_the_latest_checkpoint(tmp_path):
    torch.manual_seed(0)
    first = TrainConfig(steps=10, lr=0.05, batch_size=32, checkpoint_every=5, log_every=1)
    fit(nn.Linear(2, 1), mse, regression_batches(), first, device="cpu", run_dir=tmp_path, progress=False)
    assert latest_checkpoint(tmp_path)[0] == 10
    longer = TrainConfig(steps=14, lr=0.05, batch_size=32, checkpoint_every=5, log_every=1)
    result = fit(nn.Linear(2, 1), mse, regression_batches(), longer, device="cpu", run_dir=tmp_path, progress=False)
    assert result.resumed_from == 10
    # the records of the first part are kept, the second adds only its own steps
    assert [s for s, _ in result.losses] == list(range(1, 15))
    assert [r["step"] for r in result.stats] == list(range(1, 15))


def test_fit_logs_both_terms_of_the_symmflow_loss(tmp_path):
    """A loss returning LossParts has its image and label terms logged beside the total,
    averaged over the logging interval, and kept in the run's stats.jsonl."""
    import json

    from symmflow.path import LossParts

    def parts(model, batch):
        x, y = batch
        x_mse = ((model(x) - y) ** 2).mean()
        y_mse = (model.weight ** 2).sum()
        return LossParts(0.9 * x_mse + 0.1 * y_mse, x_mse, y_mse)

    config = TrainConfig(steps=20, lr=0.05, batch_size=32, log_every=10)
    result = fit(nn.Linear(2, 1), parts, regression_batches(), config, device="cpu", run_dir=tmp_path,
                 progress=False)
    assert [r["step"] for r in result.stats] == [10, 20]
    for record in result.stats:
        assert record["loss"] == pytest.approx(0.9 * record["x_mse"] + 0.1 * record["y_mse"], rel=1e-5)
    stored = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert stored == result.stats


def _conv_batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    while True:
        x = torch.randn(8, 3, 8, 8, generator=g)
        yield x, x.flip(1)


def _conv_mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


@pytest.mark.parametrize("switch", ["channels_last", pytest.param("compile", marks=pytest.mark.slow)])
def test_speed_switches_change_the_layout_not_the_training(switch):
    """``channels_last`` / ``compile`` train the same network to the same weights (to rounding)
    as the eager NCHW run, and the trained network is the plain module, in the switch's layout."""
    def train(**switches):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.SiLU(), nn.Conv2d(8, 3, 3, padding=1))
        config = TrainConfig(steps=5, lr=1e-2, batch_size=8, log_every=1, **switches)
        return fit(net, _conv_mse, _conv_batches(), config, device="cpu", progress=False)

    eager, switched = train(), train(**{switch: True})
    assert isinstance(switched.model, nn.Sequential)
    assert switched.model[0].weight.is_contiguous(memory_format=torch.channels_last) == (switch == "channels_last")
    for a, b in zip(eager.model.parameters(), switched.model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert [s for s, _ in switched.losses] == [1, 2, 3, 4, 5]
