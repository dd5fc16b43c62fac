"""The cases of the performance suite (``python -m studies.perf``): each returns its rows."""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from benchmarks.timing import Ratio, Timing, interleaved, paired_ratio, synchronizer, wall_seconds
from symmflow.solver import NFECounter, integrate


TARGETS = {"limit": 1.05, "flow_matching": 1.0, "torchcfm": 1.15, "nfe_ratio": 0.9, "class_growth": 0.10,
           "bare_step": 1.15}
"""Issue targets: sampler <= 1.05 x the limit and <= 1.0 x flow_matching's ODESolver; a training
step <= 1.15 x torchcfm's; the speed-up over the Diffusion Classifier >= 0.9 x the NFE ratio;
SymmFlow's cost from 10 to 171 classes grows by < 10%; the training loop's step <= 1.15 x a bare
step."""



def missing(module: str) -> str | None:
    """Why peer ``module`` cannot be measured here (None: it can)."""
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed; install the perf extra (it needs torch==2.14.1)"
    return None


def timing_columns(timed: dict[str, Timing]) -> dict:
    """Median, interquartile range and peak memory added of each contender, as row columns."""
    return {**{f"{name}_s": t.median_s for name, t in timed.items()},
            **{f"{name}_iqr_s": t.iqr_s for name, t in timed.items()},
            **{f"{name}_peak_mib": t.peak_mib for name, t in timed.items()}}


def ratio_columns(name: str, ratio: Ratio, target: float) -> dict:
    """``ratio_to_<name>`` (the median), its interval and the verdict against ``target``."""
    return {f"ratio_to_{name}": ratio.median, f"ratio_to_{name}_low": ratio.low,
            f"ratio_to_{name}_high": ratio.high, f"verdict_{name}": ratio.verdict(target)}


# ---------------------------------------------------------------- sampling


class _JointState(nn.Module):
    """flow_matching's ``ModelWrapper`` interface over the joint state [x, y] flattened into one
    tensor: ``forward(x=state, t=t)`` -> its velocity, through the same (counted) network."""

    def __init__(self, velocity, x_shape: tuple[int, ...], y_shape: tuple[int, ...]):
        super().__init__()
        self.velocity, self.x_shape, self.y_shape = velocity, x_shape, y_shape
        self.split = int(torch.tensor(x_shape[1:]).prod())

    def forward(self, x: torch.Tensor, t: torch.Tensor, **extras) -> torch.Tensor:
        n = x.shape[0]
        vx, vy = self.velocity(x[:, :self.split].reshape(self.x_shape), x[:, self.split:].reshape(self.y_shape),
                               t.reshape(1).expand(n))
        return torch.cat([vx.reshape(n, -1), vy.reshape(n, -1)], 1)


def sampling_cases(device: str = "cpu"):
    from symmflow.models.mlp import ToyMLP
    from symmflow.models.pixel_unet import ConcatVelocity, UNetConfig, pixel_unet

    torch.manual_seed(0)
    yield ("toy MLP, 10,000 points", ToyMLP().eval().to(device), torch.randn(10_000, 2, device=device),
           torch.randn(10_000, 1, device=device))
    unet = pixel_unet(UNetConfig(base_channels=16, multipliers=(1, 2), layers_per_block=1, norm_groups=8), 2, 2, 32)
    yield ("pixel U-Net (base 16), 8 images 32x32", ConcatVelocity(unet.eval().to(device), x_channels=1),
           torch.randn(8, 1, 32, 32, device=device), torch.randn(8, 1, 32, 32, device=device))


