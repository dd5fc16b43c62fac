"""The scores of Tables 2, 4 and 5 on one data set, computed with the pure functions of
:mod:`benchmarks.evaluation` (those of segmentation, synthesis and the real images memoised: every
cell that asks for one gets the same result): the segmentation mIoU; of synthesis, the Frechet
distances of :data:`~benchmarks.experiments.segsynth_metrics.FRECHET_MEASURES` against the evaluation
images' statistics (the joint one against the evaluation (image, mask) pairs), the judge's mIoU of
the samples against their masks and the paired LPIPS; the LPIPS diversity; and the real images scored
as samples are, the floor and ceiling of the synthesis metrics.  The base of
:class:`~benchmarks.experiments.segsynth.SegSynthExperiment`, whose data and trained networks it measures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch

from baselines import ss
from benchmarks import judges
from benchmarks.cells import digest
from benchmarks.datasets import DATASETS
from benchmarks.evaluation import diversity_score, segmentation_score, synthesis_score
from benchmarks.experiments.segsynth_metrics import FEATURES, FEATURES_SEED, FRECHET_MEASURES, joint_embedding
from symmflow.distributed import Shard, gather
from symmflow.metrics import LPIPS, MetricUnavailable, inception_missing, inception_features, lpips_missing
from symmflow.metrics import pytorch_fid_features
from symmflow.metrics import (JointFeatures, feature_statistics, frechet_distance, joint_reference_statistics,
                              mask_layout, reference_statistics)
from symmflow.models.features import NAME as FEATURE_NAME
from symmflow.solver import NFECounter


class SegSynthScores:
    """The memoised scores (``results``) of a :class:`~benchmarks.experiments.segsynth.SegSynthExperiment`,
    measured with its data, settings, options, methods (``method``) and trained networks (``trained``,
    whose budgets ``_config`` gives)."""

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
