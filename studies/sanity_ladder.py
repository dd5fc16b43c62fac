"""A sanity ladder for every generation metric: ``python -m studies.sanity_ladder``.

A metric of generated images is trusted only as far as it sees what it should: real images,
degraded step by step, must score worse at every step.  For each generation metric of the
tables -- the scene set's FD-scenenet, its Frechet joint distance with the masks (FJD in the SS U-Net's
features) and the SS U-Net's mIoU of the samples (Tables 2, 4), and MNIST's Frechet distance and joint
distance in the cross-entropy classifier's features and that classifier's accuracy on the
samples (Table 3) -- this study scores

* the rung the metric starts from: for a Frechet distance, real images that no network of the
  metric trained on, as many as the tables generate, against held-out statistics -- as generated
  images are unseen (a network's features of its own training images differ: started from the
  training digits, MNIST's joint distance *fell* with a 1 px blur); for a judge, unseen images
  against their own masks or classes (its ceiling);
* then those images degraded at four increasing strengths by each of: Gaussian blur, additive
  noise, colour jitter, digits erased, and masks (classes) shuffled between images;

and records, per metric and degradation, its verdict: ``monotone`` where every step moved the
metric the worse way, ``not monotone`` where the strongest step is worse than the start but some
step is better than the one before, ``blind`` where the strongest is not worse than the start --
each beyond the noise of that change (:func:`climb`, :func:`climb_hits`).  A metric passes the
ladder where it is monotone in every degradation.  The tables' claim lines and notes say where
one is not (:func:`benchmarks.render.tables.ladder`).  The networks come from the tables' model
cache (trained there when missing: seed 0, as the tables' Frechet features are).  Writes
``sanity-ladder.{json,md,png}`` in ``--out``.

The degradations are in :mod:`studies.sanity_degradations`, a metric's climb and verdicts in
:mod:`studies.sanity_climb`, the tables' metrics in :mod:`studies.sanity_metrics` and the record
in :mod:`studies.sanity_record`.
"""

from __future__ import annotations

import json
import sys

from benchmarks.provenance import provenance
from studies.records import add_profile_and_out, results_folder
from studies.sanity_climb import (LEVEL, RESAMPLES, TOLERANCE, Metric, chance, climb, climb_hits, draw,  # noqa: F401
                                  ladder, sees, stds, summary, verdict)
from studies.sanity_degradations import (LEVELS, NOISE_SD, SEED, Degradation, additive_noise,  # noqa: F401
                                         colour_jitter, degradations, erase_digit_area, erase_scene_digits,
                                         gaussian_blur, shuffle_labels)
from studies.sanity_metrics import (UNSEEN_POOL, digit_metrics, feature_network_check, scene_metrics,  # noqa: F401
                                    stratified_halves)
from studies.sanity_record import markdown, metric_verdict, plot, step_noise  # noqa: F401
from symmflow.outputs import write_atomic
from symmflow.errors import OneLineParser, UsageError, first_paragraph


def main(argv=None) -> int:
    try:
        p = OneLineParser(prog="python -m studies.sanity_ladder", description=first_paragraph(__doc__))
        add_profile_and_out(p, "Whose networks and data (default: cpu; the data ship offline).")
        p.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
        args = p.parse_args(argv)
        out = results_folder(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    progress = not args.no_progress
    origin = provenance("cpu")  # the code as the study starts: edits made while it runs are not its own
    metrics = [(m, "scenes") for m in scene_metrics(args.profile, out, progress)]
    metrics += [(m, "digits") for m in digit_metrics(args.profile, out, progress)]
    record = {"metrics": [climb(m, kind, progress) for m, kind in metrics], "provenance": origin,
              "feature_network": feature_network_check(args.profile, out, progress),
              "profile": args.profile, "levels": LEVELS, "seed": SEED}
    write_atomic(out / "sanity-ladder.json", json.dumps(record, indent=1))
    write_atomic(out / "sanity-ladder.md", markdown(record))
    write_atomic(out / "sanity-ladder.png", plot(record))
    for m in record["metrics"]:
        print(f"{m['dataset']}, {m['metric']}: {metric_verdict(m)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