@torch.no_grad()
def sampling(rounds: int, warmup: int, steps=(1, 10, 50), solvers=("euler", "midpoint"),
             device: str = "cpu") -> list[dict]:
    why = missing("flow_matching")
    rows = []
    for network, velocity, x, y in sampling_cases(device):
        t = torch.ones(x.shape[0], device=device)
        for scheme in solvers:
            for k in steps:
                ours = NFECounter(velocity)
                integrate(ours, x, y, direction="infer", steps=k, solver=scheme)
                nfe = ours.calls

                def limit():
                    for _ in range(nfe):
                        velocity(x, y, t)

                contenders = {"symmflow": lambda: integrate(velocity, x, y, direction="infer", steps=k, solver=scheme),
                              "limit": limit}
                if why is None:
                    from flow_matching.solver import ODESolver

                    joint = torch.cat([x.reshape(len(x), -1), y.reshape(len(y), -1)], 1)
                    peer = NFECounter(velocity)
                    solver = ODESolver(velocity_model=_JointState(peer, tuple(x.shape), tuple(y.shape)))
                    grid = torch.tensor([1.0, 0.0], device=device)
                    solver.sample(x_init=joint, step_size=1 / k, method=scheme, time_grid=grid)
                    if peer.calls != nfe:
                        raise RuntimeError(f"flow_matching took {peer.calls} NFE where SymmFlow took {nfe}")
                    contenders["flow_matching"] = lambda: solver.sample(x_init=joint, step_size=1 / k, method=scheme,
                                                                        time_grid=grid)
                timed = interleaved(contenders, rounds, warmup, device)
                row = {"case": "sampling", "network": network, "method": scheme, "steps": k, "nfe": nfe,
                       **timing_columns(timed),
                       **ratio_columns("limit", paired_ratio(timed["symmflow"].seconds, timed["limit"].seconds),
                                       TARGETS["limit"])}
                if why is None:
                    row.update(ratio_columns("flow_matching", paired_ratio(timed["symmflow"].seconds,
                                                                           timed["flow_matching"].seconds),
                                             TARGETS["flow_matching"]))
                row["skipped"] = why or ""
                rows.append(row)
    return rows


# ---------------------------------------------------------------- training step


def training_step(rounds: int, warmup: int, batch: int = 64, switches: bool = False,
                  device: str = "cpu") -> tuple[list[dict], dict[str, str]]:
    """SymmFlow's step against torchcfm's on the same U-Net layout; rows and each step's profile.
    With ``switches``, also SymmFlow's step with channels-last weights and compiled by
    ``torch.compile`` (:class:`~symmflow.train.TrainConfig`'s speed switches), with the compile time."""
    from benchmarks.methods import Problem
    from benchmarks.methods.symmflow import SymmFlowMethod
    from symmflow.method import AUTHORS
    from symmflow.models.pixel_unet import UNetConfig, pixel_unet

    unet = UNetConfig(base_channels=16, multipliers=(1, 2, 2), layers_per_block=1, head_channels=32, norm_groups=8)
    torch.manual_seed(0)
    images = (torch.rand(batch, 1, 32, 32) * 2 - 1).to(device)
    labels = torch.randint(0, 10, (batch,)).to(device)
    symmflow = SymmFlowMethod(Problem("mnist", 1, 32, 10, unet), AUTHORS)
    ours = symmflow.build().train().to(device)
    theirs = pixel_unet(unet, 1, 1, 32).train().to(device)

    def symmflow_loss(model):
        return symmflow.loss(model, (images, labels)).total

    steps = {"symmflow": _step(ours, symmflow_loss)}
    why = missing("torchcfm")
    if why is None:
        from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

        matcher = ConditionalFlowMatcher(sigma=0.0)

        def cfm_loss(model):
            t, xt, ut = matcher.sample_location_and_conditional_flow(torch.randn_like(images), images)
            return ((model(xt, t).sample - ut) ** 2).mean()

        steps["torchcfm"] = _step(theirs, cfm_loss)
    compile_s = None
    if switches:
        laid_out = symmflow.build().train().to(device, memory_format=torch.channels_last)
        steps["channels_last"] = _step(laid_out, symmflow_loss)
        steps["compiled"] = _step(torch.compile(symmflow.build().train().to(device)), symmflow_loss)
        compile_s = wall_seconds(steps["compiled"], synchronizer(device))  # compiles forward and backward graphs
    timed = interleaved(steps, rounds, warmup, device)
    row = {"case": "training step", "network": f"pixel U-Net (base 16), batch {batch} of 32x32",
           "method": "AdamW", "steps": 1, "nfe": 1, **timing_columns(timed),
           "parameters_symmflow": sum(p.numel() for p in ours.parameters()),
           "parameters_torchcfm": sum(p.numel() for p in theirs.parameters()),
           "compile_s": compile_s, "skipped": why or ""}
    if why is None:
        row.update(ratio_columns("torchcfm", paired_ratio(timed["symmflow"].seconds, timed["torchcfm"].seconds),
                                 TARGETS["torchcfm"]))
    for switch in ("channels_last", "compiled") if switches else ():
        row.update(ratio_columns(f"eager_{switch}", paired_ratio(timed[switch].seconds, timed["symmflow"].seconds),
                                 1.0))
    profiles = {name: _profile(steps[name], device) for name in ("symmflow", "torchcfm") if name in steps}
    return [row], profiles


