"""The command line of ``python -m benchmarks.run``: options parsed and every bad input refused in
one line (:class:`~symmflow.errors.UsageError`) before anything is created, trained or computed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from benchmarks import judges, parts, released
from benchmarks.cells import PROFILES, RunOptions
from benchmarks.precision import tables_at
from benchmarks.render.index_mark import is_index
from benchmarks.requirements import check_inputs, check_metric_dirs
from benchmarks.tables import tables
from symmflow.device import EVAL_PRECISIONS, PRECISIONS, check_eval_precision, resolve_device, resolve_precision
from symmflow.distributed import launched
from symmflow.errors import OneLineParser, UsageError, first_paragraph
from symmflow import outputs
from symmflow.solver import SOLVERS, parse_solver
from symmflow.tracking import check_tracker

def int_list(text: str, option: str, example: str) -> tuple[int, ...]:
    """``option``'s ``text`` as the integers it lists, comma-separated (an empty entry is a stray comma)."""
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a comma-separated list of integers, "
                         f"e.g. {option} {example}") from None


def parse_steps(text: str) -> tuple[int, ...]:
    """``--steps``: distinct positive step counts, e.g. 1,2,5."""
    steps = int_list(text, "--steps", "1,2,5")
    if not steps or min(steps) <= 0:
        raise UsageError(f"--steps {text!r}: every step count must be a positive integer, e.g. --steps 1,2,5")
    if len(set(steps)) != len(steps):
        twice = next(s for s in steps if steps.count(s) > 1)
        raise UsageError(f"--steps {text!r} names {twice} twice; give each step count once, e.g. --steps 1,2,5")
    return steps


def parse_seeds(text: str) -> tuple[int, ...]:
    """``--seeds``: distinct seeds from 0 to 2^63 - 1, e.g. 0,1,2."""
    seeds = int_list(text, "--seeds", "0,1,2")
    if not seeds or min(seeds) < 0 or max(seeds) >= 2 ** 63 or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r}: give distinct integers from 0 to 2^63 - 1, e.g. --seeds 0,1,2")
    return seeds


MIN_FREE_BYTES = 200 * 2 ** 20
"""Free space a run needs before it starts: its cells, tables and plots take a few MiB, the
networks of the cpu profile tens of MiB."""


def check_out(out: Path) -> None:
    """Refuse, before anything is created, an output folder a run must not write into: a protected
    place (an empty --out, the working directory, home, /), or one whose README.md the results
    index did not write (:func:`benchmarks.render.index_mark.is_index`)."""
    outputs.check_new_place(out)
    readme = Path(out) / "README.md"
    if readme.exists() and not is_index(readme):
        raise UsageError(f"{readme} was not written by the harness and the results index would replace it; "
                         "pass another folder with --out")


