"""What a run will cost before it runs (``--dry-run``): the tables' own code paths, with every
network they would train or evaluate replaced by a timed stand-in.

A stand-in (:class:`TimedStandIn`) wraps the network (untrained, or the supplied weights): the
first call on each input shape runs it once to warm up and once timed, every later call returns
that output at once and is counted.  A network that is not in the model cache is charged its
budget's training steps at the median time of steps of the real training loop
(:func:`symmflow.train.fit`).  So the network evaluations
(rows x NFE) are the ones the tables' code really makes -- counted, not assumed -- and the
estimate of a cell is what its code took around the stand-ins, plus its calls at their
timed cost, plus the training it is the first to need.  Nothing is trained or written.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

import torch
from torch import nn


TRAINING_PROBES = (3, 50, 2.0)
"""Steps of the real training loop timed per network after one to warm up: at least 3, and more
(at most 50) until 2 s have passed, so that a tiny network's step is timed as steadily as a
large one's; their median is charged per step."""


class _Timed(Exception):
    """Raised from the batches of a timed training once enough of its steps were timed."""


@dataclass(frozen=True)
class Estimate:
    """The cost of one cell: rows evaluated (samples x NFE), seconds of evaluation, and seconds
    of training of the networks it is the first of the run to need."""

    evaluations: int
    evaluation_s: float
    training_s: float
    skipped: str | None = None
    """Why the run would store the cell as skipped (None: it is computed)."""

    @property
    def seconds(self) -> float:
        return self.evaluation_s + self.training_s

    def __str__(self) -> str:
        trains = f" + about {hours(self.training_s)} of training" if self.training_s else ""
        if self.skipped is not None:
            return f"will be skipped: {self.skipped}{trains}"
        if not self.evaluations:
            return f"no network evaluations of its own (its score comes with the table's other cells){trains}"
        return f"{self.evaluations:,} network evaluations, about {hours(self.evaluation_s)}{trains}"


@dataclass
class Ledger:
    """What the stand-ins of one dry run counted and timed."""

    evaluations: int = 0
    """Rows evaluated by stand-ins (a call on a batch of B rows counts B)."""
    simulated_s: float = 0.0
    """Seconds charged but not spent: the stand-ins' calls at their timed cost."""
    training_s: float = 0.0
    """Seconds of training charged (the sum over :attr:`trainings`)."""
    probe_s: float = 0.0
    """Seconds spent timing the real networks (not part of the run being estimated)."""
    trainings: dict[str, dict] = field(default_factory=dict)
    """Network name -> its charged training (steps, seconds per step, seconds)."""

    def mark(self) -> tuple:
        return self.evaluations, self.simulated_s, self.training_s, self.probe_s, time.perf_counter()

    def since(self, mark: tuple, skipped: str | None = None) -> Estimate:
        """What was counted and charged since ``mark``; evaluation is the wall time around the
        stand-ins plus what their calls were charged."""
        evaluations, simulated, training, probing, start = mark
        wall = time.perf_counter() - start - (self.probe_s - probing)
        return Estimate(self.evaluations - evaluations, wall + self.simulated_s - simulated,
                        self.training_s - training, skipped)

    def spread(self, names) -> tuple[float, float]:
        """Seconds to take from and add to the charged training of networks ``names`` for the
        fastest and the slowest of their timed steps instead of the median."""
        charged = [self.trainings[n] for n in names]
        return (sum(c["steps"] * (c["step_s"] - c["step_min_s"]) for c in charged),
                sum(c["steps"] * (c["step_max_s"] - c["step_s"]) for c in charged))

    def stand_in(self, name: str, network: nn.Module, loss: Callable | None, batches: Callable[[], Iterator] | None,
                 config, cached: bool, device: str) -> nn.Module:
        """``network`` as a timed stand-in; when ``cached`` is false (it would be trained), its
        training is charged: ``config.steps`` at the median of the steps of ``loss`` on
        ``batches()`` timed as :data:`TRAINING_PROBES` says."""
        network = network.to(device)
        if not cached and name not in self.trainings:
            # an optimiser step asks for one batch per micro-batch of its gradient accumulation
            accumulation = config.gradient_accumulation_steps
            step_s, fastest, slowest = (t * accumulation for t in
                                        self._timed_training_step(network, loss, batches(), config))
            self.trainings[name] = {"steps": config.steps, "step_s": step_s, "seconds": config.steps * step_s,
                                    "step_min_s": fastest, "step_max_s": slowest}
            self.training_s += config.steps * step_s
        return TimedStandIn(network.eval(), self)

    def supplied(self, name: str, network: nn.Module, device: str) -> nn.Module:
        """Supplied weights (``--weights``) as a timed stand-in: nothing to train."""
        return self.stand_in(name, network, None, None, None, True, device)

    def _timed_training_step(self, network: nn.Module, loss: Callable, batches: Iterator,
                             config) -> tuple[float, float, float]:
        """The median, fastest and slowest time of one step of the training loop itself
        (:func:`symmflow.train.fit`: optimiser, schedule, EMA, precision), as the time between two
        batches it asks for."""
        from symmflow.train import fit

        least, most, budget_s = TRAINING_PROBES
        asked: list[float] = []

        def timed():
            for batch in batches:
                asked.append(time.perf_counter())
                if len(asked) > least + 1 and (len(asked) > most + 1 or asked[-1] - asked[1] >= budget_s):
                    raise _Timed
                yield batch

        start = time.perf_counter()
        try:
            fit(network, loss, timed(), replace(config, steps=most + 2, checkpoint_every=0), device=str(
                next(network.parameters()).device), progress=False)
        except _Timed:
            pass
        self.probe_s += time.perf_counter() - start
        steps = [b - a for a, b in zip(asked[1:], asked[2:])]
        return statistics.median(steps), min(steps), max(steps)


