"""The sanity ladder's record in words and in a plot (``python -m studies.sanity_ladder``):
``sanity-ladder.md`` and ``sanity-ladder.png``, each metric's verdict."""

from __future__ import annotations

from benchmarks.claims import LadderFailures
from studies.sanity_climb import LEVEL, RESAMPLES, TOLERANCE
from studies.sanity_degradations import LEVELS


def metric_verdict(m: dict) -> str:
    """A metric's ladder in words: it passes where it moves monotonically with every degradation."""
    return str(LadderFailures(tuple(m["blind_to"]), tuple(m["not_monotone_in"]))) or \
        "passes: moves monotonically with every degradation"


def step_noise(r: dict) -> str:
    """The noise column of one degradation: each step's sd and the start-to-strongest one, or
    (a hit share) the images each step turned to hits / to misses."""
    if "gained" in r:
        return (" / ".join(f"+{g} -{l}" for g, l in zip(r["gained"], r["lost"]))
                + f" / +{r['total_gained']} -{r['total_lost']}")
    return " / ".join(f"{v:.2g}" for v in r["step_sd"]) + f" / {r['total_sd']:.2g}"


def markdown(record: dict) -> str:
    lines = ["# Sanity ladder of the generation metrics", "",
             "Real images degraded step by step at four increasing strengths; a metric passes where it gets worse "
             "at every step of every degradation. Where the strongest step of a degradation is not worse than the "
             "start beyond the noise, the metric is **blind** to it; where it is, but some step is better than the "
             "one before beyond the noise, the metric is **not monotone** in it. The tables' notes say both; a "
             "blind metric does not decide a claim its seeing peers contradict. The noise of a step is the spread "
             f"of its change (paired, as the steps are) over {RESAMPLES} more climbs of the whole ladder from fresh "
             "draws of starting images; a step or a whole degradation counts only beyond "
             f"{TOLERANCE:g} of those standard deviations. A hit share (a classifier's accuracy) is judged image by "
             "image instead: the images a step turns to hits against those it turns to misses, by the exact paired "
             f"(McNemar) test at the same one-sided level ({100 * LEVEL:.1f}%). Every metric starts from real images "
             "no network of the metric trained on, as generated images are. Rendered by "
             "`python -m studies.sanity_ladder` (studies/sanity_ladder.py), networks of seed 0 from the tables' "
             f"model cache; commit {record['provenance']['git_commit']}, {record['provenance']['device']}.", ""]
    for m in record["metrics"]:
        better = "higher" if m["higher_is_better"] else "lower"
        verdict_text = metric_verdict(m)
        lines += [f"## {m['dataset']}: {m['metric']} ({better} is better) -- "
                  + (verdict_text if not (m["blind_to"] or m["not_monotone_in"]) else f"**{verdict_text}**"), "",
                  f"Start: {m['base']:.4g} ({m['base_note']}); the start's own sd {m['noise_sd']:.2g} "
                  f"({m['noise_from']}).", "",
                  "| degradation | strengths | values | noise of each step / of start to strongest | verdict |",
                  "|---|---|---|---|---|"]
        for name, r in m["degradations"].items():
            strengths = " / ".join(f"{s:g}" for s in r["strengths"])
            values = " / ".join(f"{v:.4g}" for v in r["values"])
            shown = r["verdict"] if r["verdict"] == "monotone" else f"**{r['verdict']}**"
            lines.append(f"| {name} | {r['unit']} {strengths} | {values} | {step_noise(r)} | {shown} |")
        lines.append("")
        if any("gained" in r for r in m["degradations"].values()):
            lines += ["Noise column of a hit share: the images each step turned to hits (+) and to misses (-), "
                      "then start to strongest.", ""]
    check = record.get("feature_network")
    if check:
        lines += ["## scenes: the feature network of FD-scenenet", "",
                  "Trained to tell which digits a scene holds (multi-label); on the held-out scenes:", "",
                  "| scenes | presence accuracy (%) | always answering absent (%) | feature sd / mean norm |",
                  "|---|---|---|---|",
                  f"| {check['scenes']} | {check['presence_accuracy']:.1f} | {check['all_absent_accuracy']:.1f} | "
                  f"{check['feature_sd_over_mean_norm']:.3g} |", ""]
    lines += ["![the ladder](sanity-ladder.png)", ""]
    return "\n".join(lines)


def plot(record: dict) -> bytes:
    from matplotlib.figure import Figure

    from benchmarks.render.figures import png_bytes

    metrics = record["metrics"]
    columns = min(3, len(metrics))
    rows = -(-len(metrics) // columns)
    fig = Figure(figsize=(4.6 * columns, 4.9 * rows))
    axes = fig.subplots(rows, columns, squeeze=False).flatten()
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    for ax, m in zip(axes, metrics):
        for i, (name, r) in enumerate(m["degradations"].items()):
            fine = r["verdict"] == "monotone"
            ax.plot(range(LEVELS + 1), [m["base"], *r["values"]], "o-" if fine else "x--", color=f"C{i}",
                    label=name + ("" if fine else f" ({r['verdict']})"))
        if not m["higher_is_better"]:  # a Frechet distance spans orders of magnitude over the ladder
            ax.set_yscale("log")
            ax.set_ylabel(f"{m['metric']} (log scale)", fontsize=8)
        else:
            ax.set_ylabel(m["metric"], fontsize=8)
        ax.set_xticks(range(LEVELS + 1), ["real", *(str(k) for k in range(1, LEVELS + 1))])
        ax.set_xlabel("degradation strength (step)")
        ax.set_title(f"{m['dataset']}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    fig.suptitle("Sanity ladder: real images degraded step by step", fontsize=10)
    return png_bytes(fig)
