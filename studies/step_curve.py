"""Why recognition falls with more Euler steps, put to a test: ``python -m studies.step_curve``.

The account under test (docs/step-curve.md): one Euler step from t = 1 reads the model's
posterior mean E[y | image], whose largest entry is the most probable class, while many steps
carry the label noise to a *sample* of the posterior p(y | image) -- right with probability
p(true class | image).  It predicts two things that can be measured on the trained networks of
the tables (from the model cache; trained there when missing):

1. the accuracy of many steps equals the expected accuracy of a posterior sample,
   E[p(true | x)], with p read from the one-step output by the label code's map
   (:meth:`~symmflow.codecs.VectorClassCodec.posterior`: p_c = (y_c / s + 1) / 2, clipped to
   [0, 1] and normalised; the toy: p_B = (y + 1) / 2);
2. repeated label-noise draws through 25 Euler steps land on each class as often as p says:
   the total-variation distance between an image's class frequencies over ``draws`` draws and
   p(. | image) is as small as that of ``draws`` samples drawn from p itself (the floor), far
   below that of another image's p (the permutation baseline).

Beside them: the calibration error of p (15 bins of its largest entry), the accuracy of one
Euler step, of 25, of the exact ODE (dopri5 at 1e-5) and of 25 steps with the image held at the
data (only the label integrated), which separates what moving the image costs.  For Table 11's
classifier (every seed asked for), Table 5's segmenter (per pixel; pixel accuracy and mIoU over
the digit classes, and the mIoU a posterior sample is expected to reach) and Table 1's toy.
Writes ``step-curve.{json,md,png}`` in ``--out``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from benchmarks.cells import RunOptions
from benchmarks.evaluation import test_subset
from benchmarks.experiments.classification import SYMMFLOW, ClassificationExperiment
from benchmarks.experiments.segsynth import SegSynthExperiment
from benchmarks.experiments.toy import train_toy
from benchmarks.profiles import CLASSIFICATION, SEGSYNTH, TOY
from benchmarks.provenance import provenance
from studies.records import add_profile_and_out, results_folder
from symmflow.outputs import write_atomic
from symmflow.codecs import ToyScalarCodec
from symmflow.data.spiral import TwoSpirals
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.shell import CommandShell
from symmflow.tasks import predict

STEPS = 25
DRAWS = 10
SUBSET = 200
BINS = 15


@dataclass
class Model:
    """A trained network and what its labels look like, ready to be integrated."""

    name: str
    velocity: torch.nn.Module
    codec: object
    label_shape: tuple[int, ...]
    images: Tensor
    labels: Tensor
    """Class ids (N,) or class maps (N, H, W)."""
    batch: int
    ignore: int | None = None
    """A class left out of the per-pixel scores (the scene set's background)."""


def _final_label(model: Model, images: Tensor, steps: int, solver: str, generator: torch.Generator,
                 hold_image: bool = False) -> Tensor:
    """The label state at t = 0 after ``steps`` of ``solver`` from [image, noise] at t = 1; with
    ``hold_image`` only the label is integrated, the image kept at the data (Euler)."""
    if not hold_image:
        return predict(model.velocity, images, model.codec, model.label_shape, steps=steps, solver=solver,
                       generator=generator, return_state=True)[1]
    y = torch.randn((len(images), *model.label_shape), generator=generator)
    grid = [1 - i / steps for i in range(steps + 1)]
    with torch.no_grad():
        for t, t_next in zip(grid, grid[1:]):
            _, vy = model.velocity(images, y, images.new_full((len(images),), t))
            y = y + (t_next - t) * vy
    return y


def _over(model: Model, fn, images: Tensor | None = None) -> Tensor:
    images = model.images if images is None else images
    return torch.cat([fn(part) for part in images.split(model.batch)])


def _pixels(model: Model, values: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """(class axis last, flattened) values and labels, without the ignored class's pixels."""
    if values.dim() > 2:  # (N, C, H, W) -> (N*H*W, C)
        values = values.movedim(1, -1).reshape(-1, values.shape[1])
        labels = labels.reshape(-1)
    keep = labels != model.ignore if model.ignore is not None else torch.ones_like(labels, dtype=torch.bool)
    return values[keep], labels[keep]


def _accuracy(model: Model, y: Tensor) -> float:
    decided, truth = _pixels(model, model.codec.posterior(y), model.labels)
    return 100.0 * (decided.argmax(1) == truth).float().mean().item()


def _miou(model: Model, confusion: Tensor) -> float:
    """Mean IoU (%) over the classes other than the ignored one that occur, from a confusion matrix."""
    classes = [c for c in range(len(confusion)) if c != model.ignore and confusion[c].sum() + confusion[:, c].sum() > 0]
    iou = [confusion[c, c] / (confusion[c].sum() + confusion[:, c].sum() - confusion[c, c]) for c in classes]
    return 100.0 * float(torch.stack(iou).mean())


def _confusion(model: Model, p: Tensor, one_hot_prediction: bool) -> Tensor:
    probs, truth = _pixels(model, p, model.labels)
    if one_hot_prediction:
        probs = torch.nn.functional.one_hot(probs.argmax(1), probs.shape[1]).float()
    confusion = torch.zeros(probs.shape[1], probs.shape[1])
    return confusion.index_add_(0, truth, probs)


def calibration_error(p: Tensor, truth: Tensor) -> float:
    """Expected calibration error (%) of the largest entry of ``p`` over :data:`BINS` equal bins."""
    from torchmetrics.functional.classification import multiclass_calibration_error

    return 100.0 * multiclass_calibration_error(p, truth, num_classes=p.shape[1], n_bins=BINS, norm="l1").item()


def total_variation(a: Tensor, b: Tensor) -> Tensor:
    return 0.5 * (a - b).abs().sum(-1)


def test(model: Model, seed: int) -> dict:
    """The measurements of the module docstring on one trained network."""
    g = lambda offset: torch.Generator().manual_seed(seed * 1_000 + offset)  # noqa: E731
    one = g(1)
    y1 = _over(model, lambda x: _final_label(model, x, 1, "euler", one))
    p = model.codec.posterior(y1)
    probs, truth = _pixels(model, p, model.labels)
    many, exact, held = g(2), g(3), g(4)
    y25 = _over(model, lambda x: _final_label(model, x, STEPS, "euler", many))
    y_ode = _over(model, lambda x: _final_label(model, x, STEPS, "dopri5", exact))
    y_held = _over(model, lambda x: _final_label(model, x, STEPS, "euler", held, hold_image=True))
    out = {"model": model.name, "seed": seed, "images": len(model.images),
           "expected_accuracy_of_a_sample": 100.0 * probs.gather(1, truth[:, None]).mean().item(),
           "calibration_error": calibration_error(probs, truth),
           "accuracy_1": _accuracy(model, y1), f"accuracy_{STEPS}": _accuracy(model, y25),
           "accuracy_dopri5": _accuracy(model, y_ode), f"accuracy_{STEPS}_image_held": _accuracy(model, y_held)}
    if model.labels.dim() > 1:  # per pixel: the mIoU too, and the one a posterior sample is expected to reach
        out["miou_1"] = _miou(model, _confusion(model, p, True))
        out[f"miou_{STEPS}"] = _miou(model, _confusion(model, model.codec.posterior(y25), True))
        out["expected_miou_of_a_sample"] = _miou(model, _confusion(model, p, False))
    # repeated draws on a fixed subset: class frequencies against p
    index = (test_subset(model.labels, SUBSET) if model.labels.dim() == 1
             else torch.arange(min(SUBSET, len(model.labels))))
    subset = Model(**{**model.__dict__, "images": model.images[index], "labels": model.labels[index]})
    draws = g(5)
    counts = torch.zeros_like(_pixels(subset, p[index], subset.labels)[0])
    for _ in range(DRAWS):
        y = _over(subset, lambda x: _final_label(subset, x, STEPS, "euler", draws))
        chosen, _ = _pixels(subset, model.codec.posterior(y), subset.labels)
        counts += torch.nn.functional.one_hot(chosen.argmax(1), counts.shape[1]).float()
    frequencies = counts / DRAWS
    p_subset, _ = _pixels(subset, p[index], subset.labels)
    floor_counts = torch.zeros_like(p_subset)
    sampler = g(6)
    for _ in range(DRAWS):
        floor_counts += torch.nn.functional.one_hot(torch.multinomial(p_subset, 1, generator=sampler)[:, 0],
                                                    p_subset.shape[1]).float()
    shuffled = p_subset[torch.randperm(len(p_subset), generator=g(7))]
    out.update({"subset": len(index), "draws": DRAWS,
                "tv_frequencies_to_p": total_variation(frequencies, p_subset).mean().item(),
                "tv_floor": total_variation(floor_counts / DRAWS, p_subset).mean().item(),
                "tv_permuted": total_variation(frequencies, shuffled).mean().item()})
    fall = out["accuracy_1"] - out[f"accuracy_{STEPS}"]
    out["share_of_the_fall_a_sample_explains"] = ((out["accuracy_1"] - out["expected_accuracy_of_a_sample"]) / fall
                                                  if abs(fall) > 1e-9 else None)
    out["reliability"] = _reliability(probs, truth, frequencies, p_subset)
    return out


def _reliability(probs: Tensor, truth: Tensor, frequencies: Tensor, p_subset: Tensor) -> dict:
    """Binned curves for the plot: accuracy against confidence (the largest entry of p), and the
    frequency with which draws chose a class against that class's p."""
    edges = torch.linspace(0, 1, BINS + 1)

    def binned(x: Tensor, y: Tensor) -> list[list[float]]:
        which = torch.bucketize(x.clamp(0, 1 - 1e-9), edges[1:])
        return [[float(x[which == b].mean()), float(y[which == b].mean()), int((which == b).sum())]
                for b in range(BINS) if (which == b).any()]

    confidence, decided = probs.max(1)
    return {"accuracy_against_confidence": binned(confidence, (decided == truth).float()),
            "frequency_against_p": binned(p_subset.reshape(-1), frequencies.reshape(-1))}


# ---------------------------------------------------------------- the tables' networks


def classifier(profile: str, seed: int, out: Path, progress: bool) -> Model:
    exp = ClassificationExperiment(CLASSIFICATION[profile][0], RunOptions(profile=profile, seed=seed, out=out,
                                                                         progress=progress))
    method = exp.method(SYMMFLOW)
    images, labels = exp.test_split()
    return Model("Table 11 classifier (bundled MNIST)", exp.trained(SYMMFLOW).model, method.codec,
                 method.label_shape, images, labels, exp.s.eval_batch)


def segmenter(profile: str, seed: int, out: Path, progress: bool) -> Model:
    exp = SegSynthExperiment("scenes", SEGSYNTH[profile], RunOptions(profile=profile, seed=seed, out=out,
                                                                      progress=progress))
    method = exp.method("symmflow")
    return Model("Table 5 segmenter (scene set, per pixel)", exp.trained("symmflow").model, method.codec,
                 method.label_shape, exp.data.test_images, exp.data.test_masks, exp.settings.eval_batch,
                 ignore=exp.data.ignore_index)


def toy(profile: str, seed: int, out: Path, progress: bool) -> Model:
    settings = TOY[profile]
    trained = train_toy(settings, seed, out, progress=progress)
    points, labels = TwoSpirals(settings.points_per_spiral, settings.noise).sample(
        settings.eval_points, torch.Generator().manual_seed(seed + 1_000_003))
    return Model("Table 1 toy", trained.model, ToyScalarCodec(), (1,), points, labels, settings.eval_points)


# ---------------------------------------------------------------- records


def markdown(record: dict) -> str:
    lines = ["# The step curve's explanation, tested", "",
             "From each network's one-step output, the class posterior p its label code implies (p_c = (y_c / s + 1) "
             "/ 2 clipped and normalised; the toy p_B = (y + 1) / 2). If many Euler steps draw a sample of p, their "
             "accuracy is E[p(true | x)] and the class frequencies of repeated draws match p (total-variation "
             "distance at the floor of that many samples of p, far below the permuted baseline). "
             f"Rendered by `python -m studies.step_curve` (studies/step_curve.py); the commit of each row in its "
             f"last column; {record['provenance']['device']}.", "",
             f"| network | seed | accuracy, 1 step | E[p(true)] | accuracy, {STEPS} steps | exact ODE (dopri5) | "
             f"{STEPS} steps, image held | share of the 1 -> {STEPS} fall a sample explains | calibration error "
             f"| TV(frequencies, p) | floor | permuted | commit |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in record["results"]:
        share = r["share_of_the_fall_a_sample_explains"]
        lines.append(f"| {r['model']} | {r['seed']} | {r['accuracy_1']:.2f} | "
                     f"{r['expected_accuracy_of_a_sample']:.2f} | {r[f'accuracy_{STEPS}']:.2f} | "
                     f"{r['accuracy_dopri5']:.2f} | {r[f'accuracy_{STEPS}_image_held']:.2f} | "
                     f"{'' if share is None else f'{100 * share:.0f}%'} | {r['calibration_error']:.2f} | "
                     f"{r['tv_frequencies_to_p']:.3f} | {r['tv_floor']:.3f} | {r['tv_permuted']:.3f} | "
                     f"{r.get('commit', record['provenance']['git_commit'])} |")
    per_pixel = [r for r in record["results"] if "miou_1" in r]
    if per_pixel:
        lines += ["", "Per pixel (scene set, digit classes; the background is left out as the tables' mIoU leaves it):",
                  "", f"| network | seed | mIoU, 1 step | expected mIoU of a sample | mIoU, {STEPS} steps |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['seed']} | {r['miou_1']:.2f} | {r['expected_miou_of_a_sample']:.2f} | "
                  f"{r[f'miou_{STEPS}']:.2f} |" for r in per_pixel]
    lines += ["", "Accuracies in %: of images (classifier, toy) or of digit pixels (scene set). The TV columns are "
              f"means over {SUBSET} images (every digit pixel of them for the scene set) of {DRAWS} draws each.", "",
              "![reliability](step-curve.png)", ""]
    return "\n".join(lines)


def plot(record: dict) -> bytes:
    from matplotlib.figure import Figure

    from benchmarks.render.figures import png_bytes

    results = record["results"]
    fig = Figure(figsize=(9.5, 4.2))
    left, right = fig.subplots(1, 2)
    for i, r in enumerate(results):
        label = f"{r['model']}, seed {r['seed']}"
        x, y, _ = zip(*r["reliability"]["accuracy_against_confidence"])
        left.plot(x, y, "o-", color=f"C{i}", label=label, ms=3)
        x, y, _ = zip(*r["reliability"]["frequency_against_p"])
        right.plot(x, y, "o-", color=f"C{i}", label=label, ms=3)
    for ax, (xlabel, ylabel, title) in zip((left, right), (
            ("confidence: the largest entry of p", "accuracy of one step", "is p calibrated?"),
            ("p(class | image) from one step", f"share of {DRAWS} draws of {STEPS} steps on that class",
             f"do {STEPS} steps sample p?"))):
        ax.plot([0, 1], [0, 1], "k:", lw=1)
        ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1))
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    right.legend(fontsize=7, loc="upper center", bbox_to_anchor=(-0.1, -0.16), frameon=False, ncol=2)
    return png_bytes(fig)


BUILDERS = {"classifier": classifier, "segmenter": segmenter, "toy": toy}


def kept_results(path: Path, profile: str, fresh: list[dict]) -> list[dict]:
    """The results of an earlier run in the same folder for the networks and seeds not run now (a
    record that is damaged or of another profile or protocol keeps nothing)."""
    try:
        old = json.loads(path.read_text())
        if (old["profile"], old["steps"], old["draws"], old["subset"]) != (profile, STEPS, DRAWS, SUBSET):
            return []
        run_now = {(r["model"], r["seed"]) for r in fresh}
        return [r for r in old["results"] if (r["model"], r["seed"]) not in run_now]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def main(argv=None) -> int:
    with CommandShell() as shell:
        p = OneLineParser(prog="python -m studies.step_curve", description=first_paragraph(__doc__))
        add_profile_and_out(p, "Whose networks are tested (default: cpu; smoke for the tests).")
        p.add_argument("--seeds", default="0", help="Seeds of the classifier, e.g. 0,1,2 (the others: the first).")
        p.add_argument("--networks", default=",".join(BUILDERS),
                       help=f"Which networks to test, comma-separated (default: all of {', '.join(BUILDERS)}).")
        p.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
        args = p.parse_args(argv)
        networks = [n.strip() for n in args.networks.split(",") if n.strip()]
        unknown = sorted(set(networks) - set(BUILDERS)) or ([] if networks else [repr(args.networks)])
        if unknown:
            raise UsageError(f"--networks: unknown {', '.join(unknown)}; choose from {', '.join(BUILDERS)}")
        try:
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise UsageError(f"--seeds {args.seeds!r} is not a comma-separated list of integers, e.g. 0,1,2") from None
        if not seeds or min(seeds) < 0:
            raise UsageError(f"--seeds {args.seeds!r}: give non-negative integers, e.g. 0,1,2")
    if shell.stopped:
        return shell.status
    out, progress = results_folder(args), not args.no_progress
    run = provenance("cpu")  # the code as the study starts: edits made while it runs are not its own
    results = [test(classifier(args.profile, seed, out, progress), seed)
               for seed in seeds if "classifier" in networks]
    results += [test(build(args.profile, seeds[0], out, progress), seeds[0])
                for name, build in BUILDERS.items() if name != "classifier" and name in networks]
    for r in results:
        r["commit"] = run["git_commit"]
    record = {"results": kept_results(out / "step-curve.json", args.profile, results) + results,
              "provenance": run, "profile": args.profile, "steps": STEPS, "draws": DRAWS, "subset": SUBSET}
    write_atomic(out / "step-curve.json", json.dumps(record, indent=1))
    write_atomic(out / "step-curve.md", markdown(record))
    write_atomic(out / "step-curve.png", plot(record))
    print(markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