class TimedStandIn(nn.Module):
    """A network that runs for real once per input shape (timed) and then answers at once,
    charging the ledger the timed cost of every call -- except while a forward hook reads one of
    its layers (e.g. :func:`baselines.ss.bottleneck_features`): then every call runs for real."""

    def __init__(self, network: nn.Module, ledger: Ledger):
        super().__init__()
        self.network, self._ledger = network, ledger
        self._layers = tuple(network.modules())
        self._answers: dict[tuple, tuple[object, float]] = {}

    def forward(self, *args, **kwargs):
        given = (*args, *kwargs.values())
        first = next((a for a in given if isinstance(a, torch.Tensor)), None)
        shape = tuple(tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__ for a in given)
        if shape not in self._answers:
            start = time.perf_counter()
            with torch.no_grad():
                self.network(*args, **kwargs)  # warm-up
                begin = time.perf_counter()
                answer = self.network(*args, **kwargs)
                seconds = time.perf_counter() - begin
            self._answers[shape] = answer, seconds
            self._ledger.probe_s += time.perf_counter() - start
        elif self._observed():  # a hook reads a layer: run again so that it sees this input
            start = time.perf_counter()
            with torch.no_grad():
                self.network(*args, **kwargs)
            self._ledger.probe_s += time.perf_counter() - start
        answer, seconds = self._answers[shape]
        self._ledger.simulated_s += seconds
        self._ledger.evaluations += first.shape[0] if first is not None and first.dim() else 1
        return answer.clone() if isinstance(answer, torch.Tensor) else answer

    def _observed(self) -> bool:
        return any(layer._forward_hooks for layer in self._layers)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:  # the network's own attributes and submodules (called for real)
            return getattr(super().__getattr__("network"), name)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 360 else f"{seconds:.0f} s"


def estimate(spec, todo: list, options, experiments: dict, progress: bool = False) -> dict:
    """Cell -> :class:`Estimate` of computing ``todo`` of table ``spec`` with ``options`` (whose
    ledger every network of the run is charged to); a score or a network two cells share is
    charged to the first, as a real run computes it once; ``progress``: a bar over the cells."""
    from tqdm.auto import tqdm

    ledger, per_cell = options.ledger, {}
    mark = ledger.mark()
    with tqdm(total=len(todo), desc=f"dry run of table {spec.name}", disable=not progress) as bar:
        def finish(cell, measured: dict) -> None:
            nonlocal mark
            skipped = measured.get("reason") or "no reason given" if measured.get("status") == "skipped" else None
            per_cell[cell] = ledger.since(mark, skipped)
            mark = ledger.mark()
            bar.update()

        spec.compute(todo, options, finish, experiments)
    return per_cell


def gpu_hours(spec, estimates: dict, options) -> str:
    """Where the table's profile publishes GPU counts per data set (the paper profile): the
    estimate as wall hours on that many GPUs and as GPU-hours (an estimate on one device)."""
    per_dataset: dict[str, float] = {}
    for cell, cost in estimates.items():
        per_dataset[cell.dataset] = per_dataset.get(cell.dataset, 0.0) + cost.seconds
    return on_gpus(spec.gpus(options.profile), per_dataset)


def on_gpus(counts: dict[str, int], per_dataset: dict[str, float]) -> str:
    """Seconds per data set on one device as wall hours on ``counts`` GPUs and as GPU-hours."""
    shown = [f"{dataset} on {counts[dataset]} GPUs: about {hours(seconds / counts[dataset])} wall, "
             f"{seconds / 3600:.2f} GPU-hours" for dataset, seconds in per_dataset.items() if dataset in counts]
    return f" ({'; '.join(shown)})" if shown else ""
