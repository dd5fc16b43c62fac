"""The experiment behind Tables 2, 4 and 5: one data set, its trained methods, memoised scores.

Per data set it opens the data (:mod:`benchmarks.datasets`), trains or reloads each method's
network through the one model cache (:func:`benchmarks.trained.trained_model`) and scores each
(task, method, steps) once with the pure functions of :mod:`benchmarks.evaluation`, handing
the same result to every cell that asks for it.  Synthesis is measured by FID where
clean-fid's Inception can run, else by a Frechet distance in a small network trained on the
scene set (``FD-scenenet``), and -- on the same samples -- by pytorch-fid's FID where its
weights are present; LPIPS where the lpips package and its weights are present.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from baselines import ss
from benchmarks import judges, released
from benchmarks.cells import RunOptions, digest
from benchmarks.datasets import DATASETS, open_dataset
from benchmarks.evaluation import diversity_score, segmentation_score, synthesis_score
from benchmarks.methods import METHODS, Method, Problem, pretrained_identity
from benchmarks.precision import trains_at
from benchmarks.profiles import SegSynthSettings
from benchmarks.trained import Trained, trained_model
from symmflow.batching import BatchPlan
from symmflow.distributed import Shard, gather, wait_for_everyone
from symmflow.metrics import LPIPS, MetricUnavailable, inception_missing, inception_features, lpips_missing
from symmflow.metrics import CLEAN_FID, pytorch_fid_features
from symmflow.metrics import (JointFeatures, feature_statistics, frechet_distance, joint_reference_statistics,
                              mask_layout, reference_statistics)
from symmflow.models.features import NAME as FEATURE_NAME
from symmflow.solver import NFECounter
from symmflow.spaces import PixelSpace

FEATURES = "scene-features"
REAL = "real"
"""The method key of the real-image rows: the floor and ceiling of the synthesis metrics."""
FRECHET_MEASURES = ("frechet", "pytorch-fid", "joint")
"""The Frechet distances of synthesis: the table's own (clean-fid's FID, else FD-scenenet),
pytorch-fid's FID (the authors' protocol), and the Frechet joint distance of (sample, mask)
(:class:`~symmflow.metrics.JointFeatures`, :func:`joint_metric`), which sees whether a sample
shows its mask."""
FEATURES_SEED = 0
"""The scene-set feature network is the synthesis metric's, so it is one network for every run
seed (as clean-fid's Inception is one set of weights): trained with seed 0, whatever the run's."""


class SegSynthExperiment:
    """Data, methods, trained networks and memoised scores of one data set under ``settings``."""

    def __init__(self, dataset: str, settings: SegSynthSettings, options: RunOptions, methods: dict | None = None):
        if "symmflow" in options.weights and settings.space == "latent":  # the colours the model was trained with
            settings = released.as_trained(settings, dataset)
        self.dataset, self.settings, self.options = dataset, settings, options
        self.registry = METHODS if methods is None else methods
        self.device = options.device
        if settings.space == "latent":  # the weights first: the cheaper check
            from symmflow.models.latent import check_folder, load_space

            check_folder(options.pretrained)
        self.data = data = open_dataset(dataset, settings, options.data_root, options.seed)
        self.palette = data.palette
        if settings.space == "latent":
            space = load_space(options.pretrained, data.palette, options.vae).to(self.device)
            channels = space.state_shape(data.size, data.size)[0]
        else:
            space, channels = PixelSpace(data.palette), 3
        self.problem = Problem(dataset, channels, data.size, data.num_classes, settings.unet, data.palette,
                               data.ignore_index, space,
                               options.pretrained if settings.space == "latent" else None,
                               None if options.ledger is not None  # a dry run writes nothing
                               else Path(options.out) / "checkpoints" / "empty-prompt.safetensors",
                               options.vae if settings.space == "latent" else None)
        self._methods: dict[str, Method] = {}
        self._trained: dict[str, Trained] = {}
        self.results: dict[tuple, dict] = {}
        self._first_batch: tuple | None = None
        self._joint_reference: tuple | None = None
        for key in options.weights:  # a file that does not fit the network: refused before any evaluation
            self.trained(key)

    # ---- methods and their trained networks

    def method(self, key: str) -> Method:
        if key not in self._methods:
            self._methods[key] = self.registry[key](self.problem, self.settings.method_settings(key, self.dataset))
        return self._methods[key]

    def _config(self, key: str):
        s, budget = self.settings, self.settings.budget
        if key == FEATURES:
            return budget.config(steps=s.feature_steps, mixed_precision="no")
        mixed = trains_at(budget.mixed_precision, self.device)
        if s.space != "latent":
            return budget.config(mixed_precision=mixed)
        # the profile's global batch whatever the launch (the authors' 32 per GPU on their 2 / 4 GPUs,
        # notes section 6), for epochs of ceil(N / batch) steps (their loader keeps the last partial
        # batch, notes section 11), unless the budget names its steps
        batch = s.global_batch(self.dataset)
        steps = budget.steps or s.latent["epochs"] * -(-self.data.train_count // batch)
        config = budget.config(steps=steps, warmup_steps=steps * s.latent["warmup_epochs"] // s.latent["epochs"],
                               mixed_precision=mixed)
        return replace(config, batch_size=batch)

    def trained(self, key: str) -> Trained:
        """The trained network of method ``key`` (EMA weights), from the model cache -- or the
        supplied weights of ``--weights``, never trained (:mod:`benchmarks.released`)."""
        if key not in self._trained and key in self.options.weights:
            method, path = self.method(key), self.options.weights[key]
            if self.settings.space == "latent" and key == "symmflow":
                released.check_name(path, self.dataset, self.settings.symmflow_for(self.dataset).beta)
            model = released.load(method.build(), path, f"{method.label} on {self.dataset}")
            if self.options.ledger is not None:  # a dry run: the supplied network, timed and stood in
                model = self.options.ledger.supplied(key, model, self.device)
            self._trained[key] = Trained(model.to(self.device).eval(), 0.0, [])
        if key not in self._trained:
            method, o = self.method(key), self.options
            seed = FEATURES_SEED if key == FEATURES else o.seed
            identity = {"problem": self.problem.identity, "data": self.data.identity, "settings": method.settings}
            cached = o.cache_latents and self.settings.space == "latent"
            if cached:  # the same distribution of latents, another random stream: another network
                identity["image_latents"] = "cached"
            config = self._config(key)  # its batch is global; this launch's split of it:
            plan = o.batch_plan(config.batch_size, self.dataset)
            self._trained[key] = trained_model(
                key, identity, method.build, method.loss,
                lambda: self._train_batches(seed + 17, cached, plan),
                config, Path(o.out), seed=seed, device=self.device, progress=o.progress,
                desc=f"{self.dataset}: train {method.label}", shard=o.shard, report_to=o.report_to,
                ledger=o.ledger, checkpoint_every=o.checkpoint_every, plan=plan)
        return self._trained[key]

    def _train_batches(self, seed: int, cached: bool, plan: BatchPlan):
        """The training stream of this process's micro-batches of the global batch as ``plan``
        splits it: (images, masks); in latent space (images, masks, the noise of the images' posterior
        samples: :meth:`_posterior_noise`), or, where latents are cached, (image latents drawn with that
        noise from the stored posteriors, masks) -- the cache built by the main process on first use
        (a dry run, which writes nothing, times the per-step encoding instead)."""
        o, batch, accumulation = self.options, plan.per_device, plan.accumulation
        if not cached or o.ledger is not None:
            stream = self.data.train_batches(seed, batch, self.device, o.shard, accumulation)
            return stream if self.settings.space != "latent" else self._posterior_noise(stream, seed)
        from symmflow import latent_cache

        vae = self.problem.space.vae
        identity = {"vae": pretrained_identity(o.vae if o.vae is not None else Path(o.pretrained) / "vae"),
                    "data": self.data.identity, "dtype": str(vae.dtype)}
        folder = Path(o.out) / "latent_cache"
        shape = self.problem.space.state_shape(self.data.size, self.data.size)
        moments = latent_cache.cached_moments(self.data.train, vae, folder, identity, self.settings.eval_batch,
                                              self.device, o.progress, shape) if o.shard.is_main else None
        wait_for_everyone(o.shard, self.device)
        if moments is None:  # the other processes read what the main one stored
            moments = latent_cache.load(latent_cache.cache_file(folder, identity), len(self.data.train), shape)
        return latent_cache.drawn(self._posterior_noise(self.data.cached_train_batches(
            moments, self.problem.space.scale, seed, batch, self.device, o.shard, accumulation), seed))

    def _posterior_noise(self, stream, seed: int):
        """``stream`` with the noise of each batch's posterior samples, keyed by ``seed``, this
        process and the batch (:func:`symmflow.latent_cache.posterior_noise`), not the global RNG."""
        from symmflow import latent_cache

        shape = self.problem.space.state_shape(self.data.size, self.data.size)
        return latent_cache.posterior_noise(stream, shape, seed, self.options.shard)

    # ---- scores

    def _generator(self, *parts) -> torch.Generator:
        return torch.Generator().manual_seed(int(digest([self.options.seed, *parts], 8), 16))

    def eval_batches(self, shard: Shard | None = None):
        """(position, (images, masks)) of the evaluation batches of this process (of ``shard``)."""
        return self.data.eval_batches(self.settings.eval_batch, self.device,
                                      self.options.shard if shard is None else shard)

    def first_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, masks) of this process's first evaluation batch, read once: what the sample
        grids show."""
        if self._first_batch is None:
            _, self._first_batch = next(iter(self.eval_batches()))
        return self._first_batch

    def _memo(self, key: tuple, compute) -> dict:
        if key not in self.results:
            self.results[key] = compute()
        return self.results[key]

    def segmentation(self, name: str, steps: int) -> dict:
        def compute():
            method, trained = self.method(name), self.trained(name)
            counter = NFECounter(trained.model)
            result = segmentation_score(
                lambda images, position: method.segment(counter, images, steps, self.options.solver,
                                                        self._generator("segmentation", name, steps, position)),
                self.eval_batches(), self.data.num_classes, self.data.ignore_index, self.options.shard, self.device)
            evaluations = sum(gather([counter.evaluations], self.options.shard, self.device))
            return {**result, "nfe_per_sample": evaluations / result["samples"], "train_s": trained.train_s}
        return self._memo(("segmentation", name, steps), compute)

    def _features(self, measure: str = "frechet"):
        """(kind, features) of a Frechet distance: ``frechet`` -- clean-fid's Inception, else the
        scene-set network; ``pytorch-fid`` -- pytorch-fid's Inception."""
        if measure == "pytorch-fid":  # raises MetricUnavailable where it cannot run
            return "pytorch-fid", pytorch_fid_features(self.options.inception_dir, self.device,
                                                       self.settings.fid_quantise)
        if inception_missing(self.options.inception_dir) is None:
            return "inception", inception_features(self.options.inception_dir, self.device)
        if self.settings.space == "latent":
            raise MetricUnavailable(inception_missing(self.options.inception_dir))
        net = self.trained(FEATURES).model

        def features(images):
            with torch.no_grad():
                return net.features(images.to(self.device)).cpu()

        return FEATURE_NAME, features

    def _synthesiser(self, name: str, steps: int, purpose: str):
        """``synthesise(masks, key)`` whose noise is keyed by ``key`` (where the batch lies in the
        evaluation), its NFE counter and the trained network."""
        method, trained = self.method(name), self.trained(name)
        counter = NFECounter(trained.model)

        def synthesise(masks, key):
            generator = self._generator(purpose, name, steps, *key)
            return method.synthesise(counter, masks, steps, self.options.solver, generator)

        return synthesise, counter, trained

    def judge(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The segmenter that judges synthesised scenes (:mod:`benchmarks.judges`): the supplied
        one, else this run's SS U-Net (trained on real scenes only); latent space has none of its own."""
        supplied = self.options.judges.get("segmenter")
        if supplied is not None:
            return judges.supplied_judge(supplied, self.device)
        if self.settings.space == "latent":
            raise MetricUnavailable("no segmenter trained on real images of this data set to judge the samples; "
                                    "pass one with --judge-weights segmenter=PATH")
        segmenter, model = self.method("ss"), self.trained("ss").model
        return torch.no_grad()(lambda images: segmenter.segment(model, images.to(self.device), 1, "euler", None))

    def frechet_reference(self, measure: str = "frechet"):
        """A Frechet distance's features and the evaluation images' statistics in them; for the
        joint distance (``joint``) the (image, mask) embedding fitted on the evaluation pairs."""
        if measure == "joint":  # fitted once per experiment, not once per (method, steps) synthesised
            if self._joint_reference is None:
                self._joint_reference = joint_reference_statistics(
                    None, lambda: (pair for _, pair in self.eval_batches(Shard())), self._joint_image_features(),
                    self.mask_embedding)
            return self._joint_reference
        kind, features = self._features(measure)
        cache = Path(self.options.out) / "fd_stats" / f"{self.dataset}-{kind}-{digest(self._reference_identity())}.npz"
        return features, reference_statistics(cache, lambda: (images for _, (images, _) in self.eval_batches(Shard())),
                                              features, store=self.options.ledger is None)  # a dry run writes nothing

    def _joint_image_features(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The image half of the joint distance: clean-fid's Inception where it runs; else the SS
        U-Net's pooled middle-block features (:func:`baselines.ss.bottleneck_features`: the
        segmenter trained on real scenes in Inception's place); with a supplied segmenter, whose
        inside is unknown, the layout of its segmentation.  Neither the scene-set feature network
        (it tells which digits a scene holds no better than always answering absent) nor the SS
        U-Net's layout (blind to colour jitter) passes the sanity ladder (results/cpu/sanity-ladder.md)."""
        embedding = joint_embedding(self.settings, self.options)
        if embedding == "inception":
            return self._features("frechet")[1]
        if embedding == "layout":
            judge = self.judge()
            return lambda images: self.mask_embedding(judge(images))
        model = self.trained("ss").model
        return torch.no_grad()(lambda images: ss.bottleneck_features(model, images.to(self.device)).cpu())

    def mask_embedding(self, masks: torch.Tensor) -> torch.Tensor:
        """The masks' condition embedding of the joint distance: each class's share of each cell of a 4 x 4 grid."""
        return mask_layout(masks, self.data.num_classes)

    def synthesis(self, name: str, steps: int) -> dict:
        """Samples for every evaluation mask (repeated up to the profile's FID sample count), their
        Frechet distance to the evaluation images, the judge's mIoU against their masks, and the
        paired LPIPS when it can run."""
        def compute():
            frechet, unavailable = {}, {}
            for measure in FRECHET_MEASURES:
                try:
                    frechet[measure] = self.frechet_reference(measure)
                except MetricUnavailable as why:
                    unavailable[measure] = str(why)
            lpips = None if lpips_missing(self.options.lpips_dir) else LPIPS(self.options.lpips_dir, self.device)
            try:
                judge, unjudged = self.judge(), None
            except MetricUnavailable as why:
                judge, unjudged = None, str(why)
            synthesise, counter, trained = self._synthesiser(name, steps, "synthesis")
            result = synthesis_score(synthesise, self.eval_batches, frechet,
                                     self.settings.fid_samples(self.dataset, self.data.eval_count),
                                     None if lpips is None else lpips.paired, self.options.shard, self.device,
                                     judge, (self.data.num_classes, self.data.ignore_index))
            evaluations = sum(gather([counter.evaluations], self.options.shard, self.device))
            return {**result, "value": result["frechet"].get("frechet"), "unavailable": unavailable,
                    "nfe_per_sample": evaluations / result["samples"], "train_s": trained.train_s,
                    "unjudged": unjudged}
        return self._memo(("synthesis", name, steps), compute)

    def frechet(self, name: str, steps: int, measure: str) -> dict:
        """The Frechet distance ``measure`` (:data:`FRECHET_MEASURES`) of ``name``'s samples."""
        result = self.synthesis(name, steps)
        if measure in result["unavailable"]:
            raise MetricUnavailable(result["unavailable"][measure])
        return {**result, "value": result["frechet"][measure]}

    def real_images(self, measure: str) -> dict:
        """The real images scored as samples are: the floor of the Frechet distance (as many real
        images as there are evaluation images, no network saw them where the data set has
        such -- :meth:`floor_pairs` -- against the evaluation statistics) and the ceiling of the
        judge's mIoU (the held-out images against their own masks)."""
        def compute():
            if measure == "judged":
                judge = self.judge()
                return segmentation_score(lambda images, position: judge(images), self.eval_batches(),
                                          self.data.num_classes, self.data.ignore_index, self.options.shard,
                                          self.device)
            features, reference = self.frechet_reference(measure)
            count = sum(len(images) for _, (images, _) in self.eval_batches(Shard()))
            (real, masks), batch = self.data.floor_pairs(count), self.settings.eval_batch
            start = time.perf_counter()
            embedded = [features(part, mask) if isinstance(features, JointFeatures) else features(part).cpu()
                        for part, mask in zip(real.split(batch), masks.split(batch))]
            mu, sigma = feature_statistics(torch.cat(embedded).numpy())
            return {"value": frechet_distance(mu, sigma, *reference), "samples": len(real),
                    "wall_s": time.perf_counter() - start,
                    "note": f"{len(real)} {DATASETS[self.dataset].floor} against the {count} evaluation images"}
        return self._memo(("real", measure), compute)

    def _reference_identity(self) -> dict:
        """What the reference statistics depend on: the evaluation images and the feature network."""
        features = None
        if inception_missing(self.options.inception_dir) is not None:
            features = {"budget": self._config(FEATURES), "seed": FEATURES_SEED}
        return {"data": self.data.identity, "eval_samples": self.settings.eval_samples, "features": features}

    def lpips(self, name: str, steps: int, measure: str) -> dict:
        reason = lpips_missing(self.options.lpips_dir)
        if reason:
            raise MetricUnavailable(reason)
        if measure == "lpips":
            result = self.synthesis(name, steps)
            return {**result, "value": result["paired"]}
        net = LPIPS(self.options.lpips_dir, self.device)
        synthesise, counter, trained = self._synthesiser(name, steps, "diversity")
        # every process computes the whole (small) diversity score alike; the main one stores it
        result = diversity_score(lambda masks, position: synthesise(masks, (0, position)),
                                 ((position, masks) for position, (_, masks) in self.eval_batches(Shard())),
                                 self.settings.diversity_samples, net.diversity, 64)
        return {**result, "nfe_per_sample": counter.evaluations / result["samples"], "train_s": trained.train_s}


def judge_metric(settings: SegSynthSettings, options: RunOptions) -> str:
    """The name of the judge's mIoU of synthesised scenes (:func:`benchmarks.judges.metric_name`):
    the run's SS U-Net in pixel space; in latent space only a supplied segmenter can judge."""
    return judges.metric_name("segmenter", "segmenter" in options.judges or settings.space == "latent")


def joint_embedding(settings: SegSynthSettings, options: RunOptions) -> str:
    """How the joint distance embeds an image: ``inception`` (clean-fid's, where it can run, and
    always in latent space), ``layout`` (of a supplied segmenter's segmentation, whose inside is
    unknown), else ``features`` (the SS U-Net's pooled middle block)."""
    if settings.space == "latent" or inception_missing(options.inception_dir) is None:
        return "inception"
    return "layout" if "segmenter" in options.judges else "features"


def joint_metric(settings: SegSynthSettings, options: RunOptions) -> str:
    """The Frechet joint distance's name, after its image embedding (:func:`joint_embedding`)."""
    embedding = joint_embedding(settings, options)
    if embedding == "inception":
        return "FJD (clean-fid Inception)"
    return f"FJD ({judges.judge_name('segmenter', embedding == 'layout')} {embedding})"


def synthesis_metric(settings: SegSynthSettings, options: RunOptions) -> str:
    """``FID (clean-fid)`` where clean-fid's Inception can run (and always in latent space, where
    nothing else stands in), else the named local Frechet distance."""
    if settings.space == "latent" or inception_missing(options.inception_dir) is None:
        return CLEAN_FID
    return f"FD-{FEATURE_NAME}"
