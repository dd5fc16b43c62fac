"""What the front's records say: the claims each design keeps, ``front.md``, ``front.png`` and the
sentences the tables' notes take from it (``front-notes.json``); rendered from every stored
record of ``python -m studies.front``."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean

from benchmarks.cells import digest
from studies.front_designs import CURVES, DESIGNS, GENERATION_STEPS
from symmflow.errors import UsageError
from symmflow.outputs import write_atomic


def record_path(out: Path, dataset: str, name: str, seed: int) -> Path:
    return out / "front" / f"{dataset}-{digest([name, seed])}.json"


def records(out: Path) -> list[dict]:
    """Every stored record of a design that is still in :data:`DESIGNS`, in its order."""
    found = [json.loads(p.read_text()) for p in sorted((out / "front").glob("*.json"))]
    order = {(d, n): i for d in DESIGNS for i, n in enumerate(DESIGNS[d])}
    return sorted((r for r in found if (r["dataset"], r["design"]) in order),
                  key=lambda r: (r["dataset"], order[(r["dataset"], r["design"])], r["seed"]))


# ---------------------------------------------------------------- what a design keeps


REAL_SHARE_TARGET = 0.5
"""The scene set's generation target: judged mIoU of samples >= this share of the real images'."""
SAMPLES_ACCURACY_TARGET, ONE_STEP_ACCURACY_TARGET = 90.0, 97.0
"""The digits' targets: accuracy of samples and SymmFlow's one-step accuracy (%)."""


def kept(record: dict) -> dict[str, bool]:
    """Which of the tables' claims and this study's targets a design keeps on its seed."""
    r, ref, rec = record, record["references"], record["recognition"]
    joint = r.get("fjd") is not None and ref.get("peer fjd") is not None  # not in records made before it was
    if r["dataset"] == "scenes":
        return {"Table 2: mIoU at 25 steps above SemFlow's": rec["25"] > ref["peer recognition at 25 steps"],
                "Table 2: FD-scenenet below SemFlow's": r["fd"] < ref["peer fd"],
                **({"Table 2: FJD below SemFlow's": r["fjd"] < ref["peer fjd"]} if joint else {}),
                "Table 2: mIoU of samples above SemFlow's": r["judged"] > ref["peer judged"],
                f"target: mIoU of samples >= {REAL_SHARE_TARGET} x real images'":
                    r["judged"] >= REAL_SHARE_TARGET * ref["real judged"]}
    return {f"target: accuracy at 1 step >= {ONE_STEP_ACCURACY_TARGET:.0f}%": rec["1"] >= ONE_STEP_ACCURACY_TARGET,
            "Table 3: accuracy at 25 steps >= at 1 step": rec["25"] >= rec["1"],
            "Table 3: FD at most flow matching's": r["fd"] <= ref["peer fd"],
            **({"Table 3: FJD at most flow matching's": r["fjd"] <= ref["peer fjd"]} if joint else {}),
            "Table 3: accuracy of samples at least flow matching's": r["judged"] >= ref["peer judged"],
            f"target: accuracy of samples >= {SAMPLES_ACCURACY_TARGET:.0f}%": r["judged"] >= SAMPLES_ACCURACY_TARGET}


# ---------------------------------------------------------------- the rule that picks the profile's design

REQUIRED = {"scenes": "Table 2: mIoU at 25 steps above SemFlow's",
            "mnist": f"target: accuracy at 1 step >= {ONE_STEP_ACCURACY_TARGET:.0f}%"}
"""The recognition a design must keep, on the mean over the seeds it was measured on, to be chosen
at all: the targets ask for the front's design while Table 2's segmentation ordering at 25 steps
and the one-step accuracy still hold -- as the tables report them, over their seeds."""


def seed_mean(group: list[dict]) -> dict:
    """One record of a design whose numbers are the means over its records' seeds (the form the
    tables report); fields the records do not all hold, or hold as None, are left out."""

    def mean(values: list):
        first = values[0]
        if isinstance(first, dict):
            shared = [k for k in first if all(isinstance(v, dict) and k in v for v in values)]
            return {k: m for k in shared if (m := mean([v[k] for v in values])) is not None}
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return fmean(values)
        return first if all(v == first for v in values) else None

    return mean(group)


SPREAD_TABLES = {"scenes": ("table2.csv", "mIoU"), "mnist": ("table3.csv", "accuracy")}


def recognition_spread(out: Path, dataset: str) -> float:
    """The seed-to-seed sd of the profile's SymmFlow recognition at 25 steps in the committed table
    of the same results folder (0 where the table holds fewer than two seeds)."""
    from statistics import stdev

    import pandas as pd

    name, metric = SPREAD_TABLES[dataset]
    if not (out / name).exists():
        return 0.0
    cells = pd.read_csv(out / name)
    values = cells[(cells["method"] == "SymmFlow") & (cells["steps"] == GENERATION_STEPS)
                   & (cells["metric"] == metric) & (cells["status"] == "ok")]["value"].tolist()
    return stdev(values) if len(values) > 1 else 0.0


def choose(dataset: str, rows: list[dict], spread: float) -> tuple[str, str] | None:
    """The design the front's rule picks, and why, from the records of the seed every design was
    measured on: (1) it keeps :data:`REQUIRED` on the mean over the seeds it was measured on (a
    requirement on every seed would be a minimum, which falls the more seeds a design is measured
    on and so would rule out the design measured most); (2) of those, it
    keeps the most claims and targets; (3) where several keep as many, the best generation (the
    judge's score of its samples) among those whose recognition at 25 steps is within ``spread``
    (the seed-to-seed sd) of the best of them -- a loss smaller than that is not a loss, a larger
    one is."""
    if not rows:
        return None
    seed = min(r["seed"] for r in rows)
    first = {r["design"]: r for r in rows if r["seed"] == seed}
    eligible = [name for name in first
                if kept(seed_mean([r for r in rows if r["design"] == name]))[REQUIRED[dataset]]]
    if not eligible:
        return None
    counts = {name: sum(kept(first[name]).values()) for name in eligible}
    most = max(counts.values())
    tied = [name for name, count in counts.items() if count == most]
    if len(tied) == 1:
        return tied[0], (f"it keeps the most claims and targets ({most}) of the designs that keep the recognition "
                         "required")
    best = max(first[name]["recognition"]["25"] for name in tied)
    near = [name for name in tied if first[name]["recognition"]["25"] >= best - spread]
    pick = max(near, key=lambda name: first[name]["judged"])
    score, _, judged, _, _ = NAMES[dataset]
    left = [name for name in tied if name not in near]
    return pick, (f"{len(tied)} designs keep as many claims and targets ({most}); of those within the seed-to-seed "
                  f"sd ({spread:.2f}) of the best {score} at 25 steps ({best:.1f}) it has the best {judged}"
                  + (f"; {', '.join(repr(n) for n in left)} {'loses' if len(left) == 1 else 'lose'} more {score} at 25 "
                     "steps than that" if left else ""))


# ---------------------------------------------------------------- Markdown and plot

NAMES = {"scenes": ("mIoU", "FD-scenenet", "mIoU of samples (SS U-Net)", "SS U-Net", "SemFlow"),
         "mnist": ("accuracy", "FD (U-Net classifier features)", "accuracy of samples (cross-entropy U-Net)",
                   "cross-entropy classifier", "flow matching")}
EARLIER_JOINT = {"scenes": "FJD (SS U-Net layout)", "mnist": "FJD (U-Net classifier features)"}
"""The joint distance of records made before a record named its own (the scene set's then read the
SS U-Net's layout, since replaced by its features: results/cpu/sanity-ladder.md)."""


def joint_name(rows: list[dict], dataset: str) -> str:
    """The joint distance the rows measured, one name, or every name they hold joined by " / "."""
    names = dict.fromkeys(r.get("fjd_metric", EARLIER_JOINT[dataset]) for r in rows)
    return " / ".join(names)


def _number(value) -> str:
    """A distance to three significant digits; blank in a record made before it was measured."""
    return "" if value is None else f"{value:#.3g}"


def summary(out: Path, verdicts: dict[str, str]) -> str:
    """front.md from the records in ``out``, each data set closed by its rule's ``verdicts`` line."""
    found = records(out)
    lines = ["# Recognition and generation on one front", "",
             "Each design is SymmFlow on the cpu budget of its data set with the settings its name gives "
             "(studies/front.py); recognition on the held-out images at several Euler steps, generation at "
             f"{GENERATION_STEPS} steps by a Frechet distance, by the Frechet joint distance of each sample and its "
             "condition, and by a judge trained on real images only "
             "(benchmarks/judges.py), and by the judge again on samples whose label state is held on its exact "
             "path instead of integrated with the image (what a perfectly trained label flow would condition "
             "on). The specialists and the real images are of the same seed. Rendered from "
             f"the records in `front/` by `python -m studies.front --summary --out {out.as_posix()}`.", ""]
    for dataset in DESIGNS:
        rows = [r for r in found if r["dataset"] == dataset]
        if not rows:
            continue
        score, fd, judged, specialist, peer = NAMES[dataset]
        joint = joint_name(rows, dataset)
        steps = CURVES[dataset]
        lines += [f"## {'Scene set (Tables 2, 4, 5)' if dataset == 'scenes' else 'Bundled MNIST (Tables 3, 11)'}", "",
                  f"| design | seed | {score} at {' / '.join(map(str, steps))} steps | {fd} | {joint} | "
                  f"{judged} | the same, the label held on its path | claims and targets kept | train (s) | commit |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            keeps = kept(r)
            curve = " / ".join(f"{r['recognition'][str(k)]:.1f}" for k in steps)
            held = r.get("judged_on_the_label_path")
            lines.append(f"| {r['design']} | {r['seed']} | {curve} | {r['fd']:#.3g} | {_number(r.get('fjd'))} | "
                         f"{r['judged']:.1f} | "
                         f"{'' if held is None else f'{held:.1f}'} | {sum(keeps.values())} of {len(keeps)} | "
                         f"{r['train_s']:.0f} | {r['provenance']['git_commit']} |")
        lines += ["", f"References (same budget; by seed): {specialist} {score}, {peer}'s generation, real images:", "",
                  f"| seed | {specialist} {score} | {peer} {fd} | {peer} {joint} | {peer} {judged} | "
                  f"real images {fd} | real images {joint} | real images {judged} |"
                  + (f" SemFlow {score} at 25 steps |" if dataset == "scenes" else ""),
                  "|---|---|---|---|---|---|---|---|" + ("---|" if dataset == "scenes" else "")]
        for seed in sorted({r["seed"] for r in rows}):
            ref = next(r for r in rows if r["seed"] == seed)["references"]
            lines.append(f"| {seed} | {ref['specialist recognition']:.1f} | {ref['peer fd']:#.3g} | "
                         f"{_number(ref.get('peer fjd'))} | {ref['peer judged']:.1f} | {ref['real fd']:#.3g} | "
                         f"{_number(ref.get('real fjd'))} | {ref['real judged']:.1f} |"
                         + (f" {ref['peer recognition at 25 steps']:.1f} |" if dataset == "scenes" else ""))
        lines += ["", "What each design keeps (seed by seed):", ""]
        for r in rows:
            missed = [claim for claim, ok in kept(r).items() if not ok]
            lines.append(f"- {r['design']}, seed {r['seed']}: " + ("keeps every one" if not missed
                                                                   else "misses " + "; ".join(missed)))
        lines += ["", verdicts[dataset], ""]
    lines += ["![the front](front.png)", ""]
    return "\n".join(lines)


def plot(out: Path) -> bytes:
    from matplotlib.figure import Figure

    from benchmarks.render.figures import png_bytes

    found = records(out)
    datasets = [d for d in DESIGNS if any(r["dataset"] == d for r in found)]
    fig = Figure(figsize=(13, 4.6 * max(1, len(datasets))))
    axes = fig.subplots(max(1, len(datasets)), 2, squeeze=False)
    for row, dataset in zip(axes, datasets):
        rows = [r for r in found if r["dataset"] == dataset]
        score, _, judged, specialist, peer = NAMES[dataset]
        ref = next(r["references"] for r in rows if r["seed"] == min(x["seed"] for x in rows))
        chosen = profile_design(dataset)
        for ax, steps in zip(row, ("1", "25")):
            for i, name in enumerate(DESIGNS[dataset]):
                points = [(r["recognition"][steps], r["judged"]) for r in rows if r["design"] == name]
                if points:
                    ax.plot(*zip(*points), "o", color=f"C{i}", ms=7, mec="k" if name == chosen else "none",
                            mew=1.5, label=f"{name} (the cpu profile's)" if name == chosen else name)
            target = (REAL_SHARE_TARGET * ref["real judged"] if dataset == "scenes" else SAMPLES_ACCURACY_TARGET)
            ax.axhline(target, color="tab:red", ls=(0, (1, 3)), lw=1.2,
                       label=f"target ({REAL_SHARE_TARGET} x real)" if dataset == "scenes" else
                       f"targets ({SAMPLES_ACCURACY_TARGET:.0f}% of samples, "
                       f"{ONE_STEP_ACCURACY_TARGET:.0f}% at 1 step)")
            if dataset == "mnist" and steps == "1":
                ax.axvline(ONE_STEP_ACCURACY_TARGET, color="tab:red", ls=(0, (1, 3)), lw=1.2)
            ax.axhline(ref["real judged"], color="k", ls=":", lw=1, label="real images (judge's ceiling)")
            ax.axhline(ref["peer judged"], color="grey", ls="--", lw=1,
                       label=f"{peer}'s samples (seed {min(r['seed'] for r in rows)})")
            ax.axvline(ref["specialist recognition"], color="grey", ls="-.", lw=1, label=f"{specialist} (1 call)")
            if dataset == "scenes":
                ax.axvline(ref["peer recognition at 25 steps"], color="grey", ls=(0, (5, 1, 1, 1)), lw=1,
                           label=f"{peer}'s {score} at 25 steps")
            ax.set_xlabel(f"SymmFlow {score} at {steps} step{'s' if steps != '1' else ''}")
            ax.set_ylabel(f"{judged} at {GENERATION_STEPS} steps")
            ax.grid(alpha=0.3)
            ax.set_title(f"{'scene set' if dataset == 'scenes' else 'bundled MNIST'}: recognition at {steps} "
                         f"step{'s' if steps != '1' else ''}", fontsize=9)
        row[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return png_bytes(fig)


TABLE_DATASETS = {"scenes": "scenes", "mnist": "MNIST (bundled 4k/1k)"}
"""The data sets' names in the tables whose notes state the trade."""


def profile_design(dataset: str) -> str | None:
    """The name of the design the cpu profile runs now, if it is one of the front's."""
    from benchmarks.profiles import CLASSIFICATION, SEGSYNTH

    current = SEGSYNTH["cpu"].symmflow if dataset == "scenes" else CLASSIFICATION["cpu"][0].symmflow
    return next((name for name, settings in DESIGNS[dataset].items() if settings == current), None)


def trade(dataset: str, rows: list[dict]) -> str | None:
    """One sentence for the tables' notes: the chosen design over every seed it was measured on,
    beside the best of each side on the seed every design was measured on."""
    chosen = profile_design(dataset)
    seed = min(r["seed"] for r in rows)
    first = {r["design"]: r for r in rows if r["seed"] == seed}
    if chosen not in first:
        return None
    score, _, judged, _, _ = NAMES[dataset]

    def scores(group):
        mean, keeps = seed_mean(group), [kept(r) for r in group]
        one, many = mean["recognition"]["1"], mean["recognition"]["25"]
        return (f"{score} {one:.1f} / {many:.1f} at 1 / 25 steps, FD {mean['fd']:#.3g}, "
                f"{judged.split(' (')[0]} {mean['judged']:.1f}, keeping "
                f"{' / '.join(str(sum(k.values())) for k in keeps)} of {len(keeps[0])} claims and targets"
                + (" (seed by seed)" if len(keeps) > 1 else ""))

    def over_seeds(name):
        group = [r for r in rows if r["design"] == name]
        seeds = ", ".join(str(r["seed"]) for r in group)
        return (f"'{name}', " + (f"the mean of seeds {seeds}" if len(group) > 1 else f"seed {seeds}")
                + f": {scores(group)}")

    best_recognition = max(first.values(), key=lambda r: r["recognition"]["25"])["design"]
    best_generation = max(first.values(), key=lambda r: r["judged"])["design"]
    others: dict[str, list[str]] = {}  # design -> what makes it worth naming beside the chosen one
    for label, name in (("the profile's design before this study", next(iter(DESIGNS[dataset]))),
                        ("the best recognition at 25 steps", best_recognition),
                        ("the best generation", best_generation)):
        if name != chosen and name in first:
            others.setdefault(name, []).append(label)
    text = (f"SymmFlow's settings chosen on the recognition-generation front (front.md; {len(first)} designs on seed "
            f"{seed}): {over_seeds(chosen)}.")
    for name, labels in others.items():
        text += f" {' and '.join(labels).capitalize()}, {over_seeds(name)}."
    return text


def verdict(dataset: str, rows: list[dict], spread: float) -> str:
    """One sentence: the design the front's rule picks, why, and whether the cpu profile runs it."""
    picked = choose(dataset, rows, spread)
    chosen = profile_design(dataset)
    if picked is None:
        return f"The front's rule (studies/front_record.py `choose`) picks no design: none keeps '{REQUIRED[dataset]}'."
    name, reason = picked
    return (f"The front's rule (studies/front_record.py `choose`) picks '{name}': {reason}. "
            + ("The cpu profile runs it." if name == chosen else
               f"The cpu profile runs '{chosen}' and has not yet moved to it."))


def write_summary(out: Path) -> None:
    found = records(out)
    if not found:
        raise UsageError(f"no front records in {out / 'front'}; run python -m studies.front --dataset scenes first")
    measured = {d: rows for d in DESIGNS if (rows := [r for r in found if r["dataset"] == d])}
    verdicts = {d: verdict(d, rows, recognition_spread(out, d)) for d, rows in measured.items()}
    write_atomic(out / "front.md", summary(out, verdicts))
    write_atomic(out / "front.png", plot(out))
    notes = {TABLE_DATASETS[d]: f"{text} {verdicts[d]}" for d, rows in measured.items() if (text := trade(d, rows))}
    write_atomic(out / "front-notes.json", json.dumps({"profile": "cpu", "notes": notes}, indent=1))
