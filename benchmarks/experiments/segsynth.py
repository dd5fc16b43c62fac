"""The experiment behind Tables 2, 4 and 5: one data set, its trained methods, memoised scores.

Per data set it opens the data (:mod:`benchmarks.datasets`), trains or reloads each method's
network through the one model cache (:func:`benchmarks.trained.trained_model`) and scores each
(task, method, steps) once with the pure functions of :mod:`benchmarks.evaluation`, handing
the same result to every cell that asks for it.  Synthesis is measured by FID where
clean-fid's Inception can run, else by a Frechet distance in a small network trained on the
scene set (``FD-scenenet``), and -- on the same samples -- by pytorch-fid's FID where its
weights are present; LPIPS where the lpips package and its weights are present.

The scores live in :class:`~benchmarks.experiments.segsynth_scores.SegSynthScores`, the base of
the experiment; the measures and the metrics' names in :mod:`benchmarks.experiments.segsynth_metrics`,
whose names this module re-exports.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from benchmarks import released
from benchmarks.cells import RunOptions
from benchmarks.datasets import open_dataset
from benchmarks.experiments.segsynth_metrics import (FEATURES, FEATURES_SEED, FRECHET_MEASURES, REAL,  # noqa: F401
                                                     joint_embedding, joint_metric, judge_metric, synthesis_metric)
from benchmarks.experiments.segsynth_scores import SegSynthScores
from benchmarks.methods import METHODS, Method, Problem, pretrained_identity
from benchmarks.precision import trains_at
from benchmarks.profiles import SegSynthSettings
from benchmarks.trained import Trained, trained_model
from symmflow.batching import BatchPlan
from symmflow.distributed import wait_for_everyone
from symmflow.spaces import PixelSpace


class SegSynthExperiment(SegSynthScores):
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