def check_writable(out: Path, report_to: str | None = None) -> None:
    """The output folder and the folders a run writes into (``logs`` too with ``--report-to``),
    created and written to, with the free space a run needs (:func:`symmflow.outputs.check_writable`)."""
    folders = (out, out / "cells", out / "checkpoints", out / "samples", *([out / "logs"] * (report_to is not None)))
    outputs.check_writable(out, folders, MIN_FREE_BYTES)


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m benchmarks.run", description=first_paragraph(__doc__))
    p.add_argument("--table", required=True,
                   help="Table number, a comma-separated list (2,4,5), or 'all' for every table.")
    p.add_argument("--profile", default="cpu",
                   help="Settings: smoke (seconds, tiny settings), cpu (default; minutes on 2 cores, "
                        "data that ship offline), gpu (the authors' settings at a one-GPU budget), paper (the paper's "
                        "settings: GPUs, local datasets and weights).")
    p.add_argument("--seed", type=int, default=0, help="Seed of training and evaluation (default 0).")
    p.add_argument("--seeds", type=parse_seeds, default=None,
                   help="Several seeds, e.g. 0,1,2: each table is computed per seed and shown as mean +- sd "
                        "(default: --seed alone).")
    p.add_argument("--steps", type=parse_steps, default=None,
                   help="Override the table's step counts, e.g. 1,2,5 (default: the table's own).")
    p.add_argument("--train-steps", type=int, default=None,
                   help="Train every network for this many steps instead of the profile's budget (a short check "
                        "of a profile; stored apart from its full-budget networks and cells; default: the budget).")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="Save each training's state every N steps, so that a run stopped midway resumes its "
                        "training (default: the profile's; the cpu profile saves none).")
    p.add_argument("--batch-size-per-device", type=int, default=None, metavar="N",
                   help="The most samples one device takes at a time. The profile's global batch stays as it is: "
                        "each process's share of it is reached by gradient accumulation over micro-batches of the "
                        "largest size up to N that divides the share, so a small GPU trains the same network. "
                        "Default: the whole share at once.")
    p.add_argument("--gradient-accumulation-steps", type=int, default=None, metavar="N",
                   help="The micro-batches whose gradients make one optimiser step. Each process takes the global "
                        "batch divided by (processes x N) at a time, and the global batch stays the profile's. "
                        "Default: 1, or what --batch-size-per-device needs.")
    p.add_argument("--solver", default="euler", help=f"ODE solver: {', '.join(SOLVERS)}; an adaptive one may carry "
                   "its tolerance, e.g. dopri5:1e-3 (default: euler, the paper's).")
    p.add_argument("--device", default="auto",
                   help="Device: auto (default: the GPU when there is one), cpu, cuda or cuda:N.")
    p.add_argument("--eval-precision", default="fp32", choices=EVAL_PRECISIONS,
                   help="Precision of every network evaluation of the evaluation phase (sampling, classification "
                        "and segmentation integrations, the Diffusion Classifier's evaluations): fp32, or bf16 "
                        "autocast with the weights in fp32, where the device computes bf16 natively (a CPU with "
                        "AMX or AVX-512 BF16, an Ampere-or-later GPU); training is the same at either, the judges "
                        "of generated images stay fp32, and bf16 cells are stored apart from fp32 ones "
                        "(default: fp32).")
    p.add_argument("--precision", default=None, choices=PRECISIONS,
                   help="Precision every network trains at: fp32; bf16 autocast with the weights and optimiser "
                        "state in fp32, where the device computes bf16 natively (a CPU with AMX or AVX-512 BF16, an "
                        "Ampere-or-later GPU); auto: bf16 where native, else fp32. Networks and cells of another "
                        "precision than the profile's are stored apart. Default: the profile's -- fp32 in the cpu "
                        "profile; in the gpu and paper profiles the authors' bf16 for the scene and latent networks "
                        "(fp32 where the device has no native bf16) and fp32 for MNIST and CIFAR-10.")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads of each process (default: one for the toy of Table 1, whose networks are too "
                        "small for more to pay, else torch's own choice; recorded with every cell).")
    p.add_argument("--out", type=Path, default=None,
                   help="Output folder (default: runs/<profile>, untracked; the committed results are "
                        "results/<profile>).")
    p.add_argument("--data-root", type=Path, default=Path("data"),
                   help="Folder of the data sets that are not bundled, in their published layouts: "
                        "MNIST/raw, cifar-10-batches-py, CelebAMask-HQ/, COCO-Stuff/ (default: data/).")
    p.add_argument("--force", action="store_true",
                   help="Recompute the chosen tables' cells even where stored (networks stay in the model cache; "
                        "default: compute only what is missing).")
    p.add_argument("--dry-run", action="store_true",
                   help="List the cells and what they need; compute and write nothing (default: compute).")
    p.add_argument("--render-only", action="store_true",
                   help="Re-render the tables from the stored cells and compute nothing; a cell not stored shows as "
                        "not computed and a claim that needs it gets no verdict (default: compute what is missing).")
    p.add_argument("--report-to", default=None, metavar="TRACKER",
                   help="Log every network the run trains (eq. 3's two terms, the learning rate) to tensorboard or "
                        "wandb, in <out>/logs/<network> (default: no tracker).")
    p.add_argument("--pretrained", type=Path, default=None,
                   help="Stable Diffusion 2.1 folder in diffusers layout (paper profile; default: none).")
    p.add_argument("--vae", type=Path, default=None,
                   help="The latent models' VAE, a diffusers AutoencoderKL folder -- e.g. sd-vae-ft-mse, as the "
                        "authors use (paper profile; default: the --pretrained folder's own vae/, recorded).")
    p.add_argument("--cache-latents", action="store_true",
                   help="Latent tables: compute each training image's VAE posterior once (in <out>/latent_cache) and "
                        "draw its latent from it every step -- the distribution of the authors' per-step encoding, "
                        "without the encoder pass; masks are still encoded every step; refused where training crops "
                        "are random (default: encode every step, as the authors).")
    p.add_argument("--inception-dir", type=Path, default=None,
                   help="Folder holding clean-fid's inception-2015-12-05.pt (FID (clean-fid)) and/or pytorch-fid's "
                        "pt_inception-2015-12-05-6726825d.pth (FID (pytorch-fid), the authors' protocol); default: "
                        "none, a local Frechet distance instead.")
    p.add_argument("--lpips-dir", type=Path, default=None,
                   help="Folder holding torchvision's alexnet-owt-7be5be79.pth (LPIPS; default: none, LPIPS cells "
                        "skipped with the reason).")
    p.add_argument("--skip-missing-metrics", action="store_true",
                   help="Paper profile: store the cells of a metric whose weights or extra are missing as skipped "
                        "with the reason, instead of refusing the run before it starts (the other profiles always do).")
    p.add_argument("--judge-weights", action="append", metavar="KIND=PATH",
                   help="A judge of generated images instead of the run's own (segmenter: Tables 2, 4; classifier: "
                        "Table 3): a TorchScript module, images in [-1, 1] -> logits; repeat for both kinds "
                        "(default: the run's own SS U-Net and cross-entropy classifier).")
    p.add_argument("--weights", action="append", metavar="METHOD[@DATASET]=PATH",
                   help="Evaluate these weights instead of training the method, e.g. symmflow=LatFM_coco_beta6.0.pt "
                        "(the authors' released EMA weights). A file answers the cells of one data set: the one "
                        "after @, else the one its name says (LatFM_<dataset>_beta<beta>.pt), else for a pixel "
                        "model the one whose network its tensor shapes fit. Its cells train nothing and are their "
                        "own rows; the cells of data sets no file answers are computed as usual. Repeat per method "
                        "and data set. Default: train every network.")
    p.add_argument("--datasets", default=None, metavar="LIST",
                   help="Compute the cells of these data sets only, a comma-separated list of the chosen tables' "
                        "data sets (e.g. MNIST,CIFAR-10), or 'released' for the data sets the --weights files "
                        "answer. Default: every data set of the chosen tables.")
    p.add_argument("--methods", default=None, metavar="LIST",
                   help="Compute the cells of these methods only, a comma-separated list of method keys (e.g. "
                        "symmflow,semflow). Default: every method of the chosen tables.")
    p.add_argument("--no-report", action="store_true",
                   help="Compute and store the cells and write no report: no table file, plot, protocol or results "
                        "page, which a later --render-only writes (default: report every table after computing it).")
    p.add_argument("--no-progress", action="store_true", help="Hide progress bars (default: shown).")
    return p


