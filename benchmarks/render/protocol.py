"""The authors' protocol beside a profile's settings, point by point: ``python -m benchmarks.render.protocol``.

The authors' points (what their code does and in which file) are declared once in
``paper_tables/authors_protocol.json``; what a profile does is read here from its settings
(:mod:`benchmarks.profiles`), so the page cannot drift from them, and put in the words of
``paper_tables/protocol_page.json`` (:mod:`benchmarks.prose`).  Each point is MATCH or DIFFERS
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

from benchmarks import prose
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
NOT_APPLICABLE = "-"
"""What a profile does at a point it has no such thing at (a latent-space point in pixel space)."""

Reading = tuple[str, bool | None]
"""What a profile does at a point, and whether it is the authors' (None: they state nothing)."""


@cache
def declared() -> dict:
    return json.loads(DECLARED.read_text())


def _precision(value: str) -> str:
    return "float32" if value == "no" else value


def _listed(values: dict) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in values.items())


def _ramp(budget) -> str:
    """How a budget's warm-up raises the learning rate, in words."""
    return prose.reading("recipe", "ramp", "cosine" if budget.schedule == "onecycle-cosine" else "linear")


def _recipe(budget) -> tuple[str, str, str]:
    """(warm-up, schedule, EMA) of a budget, in words."""
    cosine = budget.schedule == "onecycle-cosine"
    warm = prose.reading("recipe", "warmup", warmup=budget.warmup_steps, steps=budget.steps, ramp=_ramp(budget))
    schedule = prose.reading("recipe", "schedule", "cosine" if cosine else "one-cycle")
    ema = prose.reading("recipe", "ema", "warmup" if budget.ema_warmup else "copy", decay=budget.ema_decay)
    return warm, schedule, ema


# ---------------------------------------------------------------- Tables 3 and 11


