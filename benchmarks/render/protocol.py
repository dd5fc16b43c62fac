"""The authors' protocol beside a profile's settings, point by point: ``python -m benchmarks.render.protocol``.

The authors' points (what their code does and in which file) are declared once in
``paper_tables/authors_protocol.json``; what a profile does is read here from its settings
(:mod:`benchmarks.profiles`), so the page cannot drift from them.  Each point is MATCH or DIFFERS
-- UNSTATED where the authors' code leaves it open -- and every difference names the record
that chose it (the same file's ``deviations``); a difference without one is an error, not a
blank.  ``benchmarks.run`` writes ``<out>/protocol.md`` beside the tables it renders;
``results/<profile>/protocol.md`` for the cpu, gpu and paper profiles are checked by the tests to
match a fresh rendering.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow.outputs import write_atomic

if TYPE_CHECKING:
    from benchmarks.profiles import ClassificationSettings, SegSynthSettings

DECLARED = Path(__file__).resolve().parents[2] / "paper_tables" / "authors_protocol.json"
TABLES = ("2", "3", "4", "5", "11")
"""The tables the page covers: a run of any of them writes it."""
PUBLISHED_PROFILES = ("cpu", "gpu", "paper")
"""The profiles whose page is committed under ``results/<profile>/protocol.md``."""
MATCH, DIFFERS, UNSTATED = "MATCH", "DIFFERS", "UNSTATED"

Reading = tuple[str, bool | None]
"""What a profile does at a point, and whether it is the authors' (None: they state nothing)."""


@cache
def declared() -> dict:
    return json.loads(DECLARED.read_text())


def _precision(value: str) -> str:
    return "float32" if value == "no" else value


def _listed(values: dict) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in values.items())


def _recipe(budget) -> tuple[str, str, str]:
    """(warm-up, schedule, EMA) of a budget, in words."""
    cosine = budget.schedule == "onecycle-cosine"
    warm = f"{budget.warmup_steps:,} of {budget.steps:,} steps, " + ("a cosine ramp from 1e-6" if cosine else
                                                                      "linear from 1e-6")
    schedule = ("OneCycleLR, cosine warm-up and decay between 1e-6 and lr, every step" if cosine else
                "one-cycle: linear warm-up from 1e-6, cosine down to 1e-6, every step")
    ema = f"{budget.ema_decay:g}: " + ("a copy at step 0, then the constant decay" if not budget.ema_warmup else
                                       "diffusers' EMAModel, decay capped by (1 + s) / (10 + s)")
    return warm, schedule, ema


# ---------------------------------------------------------------- Tables 3 and 11