def check_render_only(out: Path) -> None:
    """``--render-only`` renders stored cells: a folder without any is a wrong ``--out``."""
    if not any((Path(out) / "cells").glob("*/*.json")):
        raise UsageError(f"--render-only: {out} holds no stored cells, so there is nothing to render; pass the --out "
                         "of an earlier run, or leave --render-only out to compute the tables")


def check_parts(args, chosen: list) -> tuple:
    """``--datasets``, ``--methods`` and ``--weights`` against the cells of the chosen tables, each
    supplied file tied to the one data set it answers (:func:`benchmarks.released.resolve`): one
    line naming the value and the choices, before any network is built."""
    supplied = released.parse(args.weights)
    given = args.datasets is not None or args.methods is not None or supplied
    catalogue = parts.Catalogue.of(chosen, args.profile) if given else parts.Catalogue()
    methods = parts.pick_methods(args.methods, catalogue)
    datasets = parts.pick_datasets(args.datasets, catalogue)
    evaluable = set().union(*(spec.released_methods(args.profile) for spec in chosen))
    for entry in supplied:
        if entry.method not in evaluable:
            raise UsageError(f"--weights {entry.shown()}: the chosen tables evaluate no released {entry.method!r} in "
                             f"the {args.profile} profile; choose from {', '.join(sorted(evaluable)) or 'none'}")
    if datasets == (parts.RELEASED,):
        if not supplied:
            raise UsageError(f"--datasets {parts.RELEASED}: no --weights given; name the data sets or pass the files")
        weights = released.resolve(supplied, catalogue, args.profile, None, methods)
        datasets = tuple(dict.fromkeys(dataset for _, dataset in weights))
    else:
        weights = released.resolve(supplied, catalogue, args.profile, datasets, methods)
    return datasets, methods, weights