def training_loop(repeats: int = 3, short: int = 10, long: int = 40, batch: int = 64,
                  device: str = "cpu") -> list[dict]:
    """What the training loop adds to a step: :func:`symmflow.train.fit` (accelerate, the data
    stream, one-cycle schedule, EMA, loss logging) on the cpu profile's classifier, its marginal
    seconds per step -- (time of ``long`` steps - time of ``short`` steps) / (long - short), so
    its start-up does not count -- against the bare step (forward, backward, AdamW) on one batch."""
    from benchmarks.methods import Problem
    from benchmarks.methods.symmflow import SymmFlowMethod
    from benchmarks.profiles import CPU_SYMMFLOW, CPU_UNET
    from symmflow.data.streams import draw_batches
    from symmflow.train import TrainConfig, fit

    torch.manual_seed(0)
    images, labels = torch.rand(2_000, 1, 32, 32) * 2 - 1, torch.randint(0, 10, (2_000,))
    method = SymmFlowMethod(Problem("mnist", 1, 32, 10, CPU_UNET), CPU_SYMMFLOW)
    synchronize = synchronizer(device)

    def fit_for(steps: int) -> float:
        config = TrainConfig(steps=steps, lr=1e-3, batch_size=batch, schedule="onecycle", warmup_steps=steps // 10,
                             ema_decay=0.999, log_every=5)
        batches = draw_batches(images, labels, batch_size=batch, seed=0)
        return wall_seconds(lambda: fit(method.build(), method.loss, batches, config, device=device, progress=False),
                            synchronize)

    one_batch = (images[:batch].to(device), labels[:batch].to(device))
    step = _step(method.build().train().to(device), lambda m: method.loss(m, one_batch).total)
    marginal, bare = [], []
    for _ in range(repeats):  # interleaved: a slow spell hits both
        marginal.append((fit_for(long) - fit_for(short)) / (long - short))
        bare.append(interleaved({"bare": step}, rounds=long - short, warmup=2, device=device)["bare"].median_s)
    fit_s, bare_s = statistics.median(marginal), statistics.median(bare)
    return [{"case": "training loop", "network": f"cpu-profile classifier (base 16), batch {batch} of 32x32",
             "method": "fit", "steps": long - short, "fit_step_s": fit_s, "bare_step_s": bare_s,
             **ratio_columns("bare_step", paired_ratio(marginal, bare), TARGETS["bare_step"]),
             "ratio_to_bare_step": fit_s / bare_s, "skipped": ""}]


def _step(model: nn.Module, loss: Callable[[nn.Module], torch.Tensor]) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss(model).backward()
        optimizer.step()

    return step


def _profile(step: Callable[[], None], device: str = "cpu", repeats: int = 5, rows: int = 8) -> str:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    step()
    with profile(activities=activities) as prof:
        for _ in range(repeats):
            step()
        synchronizer(device)()
    sort = "self_device_time_total" if device.startswith("cuda") else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=rows)


# ---------------------------------------------------------------- classification against the Diffusion Classifier


@torch.no_grad()
def classification(rounds: int = 3, warmup: int = 1, images: int = 64, dc_images: int = 2,
                   device: str = "cpu") -> list[dict]:
    """Per-image time and counted NFE of SymmFlow (1, 25 steps; a batch of ``images``) and the
    Diffusion Classifier (published and reduced schedules; ``dc_images``, which it already
    evaluates in batches of 500 rows), each on the cpu profile's U-Net layout.  Three rounds:
    one pass of the published schedule costs seconds per image on a CPU."""
    from baselines.diffusion_classifier import PUBLISHED, Schedule
    from benchmarks.methods import METHODS, Problem
    from benchmarks.profiles import CPU_UNET
    from symmflow.method import AUTHORS

    torch.manual_seed(0)
    batch = (torch.rand(images, 1, 32, 32) * 2 - 1).to(device)
    few = batch[:dc_images]
    problem = Problem("mnist", 1, 32, 10, CPU_UNET)
    symmflow, dc = METHODS["symmflow"](problem, AUTHORS), METHODS["diffusion-classifier"](problem)
    networks = {"symmflow": NFECounter(symmflow.build().eval().to(device)),
                "dc": NFECounter(dc.build().eval().to(device))}
    generator = torch.Generator().manual_seed(0)
    contenders = {
        "SymmFlow, 1 step": ("symmflow", lambda: symmflow.classify(networks["symmflow"], batch, 1, "euler", generator)),
        "SymmFlow, 25 steps": ("symmflow", lambda: symmflow.classify(networks["symmflow"], batch, 25, "euler",
                                                                      generator)),
        f"Diffusion Classifier, {PUBLISHED.label()}": ("dc", lambda: dc.classify(networks["dc"], few, PUBLISHED,
                                                                                  "euler", generator)),
    }
    reduced = Schedule((10, 50), (3, 1))
    contenders[f"Diffusion Classifier, {reduced.label()}"] = (
        "dc", lambda: dc.classify(networks["dc"], few, reduced, "euler", generator))
    count = {name: images if network == "symmflow" else dc_images for name, (network, _) in contenders.items()}
    nfe = {}
    for name, (network, fn) in contenders.items():  # one untimed pass each, to count its NFE
        networks[network].reset()
        fn()
        nfe[name] = networks[network].evaluations / count[name]
    timed = interleaved({name: fn for name, (_, fn) in contenders.items()}, rounds, warmup, device)
    return [{"case": "classification", "network": "cpu-profile U-Net (base 16), 32x32", "method": name,
             "images": count[name], "nfe": nfe[name], "per_image_s": timed[name].median_s / count[name],
             "per_image_iqr_s": timed[name].iqr_s / count[name], "peak_mib": timed[name].peak_mib,
             "skipped": ""} for name in contenders]