def _classification(s: ClassificationSettings) -> dict[str, Callable[[], Reading]]:
    from baselines.diffusion_classifier import PUBLISHED
    from symmflow.models.guided_unet import AUTHORS_CIFAR10, AUTHORS_MNIST

    mnist = s.dataset.startswith("mnist")
    authors_unet, lr, batch, rows = ((AUTHORS_MNIST, 5e-4, 512, 60_000) if mnist else
                                     (AUTHORS_CIFAR10, 3e-4, 180, 50_000))
    m, b = s.symmflow, s.budget
    code = prose.reading("classification", "label_code", m.label_code, scale=m.code_scale, half=m.code_scale / 2)
    near_one = "near-one-label-only" if m.near_one_label_only else "near-one"
    warm, schedule, ema = _recipe(b)
    epoch = -(-rows // batch)
    return {
        "label_code": lambda: (prose.reading("classification", "label_code", code=code, beta=m.beta),
                               m.label_code == "image" and m.beta == 4.0),
        "decision": lambda: (prose.reading("classification", "decision",
                                           "mean" if m.label_code != "per-class" else "largest"),
                             m.label_code != "per-class"),
        "time_sampler": lambda: (prose.reading("classification", "time_sampler", near_one if m.near_one else "uniform",
                                               share=m.near_one, low=1 - m.near_one_width), m.near_one == 0),
        "image_weight": lambda: (f"{m.image_weight:g}", m.image_weight == 0.9),
        "sigma_min": lambda: (f"{m.sigma_min:g}", m.sigma_min == 1e-4),
        "time_scale": lambda: (prose.reading("classification", "time_scale",
                                             "unscaled" if m.time_scale == 1 else "scaled", scale=m.time_scale),
                               m.time_scale == 1),
        "network": lambda: (prose.reading("classification", "network",
                                          "authors" if s.unet == authors_unet else "diffusers",
                                          base=getattr(s.unet, "base_channels", "?")), s.unet == authors_unet),
        "data": lambda: (prose.reading("classification", "data", s.dataset), s.dataset in ("mnist-full", "cifar10")),
        "mnist_fit": lambda: (prose.reading("classification", "mnist_fit", "resize" if s.mnist_fit == "resize"
                                            else "pad") if mnist else NOT_APPLICABLE,
                              s.mnist_fit == "resize" if mnist else True),
        "optimiser": lambda: (prose.reading("classification", "optimiser"), True),
        "lr": lambda: (f"{b.lr:g}", b.lr == lr),
        "batch": lambda: (f"{b.batch_size}", b.batch_size == batch),
        "length": lambda: (prose.reading("recipe", "length", steps=b.steps), b.steps == 1_000 * epoch),
        "warmup": lambda: (warm, b.schedule == "onecycle-cosine" and b.warmup_steps * 10 == b.steps),
        "schedule": lambda: (schedule, b.schedule == "onecycle-cosine"),
        "ema": lambda: (ema, b.ema_decay == 0.999 and not b.ema_warmup),
        "train_precision": lambda: (_precision(b.mixed_precision), b.mixed_precision == "no"),
        "sampler": lambda: (prose.reading("classification", "sampler"), True),
        "eval_precision": lambda: ("float32", False),
        "diffusion_classifier": lambda: (prose.reading("classification", "diffusion_classifier", times=PUBLISHED.times,
                                                       keep=PUBLISHED.keep, error=PUBLISHED.error),
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
    m, space = s.symmflow, "latent" if latent else "pixel"

    def latent_only(text: str) -> str:
        """The wording of a point that only latent space has, where the profile is in latent space."""
        return text if latent else NOT_APPLICABLE

    return {
        "data": lambda: (prose.reading("segmentation", "data", space, datasets=", ".join(s.datasets),
                                       resolution=s.resolution),
                         latent and set(s.datasets) == set(authors_beta) and s.resolution == 512),
        "unet": lambda: (prose.reading("segmentation", "unet", space), False),
        "widening": lambda: (latent_only(prose.reading("segmentation", "widening", "latent")), latent),
        "prompt": lambda: (latent_only(prose.reading("segmentation", "prompt", "latent")), latent),
        "vae": lambda: (latent_only(prose.reading("segmentation", "vae", "latent")), False),
        "label_code": lambda: (prose.reading("segmentation", "label_code",
                                             "image" if m.label_code == "image" else "channels", betas=_listed(betas)),
                               m.label_code == "image" and betas == authors_beta),
        "palette": lambda: (prose.reading("segmentation", "palette", ("raw-id" if coco == "raw-id" else "grid")
                                          if latent else "pixel", colours=coco), latent and coco == "raw-id"),
        "coco_classes": lambda: (latent_only(prose.reading("segmentation", "coco_classes", "latent")), False),
        "time_sampler": lambda: (prose.reading("segmentation", "time_sampler", "near-one" if m.near_one else "uniform",
                                               share=m.near_one), m.near_one == 0),
        "image_weight": lambda: (f"{m.image_weight:g}", m.image_weight == 0.7),
        "lr": lambda: (f"{b.lr:g}", b.lr == 8e-5),
        "batch": lambda: (prose.reading("segmentation", "batch",
                                        batches=", ".join(f"{d} {n}" for d, n in batches.items())),
                          batches == {"CelebAMask-HQ": 64, "COCO-Stuff": 128}),
        "length": lambda: (prose.reading("segmentation", "length", "epochs", epochs=s.latent["epochs"])
                           if latent and not b.steps else prose.reading("recipe", "length", steps=b.steps),
                           latent and not b.steps and s.latent["epochs"] == 200),
        "warmup": lambda: (prose.reading("segmentation", "warmup", "epochs", epochs=s.latent["warmup_epochs"],
                                         ramp=_ramp(b)) if latent else warm,
                           latent and s.latent["warmup_epochs"] == 10 and b.schedule == "onecycle-cosine"),
        "schedule": lambda: (schedule, b.schedule == "onecycle-cosine"),
        "ema": lambda: (ema, b.ema_decay == 0.9 and not b.ema_warmup),
        "train_precision": lambda: (_precision(b.mixed_precision), b.mixed_precision == "bf16"),
        "sampler": lambda: (prose.reading("segmentation", "sampler"), True),
        "eval_precision": lambda: ("float32", False),
        "celeba_split": lambda: (latent_only(prose.reading("segmentation", "celeba_split", "latent",
                                                           split=s.evaluation_splits.get("CelebAMask-HQ", "test"))),
                                 latent and s.evaluation_splits.get("CelebAMask-HQ") == "validation"),
        "coco_crop": lambda: (latent_only(prose.reading("segmentation", "coco_crop", "latent")), False),
        "miou": lambda: (prose.reading("segmentation", "miou"), True),
        "fid": lambda: (prose.reading("segmentation", "fid", "latent", cap=cap, per_mask=", ".join(
                            prose.reading("segmentation", "fid", "per-mask", samples=n, dataset=d)
                            for d, n in per_mask.items())) if latent else prose.reading("segmentation", "fid", "pixel"),
                        latent and per_mask == {"CelebAMask-HQ": 17, "COCO-Stuff": 10} and cap == 50_000),
        "fid_quantise": lambda: (prose.reading("segmentation", "fid_quantise", s.fid_quantise) if latent else
                                 NOT_APPLICABLE, latent and s.fid_quantise == "truncate"),
        "fid_reference": lambda: (prose.reading("segmentation", "fid_reference", space), None),
        "lpips": lambda: (prose.reading("segmentation", "lpips"), True),
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
    lines = [prose.page("heading", profile=profile), "",
             prose.page("intro", profile=profile, match=counts[MATCH], differs=counts[DIFFERS],
                        unstated=counts[UNSTATED]), ""]
    titles = {"segmentation": prose.page("segmentation"), "classification": prose.page("classification")}
    for group, title in titles.items():
        lines += [f"## {title}", "", prose.page("columns"), "|---|---|---|---|---|---|"]
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