def check_latent_options(args, chosen: list) -> None:
    """``--vae`` and ``--cache-latents`` are for tables that run in latent space in this profile;
    ``--vae`` names a VAE folder."""
    given = [f"--vae {args.vae}"] * (args.vae is not None) + ["--cache-latents"] * args.cache_latents
    if given and not any(spec.latent(args.profile) for spec in chosen):
        raise UsageError(f"{given[0]}: none of the chosen tables runs in latent space in the {args.profile} profile; "
                         "it applies to Tables 2, 4 and 5 of the paper profile")
    if args.vae is not None:
        from symmflow.models.latent import check_vae

        check_vae(args.vae)


def check_judges(supplied: dict, chosen: list, profile: str) -> None:
    """Every supplied judge is used by a chosen table and fits the images it will judge."""
    probes: dict[str, list] = {}
    for spec in chosen:
        for kind, probe in spec.judge_probes(profile):
            probes.setdefault(kind, []).append(probe)
    for kind, path in supplied.items():
        if kind not in probes:
            raise UsageError(f"--judge-weights {kind}={path}: none of the chosen tables judges generated images with "
                             f"a {kind} (segmenter: tables 2, 4; classifier: table 3)")
        judges.check(kind, path, probes[kind])


def options_from(argv, available: dict | None = None) -> tuple[list, RunOptions]:
    """The chosen tables and the run's options from ``argv``, every bad input refused first; no global
    state changes (the work's threads are set when it starts, :meth:`RunOptions.set_threads`)."""
    args = build_parser().parse_args(argv)
    available = tables() if available is None else available
    if args.table == "all":
        chosen = list(available.values())
    else:
        names = [n.strip() for n in args.table.split(",") if n.strip()]
        unknown = [n for n in names if n not in available]
        if unknown or not names:
            raise UsageError(f"unknown table {args.table!r}; choose from {', '.join(available)}, "
                             "a comma-separated list of them, or all")
        chosen = [available[n] for n in names]
    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; choose from {', '.join(PROFILES)}")
    if args.checkpoint_every is not None and args.checkpoint_every <= 0:
        raise UsageError(f"--checkpoint-every {args.checkpoint_every}: use a positive number of steps, "
                         "e.g. --checkpoint-every 300")
    if args.train_steps is not None:
        if args.train_steps <= 0:
            raise UsageError(f"--train-steps {args.train_steps}: use a positive number of steps, "
                             "e.g. --train-steps 300")
        from benchmarks.profiles import table_with_train_steps  # every family's settings: for --train-steps alone

        chosen = [table_with_train_steps(spec, args.profile, args.train_steps) for spec in chosen]
    datasets, methods, weights = check_parts(args, chosen)
    shard = launched()
    check_batches(chosen, args.profile, shard, args.batch_size_per_device, args.gradient_accumulation_steps, datasets)
    try:
        parse_solver(args.solver)
    except ValueError as error:
        raise UsageError(str(error)) from None
    supplied = judges.parse(args.judge_weights)
    check_judges(supplied, chosen, args.profile)
    check_latent_options(args, chosen)
    if not 0 <= args.seed < 2 ** 63:
        raise UsageError(f"--seed {args.seed}: use an integer from 0 to 2^63 - 1, e.g. --seed 0")
    if args.threads is not None and not 1 <= args.threads <= 4 * (os.cpu_count() or 1):
        raise UsageError(f"--threads {args.threads}: use 1 to {4 * (os.cpu_count() or 1)} threads")
    if args.threads is not None and args.threads > (os.cpu_count() or 1):
        print(f"warning: --threads {args.threads} is more than this machine's {os.cpu_count()} cores; the threads "
              "take turns on them, which is usually slower (the count is recorded with every cell)", file=sys.stderr)
    check_metric_dirs(args)
    device = resolve_device(args.device)
    check_eval_precision(args.eval_precision, device)
    precision = None if args.precision is None else resolve_precision(args.precision, device)
    chosen, deviations = tables_at(chosen, args.profile, precision, device)
    out = Path("runs") / args.profile if args.out is None else args.out
    check_out(out)
    if args.dry_run and args.render_only:
        raise UsageError("--dry-run writes nothing and --render-only writes the tables: choose one")
    if args.render_only and args.force:
        raise UsageError("--render-only computes nothing, so --force has nothing to recompute: choose one")
    if args.render_only and args.no_report:
        raise UsageError("--render-only writes only the report and --no-report leaves it out: choose one")
    if args.render_only:
        check_render_only(out)
    if args.report_to is not None:
        check_tracker(args.report_to)
    seeds = args.seeds or (args.seed,)
    options = RunOptions(profile=args.profile, seed=seeds[0], seeds=seeds, steps=args.steps, solver=args.solver,
                         train_steps=args.train_steps, checkpoint_every=args.checkpoint_every, device=device, out=out,
                         force=args.force, progress=not args.no_progress, dry_run=args.dry_run,
                         render_only=args.render_only, write_report=not args.no_report, report_to=args.report_to,
                         data_root=args.data_root, pretrained=args.pretrained, vae=args.vae,
                         cache_latents=args.cache_latents, inception_dir=args.inception_dir, lpips_dir=args.lpips_dir,
                         skip_missing_metrics=args.skip_missing_metrics, judges=supplied, released=weights,
                         datasets=datasets, methods=methods, shard=shard,
                         batch_size_per_device=args.batch_size_per_device,
                         gradient_accumulation_steps=args.gradient_accumulation_steps,
                         eval_precision=args.eval_precision, precision=args.precision, train_deviations=deviations,
                         threads=args.threads or thread_choice(chosen, device))
    if not args.dry_run:
        if not args.render_only:  # every input of the tables to compute, before anything is created
            check_inputs(chosen, options)
        check_writable(out, args.report_to)
    return chosen, options


def check_batches(chosen: list, profile: str, shard, per_device: int | None, accumulation: int | None,
                  datasets: tuple[str, ...] | None = None) -> None:
    """Every global batch the chosen tables train on (on ``datasets``, where given) splits over this
    launch's processes and the gradient accumulation asked for (:func:`symmflow.batching.plan`),
    before any network is built."""
    from symmflow.batching import check_options, plan

    check_options(per_device, accumulation)
    for spec in chosen:
        for dataset, batch in spec.global_batches(profile).items():
            if datasets is not None and dataset not in datasets:
                continue
            plan(batch, shard.count, per_device, accumulation, f"table {spec.name}, {dataset}, {profile} profile")


def thread_choice(chosen: list, device: str) -> int | None:
    """The intra-op threads a run on the CPU takes unless told (``--threads``): one where every
    chosen table's networks are too small for more threads to pay (a table's ``threads``: the
    toy's 11-wide MLP runs faster on one, results/cpu/reliability.md), else torch's own choice."""
    if device != "cpu":
        return None
    wanted = {spec.threads for spec in chosen}
    return wanted.pop() if len(wanted) == 1 and None not in wanted else None