# ---------------------------------------------------------------- class count

CLASS_COUNTS = (10, 19, 100, 171)
"""MNIST / CIFAR-10, CelebAMask-HQ, CIFAR-100, COCO-Stuff."""
DC_REDUCED = {"times": [10], "keep": [1]}
"""The Diffusion Classifier's schedule here: 10 times per class (its NFE is 10 x classes; the
published 50 / 500 schedule costs 2,750 NFE at 10 classes and grows the same way)."""
CLASS_TASKS = {"classification": "SymmFlow classification, 1 step",
               "segmentation": "SymmFlow segmentation (palette), 1 step",
               "diffusion-classifier": "Diffusion Classifier, 10 times per class"}


def class_count(images: int = 2, counts=CLASS_COUNTS, rounds: int = 15, dc_rounds: int = 3,
                device: str = "cpu") -> list[dict]:
    """Per-image time, counted NFE and peak memory added of each task at each class count, and
    each task's growth from the fewest to the most classes with its bootstrap interval.  The
    times come from this process, the class counts of a task interleaved round by round (a
    per-round ratio, as everywhere here); the memory and the NFE from one fresh process per point
    (:mod:`benchmarks.footprint`), so that one point's allocator caches stay out of the next's."""
    import json
    import subprocess
    from dataclasses import asdict

    from benchmarks.footprint import Workload
    from benchmarks.profiles import CPU_UNET
    from symmflow.method import AUTHORS

    rows = []
    for task, method in CLASS_TASKS.items():
        dc = task == "diffusion-classifier"
        specs = {classes: {"task": task, "unet": asdict(CPU_UNET), "symmflow": asdict(AUTHORS), "channels": 3,
                           "size": 32, "classes": classes, "images": images if dc else 64, "batch": 64,
                           "schedule": DC_REDUCED, "repeats": 0, "memory_repeats": 2 if dc else 5, "device": device}
                 for classes in counts}
        footprints = {}
        for classes, spec in specs.items():
            done = subprocess.run([sys.executable, "-m", "benchmarks.footprint", json.dumps(spec)],
                                  capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
            footprints[classes] = json.loads(done.stdout.strip().splitlines()[-1])
        workloads = {classes: Workload(spec) for classes, spec in specs.items()}
        timed = interleaved({classes: work.run for classes, work in workloads.items()},
                            rounds=dc_rounds if dc else rounds, warmup=1, device=device)
        for classes, spec in specs.items():
            rows.append({"case": "class count", "network": "cpu-profile U-Net (base 16), 32x32 RGB", "method": method,
                         "classes": classes, "nfe": footprints[classes]["nfe_per_sample"],
                         "per_image_s": timed[classes].median_s / spec["images"],
                         "per_image_iqr_s": timed[classes].iqr_s / spec["images"],
                         "peak_mib": footprints[classes]["peak_mib"], "skipped": ""})
        growth = paired_ratio(timed[counts[-1]].seconds, timed[counts[0]].seconds)
        rows[-1].update({"growth_median": growth.median, "growth_low": growth.low, "growth_high": growth.high})
        if not dc:
            rows[-1]["verdict_growth"] = growth.verdict(1 + TARGETS["class_growth"])
    return rows