def _classification(s: ClassificationSettings) -> dict[str, Callable[[], Reading]]:
    from baselines.diffusion_classifier import PUBLISHED
    from symmflow.models.guided_unet import AUTHORS_CIFAR10, AUTHORS_MNIST

    mnist = s.dataset.startswith("mnist")
    authors_unet, lr, batch, rows = ((AUTHORS_MNIST, 5e-4, 512, 60_000) if mnist else
                                     (AUTHORS_CIFAR10, 3e-4, 180, 50_000))
    m, b = s.symmflow, s.budget
    code = {"image": "one constant channel, noise per pixel of half-width (beta/2)/(n-1)/2",
            "image-offset": "one constant channel, one noise offset per image of half-width (beta/2)/(n-1)",
            "per-class": f"a vector of n entries, +-{m.code_scale:g} with U(-{m.code_scale / 2:g}, "
                         f"{m.code_scale / 2:g}) noise"}[m.label_code]
    warm, schedule, ema = _recipe(b)
    epoch = -(-rows // batch)
    return {
        "label_code": lambda: (f"{code}; beta {m.beta:g}", m.label_code == "image" and m.beta == 4.0),
        "decision": lambda: ("the mean, rescaled, rounded, clamped" if m.label_code != "per-class" else
                             "the largest entry", m.label_code != "per-class"),
        "time_sampler": lambda: ("t ~ U(0, 1)" if not m.near_one else
                                 f"{m.near_one:.0%} of the batch at t in [{1 - m.near_one_width:g}, 1]"
                                 + (" on the label alone" if m.near_one_label_only else ""), m.near_one == 0),
        "image_weight": lambda: (f"{m.image_weight:g}", m.image_weight == 0.9),
        "sigma_min": lambda: (f"{m.sigma_min:g}", m.sigma_min == 1e-4),
        "time_scale": lambda: ("t unscaled" if m.time_scale == 1 else f"t x {m.time_scale:g}", m.time_scale == 1),
        "network": lambda: ("the authors' U-Net (symmflow/models/guided_unet.py)" if s.unet == authors_unet else
                            f"a diffusers U-Net, base {getattr(s.unet, 'base_channels', '?')}", s.unet == authors_unet),
        "data": lambda: ({"mnist": "the 4,000 / 1,000 bundled MNIST digits", "mnist-full": "MNIST 60,000 / 10,000",
                          "cifar10": "CIFAR-10 50,000 / 10,000"}[s.dataset], s.dataset in ("mnist-full", "cifar10")),
        "mnist_fit": lambda: (("resized to 32 px (bilinear)" if s.mnist_fit == "resize" else "zero-padded to 32 px")
                              if mnist else "-", s.mnist_fit == "resize" if mnist else True),
        "optimiser": lambda: ("AdamW, weight decay 0, no clipping", True),
        "lr": lambda: (f"{b.lr:g}", b.lr == lr),
        "batch": lambda: (f"{b.batch_size}", b.batch_size == batch),
        "length": lambda: (f"{b.steps:,} steps", b.steps == 1_000 * epoch),
        "warmup": lambda: (warm, b.schedule == "onecycle-cosine" and b.warmup_steps * 10 == b.steps),
        "schedule": lambda: (schedule, b.schedule == "onecycle-cosine"),
        "ema": lambda: (ema, b.ema_decay == 0.999 and not b.ema_warmup),
        "train_precision": lambda: (_precision(b.mixed_precision), b.mixed_precision == "no"),
        "sampler": lambda: ("Euler (--solver); 1 and 25 steps (Table 3), the step curve (Table 11)", True),
        "eval_precision": lambda: ("float32", False),
        "diffusion_classifier": lambda: (f"times {PUBLISHED.times}, keep {PUBLISHED.keep}, {PUBLISHED.error} error",
                                         PUBLISHED.times == (50, 500) and PUBLISHED.keep == (5, 1)),
    }


# ---------------------------------------------------------------- Tables 2, 4 and 5


def _segmentation(s: SegSynthSettings) -> dict[str, Callable[[], Reading]]:
    latent, b = s.space == "latent", s.budget
    authors_beta = {"CelebAMask-HQ": 10.0, "COCO-Stuff": 6.0}
    betas = {d: s.symmflow_for(d).beta for d in s.datasets}
    batches = {d: s.global_batch(d) for d in s.datasets}
    warm, schedule, ema = _recipe(b)
    per_mask, cap = s.latent.get("samples_per_mask", {}), s.latent.get("fid_samples", 0)
    coco = s.palettes.get("COCO-Stuff", {}).get("colours", "contiguous")
    m = s.symmflow
    return {
        "data": lambda: (", ".join(s.datasets) + (f" at {s.resolution} px" if latent else " (pixel space)"),
                         latent and set(s.datasets) == set(authors_beta) and s.resolution == 512),
        "unet": lambda: ("the U-Net of the --pretrained folder" if latent else "a pixel U-Net", False),
        "widening": lambda: ("the same (symmflow/models/latent.py)" if latent else "-", latent),
        "prompt": lambda: ("the same, cached per folder" if latent else "-", latent),
        "vae": lambda: ("the VAE of --vae (else the folder's own); images sampled, masks by the mode" if latent else
                        "-", False),
        "label_code": lambda: (("palette colours" if m.label_code == "image" else "one +-code channel per class")
                               + f", beta {_listed(betas)}", m.label_code == "image" and betas == authors_beta),
        "palette": lambda: (f"{coco} ({'the authors' if coco == 'raw-id' else 'class k gets grid entry k'}); "
                            "released COCO-Stuff weights always by raw id" if latent else "the scene set's palette",
                            latent and coco == "raw-id"),
        "coco_classes": lambda: ("171 contiguous classes decoded to the nearest of their own colours, 255 ignored"
                                 if latent else "-", False),
        "time_sampler": lambda: ("t ~ U(0, 1)" if not m.near_one else f"{m.near_one:.0%} of the batch near t = 1",
                                 m.near_one == 0),
        "image_weight": lambda: (f"{m.image_weight:g}", m.image_weight == 0.7),
        "lr": lambda: (f"{b.lr:g}", b.lr == 8e-5),
        "batch": lambda: (", ".join(f"{d} {n}" for d, n in batches.items()) + ", whatever the launch",
                          batches == {"CelebAMask-HQ": 64, "COCO-Stuff": 128}),
        "length": lambda: (f"{s.latent['epochs']} epochs of ceil(N / batch) steps" if latent and not b.steps else
                           f"{b.steps:,} steps", latent and not b.steps and s.latent["epochs"] == 200),
        "warmup": lambda: (f"{s.latent['warmup_epochs']} epochs, " + warm.split(", ", 1)[1] if latent else warm,
                           latent and s.latent["warmup_epochs"] == 10 and b.schedule == "onecycle-cosine"),
        "schedule": lambda: (schedule, b.schedule == "onecycle-cosine"),
        "ema": lambda: (ema, b.ema_decay == 0.9 and not b.ema_warmup),
        "train_precision": lambda: (_precision(b.mixed_precision), b.mixed_precision == "bf16"),
        "sampler": lambda: ("Euler (--solver), 25 steps for Table 2 and the curve of Tables 4 and 5", True),
        "eval_precision": lambda: ("float32", False),
        "celeba_split": lambda: (s.evaluation_splits.get("CelebAMask-HQ", "test") + " split" if latent else "-",
                                 latent and s.evaluation_splits.get("CelebAMask-HQ") == "validation"),
        "coco_crop": lambda: ("val2017, centre crops, every image" if latent else "-", False),
        "miou": lambda: ("a dataset-level confusion matrix; CelebAMask-HQ 19 classes, background ignored", True),
        "fid": lambda: ((", ".join(f"{n} per evaluation mask ({d})" for d, n in per_mask.items()) + f", at most {cap:,}"
                         + "; pytorch-fid's Inception on the samples in memory, clean-fid's named apart")
                        if latent else "a Frechet distance in a network trained on the scene set",
                        latent and per_mask == {"CelebAMask-HQ": 17, "COCO-Stuff": 10} and cap == 50_000),
        "fid_quantise": lambda: (s.fid_quantise + "d" if latent else "-", latent and s.fid_quantise == "truncate"),
        "fid_reference": lambda: ("the evaluation split's real images, as the evaluation reads them" if latent else
                                  "the scene set's held-out scenes", None),
        "lpips": lambda: ("the same, and the diversity between samples of one mask named apart (LPIPS-diversity)",
                          True),
    }


# ---------------------------------------------------------------- the page


def rows(profile: str) -> dict[str, list[tuple[str, str, str, str, str, str]]]:
    """Per group, (point, the authors, their file, this profile, verdict, the record that chose a
    difference) for every declared point; a difference without its record raises."""
    from benchmarks.profiles import CLASSIFICATION, SEGSYNTH  # every table family's settings

    spec, reasons = declared(), declared()["deviations"]
    own = reasons.get(profile, {})
    mine = {**reasons["any"], **(reasons[own] if isinstance(own, str) else own)}  # a name: that profile's records
    groups = {"segmentation": [("", _segmentation(SEGSYNTH[profile]))],
              "classification": [(f"{s.dataset}: ", _classification(s)) for s in CLASSIFICATION[profile]]}
    out: dict[str, list] = {}
    for group, readers in groups.items():
        out[group] = []
        for prefix, reading in readers:
            for point in spec[group]:
                text, same = reading[point["key"]]()
                verdict = UNSTATED if same is None else MATCH if same else DIFFERS
                why = "" if same else mine.get(f"{group}/{point['key']}", "")
                if verdict == DIFFERS and not why:
                    raise ValueError(f"profile {profile}: {group}/{point['key']} differs from the authors' and no "
                                     f"record says why; add it to {DECLARED.name}'s deviations")
                out[group].append((prefix + point["point"], point["authors"], point["source"], text, verdict, why))
    return out


def markdown(profile: str) -> str:
    found = rows(profile)
    counts = {v: sum(r[4] == v for group in found.values() for r in group) for v in (MATCH, DIFFERS, UNSTATED)}
    lines = [f"# The authors' protocol and the `{profile}` profile", "",
             "Point by point: what the authors' code does (caetas/SymmetricFlow, the file named; reference notes "
             f"sections 1-11) and what a run of the {profile} profile does, read from its settings by "
             f"`python -m benchmarks.render.protocol --profile {profile}`; a difference names the record that chose "
             f"it. {counts[MATCH]} points match, {counts[DIFFERS]} differ, {counts[UNSTATED]} the authors' code "
             "leaves open.", ""]
    titles = {"segmentation": "Tables 2, 4 and 5: segmentation and synthesis", "classification": "Tables 3 and 11: "
              "classification"}
    for group, title in titles.items():
        lines += [f"## {title}", "", "| point | the authors' code | their file | this profile | verdict | why it "
                  "differs |", "|---|---|---|---|---|---|"]
        lines += [f"| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in found[group]]
        lines.append("")
    return "\n".join(lines)


def write(out: Path, profile: str) -> Path:
    path = Path(out) / "protocol.md"
    write_atomic(path, markdown(profile))
    return path


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m benchmarks.render.protocol", description=first_paragraph(__doc__))
    parser.add_argument("--profile", default="paper", help="The profile whose settings the page reads (default paper).")
    parser.add_argument("--out", type=Path, default=None, help="Where protocol.md goes (default results/<profile>).")
    try:
        from benchmarks.profiles import CLASSIFICATION, SEGSYNTH

        args = parser.parse_args(argv)
        if args.profile not in SEGSYNTH or args.profile not in CLASSIFICATION:
            raise UsageError(f"--profile {args.profile}: choose from {', '.join(SEGSYNTH)}")
        out = args.out or Path("results") / args.profile
        if args.out is None:  # the committed page's folder
            out.mkdir(parents=True, exist_ok=True)
        if not out.is_dir():
            raise UsageError(f"--out {out}: not a folder; create it or pass another")
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(write(out, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
