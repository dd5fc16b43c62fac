"""A table is a grid of cells; a cell is one number and everything it depends on.

A cell's identity is a hash of its canonical settings (DomainBed / lm-eval style): two
runs that would compute the same number share a key, and any change of a setting that
matters (profile, seed, solver, model settings) gives a new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Mapping

from benchmarks.cost import Ledger
from symmflow.distributed import Shard


PROFILES = ("smoke", "cpu", "gpu", "paper")
"""The profiles every table defines (their settings: :mod:`benchmarks.profiles`)."""


def canonical(obj) -> str:
    """``obj`` as sorted, compact JSON (what JSON cannot write, as its text): what a key hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def settings_identity(obj):
    """``obj`` as plain values for an identity (dataclasses as dicts, like ``asdict``), less each
    field a class lists in ``LATER_FIELDS`` while it holds the value listed there: an option added
    after cells and networks were stored, at the value that reproduces them, leaves their keys as
    they were; any other value enters the key."""
    if is_dataclass(obj) and not isinstance(obj, type):
        later = getattr(type(obj), "LATER_FIELDS", {})
        return {f.name: settings_identity(getattr(obj, f.name)) for f in fields(obj)
                if not (f.name in later and getattr(obj, f.name) == later[f.name])}
    if isinstance(obj, dict):
        return {k: settings_identity(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(settings_identity(v) for v in obj)
    return obj


def digest(obj, length: int = 16) -> str:
    return hashlib.sha1(canonical(obj).encode()).hexdigest()[:length]


@dataclass(frozen=True, eq=False)
class Cell:
    """One number of a table.  ``settings`` holds every setting its value depends on as the
    Python values they were given (never parsed back from text); cells are equal when their
    keys are."""

    table: str
    dataset: str
    task: str
    method: str
    steps: int | None
    metric: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, table, dataset, task, method, steps, metric, **settings) -> "Cell":
        """A cell; ``settings`` holds everything its value depends on, and ``params`` (a dict)
        what its computation dispatches on."""
        return cls(table, dataset, task, method, steps, metric, MappingProxyType(settings))

    @cached_property
    def key(self) -> str:
        """A hash of the cell's canonical settings: equal for two cells that compute one number."""
        return digest([self.table, self.dataset, self.task, self.method, self.steps,
                       self.metric, canonical(dict(self.settings))])

    def __eq__(self, other) -> bool:
        return isinstance(other, Cell) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def param(self, name: str):
        """A parameter the computation dispatches on (``params`` of :meth:`make`: the method's
        registry name, a number of classes, a schedule), as it was given -- never the display label."""
        return self.settings["params"][name]

    def label(self) -> str:
        steps = "" if self.steps is None else f" @ {self.steps} steps"
        return f"table {self.table}: {self.dataset} {self.method} {self.metric}{steps}"


@dataclass(frozen=True)
class RunOptions:
    """The options of one run (:func:`benchmarks.options.options_from`), fixed once parsed: a variant
    of them (another seed, a dry run's ledger) is a ``dataclasses.replace``."""

    profile: str = "cpu"
    seed: int = 0
    """The seed of the cells being computed (one of ``seeds``)."""
    seeds: tuple[int, ...] = (0,)
    """Every seed of the run: each table is computed once per seed and rendered as mean +- sd."""
    steps: tuple[int, ...] | None = None
    train_steps: int | None = None
    """Every network's training steps when not the profile's budget (``--train-steps``)."""
    checkpoint_every: int | None = None
    """Save every training's state this often (``--checkpoint-every``), so that an interrupted run
    resumes it; bookkeeping: neither a network's identity nor a cell depends on it."""
    solver: str = "euler"
    device: str = "cpu"
    out: Path = Path("results/cpu")
    force: bool = False
    progress: bool = True
    dry_run: bool = False
    render_only: bool = False
    """Render the tables from the stored cells and compute nothing (``--render-only``)."""
    write_report: bool = True
    """Write each table's report and the results page after computing its cells (``--no-report``: only
    store the cells, which a later ``--render-only`` reports)."""
    report_to: str | None = None
    """A tracker every training of the run logs to (``--report-to``; :mod:`symmflow.tracking`)."""
    data_root: Path = Path("data")
    """Where data sets that are not bundled are looked for (MNIST/raw, cifar-10-batches-py,
    CelebAMask-HQ/, COCO-Stuff/)."""
    pretrained: Path | None = None
    vae: Path | None = None
    """A VAE folder for the latent models instead of the Stable Diffusion folder's own (``--vae``)."""
    cache_latents: bool = False
    """Latent training draws each image's latent from its stored posterior (``--cache-latents``,
    :mod:`symmflow.latent_cache`) instead of encoding it anew every step."""
    inception_dir: Path | None = None
    lpips_dir: Path | None = None
    skip_missing_metrics: bool = False
    """The paper profile stores a cell whose metric's weights or extra are missing as skipped with
    the reason (``--skip-missing-metrics``) instead of refusing the run (:mod:`benchmarks.requirements`)."""
    judges: dict = field(default_factory=dict)
    """Supplied judges of generated images, kind -> TorchScript file (:mod:`benchmarks.judges`)."""
    weights: dict = field(default_factory=dict)
    """Supplied weights of the data set at hand, method key -> file (:func:`benchmarks.released.scoped`)."""
    released: dict = field(default_factory=dict)
    """Every supplied weights file of the run, (method key, data set) -> file: evaluated instead of
    training on that data set's cells (``--weights``, :mod:`benchmarks.released`)."""
    datasets: tuple[str, ...] | None = None
    """The data sets whose cells the run computes (``--datasets``; None: every one of the tables)."""
    methods: tuple[str, ...] | None = None
    """The method keys whose cells the run computes (``--methods``; None: every one)."""
    ledger: Ledger | None = None
    """Set by a dry run: every network is a timed stand-in charged to it, nothing is trained or
    stored (:mod:`benchmarks.cost`)."""
    shard: Shard = Shard()
    """This process among the run's processes (``accelerate launch``): it trains and evaluates
    its shard; only the main process stores cells."""
    batch_size_per_device: int | None = None
    """The most samples a device takes per micro-batch (``--batch-size-per-device``): the profile's
    global batch is then reached by gradient accumulation."""
    gradient_accumulation_steps: int | None = None
    """Micro-batches per optimiser step (``--gradient-accumulation-steps``; None: one, or what
    :attr:`batch_size_per_device` needs)."""
    eval_precision: str = "fp32"
    """The precision of the evaluation phase's network evaluations (``--eval-precision``: fp32, or
    bf16 autocast with fp32 weights, :func:`symmflow.device.evaluation_precision`); training is the
    same at either."""
    precision: str | None = None
    """``--precision`` as given (fp32, bf16, auto; None: each table's profile's training precision).
    The precision is part of each table's settings (:mod:`benchmarks.precision`), hence of every
    network's and cell's identity; this names it in the rendered tables."""
    train_deviations: dict = field(default_factory=dict)
    """Table name -> (its profile's training precision, the run's) where the two differ."""
    threads: int | None = None
    """CPU threads the run's work takes (``--threads``, else one where every chosen table runs best
    on one, :func:`benchmarks.options.thread_choice`; None: torch's own), set by :meth:`set_threads`
    when the work starts, never while the options are parsed."""

    LATER_FIELDS: ClassVar[dict] = {"eval_precision": "fp32"}
    """Options added after cells were stored, at the value that computes those cells: each enters a
    cell's settings (:meth:`later_settings`) only at another value (as :func:`settings_identity`)."""

    def later_settings(self) -> dict:
        """The options of :attr:`LATER_FIELDS` every cell's settings hold, each only where it is not
        at its listed value: a cell at fp32 keeps the key it was stored under, one at bf16 has a key
        of its own, so cells of the two precisions never mix in a table."""
        return {name: getattr(self, name) for name, old in self.LATER_FIELDS.items() if getattr(self, name) != old}

    def batch_plan(self, global_batch: int, what: str = ""):
        """How this launch splits a network's ``global_batch`` (:func:`symmflow.batching.plan`)."""
        from symmflow.batching import plan

        return plan(global_batch, self.shard.count, self.batch_size_per_device, self.gradient_accumulation_steps,
                    what)

    @cached_property
    def store(self):
        """The run's :class:`~benchmarks.store.CellStore` of :attr:`out`, one for these options: the
        checks before the work, the work and the report share what it read, so each stored cell's file
        is read once (a variant made by ``dataclasses.replace`` has a store of its own)."""
        from benchmarks.store import CellStore

        return CellStore(self.out)

    def set_threads(self) -> None:
        """torch's intra-op threads set to :attr:`threads` (None: left as they are): the first step of the
        work these options run (:func:`benchmarks.run.main`, which gives the earlier count back at its end)."""
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)


#: Called by a table as soon as a cell is finished: ``(cell, measurement dict)``.
CellSink = Callable[[Cell, dict], None]


@dataclass(frozen=True)
class PlotSpec:
    """How render draws a table: each of ``metrics`` against steps, one line per ``group``.

    ``relative`` maps a reproduced metric to the published metric whose curves (on the paper's
    data sets, which a profile may not run) are drawn beside it in a second row of panels, every
    curve divided by its own 1-step value, so that their shapes compare across data sets."""

    metrics: tuple[str, ...]
    group: tuple[str, ...] = ("dataset", "method")
    relative: dict = field(default_factory=dict)
