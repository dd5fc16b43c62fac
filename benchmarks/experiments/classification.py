"""The experiment behind Tables 3 and 11: one data set, its trained classifiers and generators.

Three networks share the backbone (a pixel U-Net), the training split and the budget
(:class:`~benchmarks.profiles.Budget`), each trained once through the model cache:

* SymmFlow (:class:`~benchmarks.methods.symmflow.SymmFlowMethod`): classifies in k Euler
  steps from [image, noise] at t = 1, and generates from [noise, label] at t = 0;
* class-conditional flow matching: the paper's "standard FM" generator and the network the
  Diffusion Classifier classifies with;
* the U-Net encoder with cross-entropy: the reference row, and the feature space of the
  Frechet distance of generated samples.

Each measurement is a function of the cell's parameters (method, steps, schedule, number of
classes), never of its display label.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from baselines.diffusion_classifier import PUBLISHED, Schedule
from baselines.discriminative import Features
from benchmarks import judges, released
from benchmarks.datasets import dataset
from benchmarks.evaluation import classification_score, frechet_in, test_subset
from benchmarks.methods import METHODS, Method, Problem
from benchmarks.measures import CROSS_ENTROPY, FLOW_MATCHING  # noqa: F401 (the method keys, declared there)
from benchmarks.profiles import ClassificationSettings
from benchmarks.trained import Trained, trained_model
from symmflow.data.streams import epoch_batches
from symmflow.metrics import JointFeatures, class_embedding, feature_statistics, frechet_distance
from symmflow.solver import NFECounter

SYMMFLOW, DIFFUSION_CLASSIFIER = "symmflow", "diffusion-classifier"
REAL = "real"
"""The method key of the real-image rows: the floor and ceiling of the generation metrics."""


class ClassificationExperiment:
    """Data, methods, trained networks of one setting, trained on first use."""

    def __init__(self, settings: ClassificationSettings, options):
        self.s, self.options = settings, options
        self.data = dataset(settings.dataset, "classification")
        self.spec = spec = self.data.spec
        self.problem = Problem(settings.dataset, spec.channels, spec.size, spec.num_classes, settings.unet)
        self._methods: dict[str, Method] = {}
        self._trained: dict[str, Trained] = {}
        self._scores: dict[tuple, dict] = {}
        self._footprints: dict[int, dict] = {}
        self._train = self._test = None
        self._joint = None
        for key in options.weights:  # a file that does not fit the network: refused before any evaluation
            self.trained(key)

    # ---- data

    def train_split(self):
        if self._train is None:
            self._train = self.data.load("train", self.options.data_root, self.s.mnist_fit)
        return self._train

    def full_test_split(self):
        """The whole held-out split, read once."""
        if self._test is None:
            self._test = self.data.load("test", self.options.data_root, self.s.mnist_fit)
        return self._test

    def test_split(self):
        """The held-out images SymmFlow and the reference are scored on (``test_limit`` of them)."""
        images, labels = self.full_test_split()
        if self.s.test_limit is not None:
            index = test_subset(labels, self.s.test_limit)
            images, labels = images[index], labels[index]
        return images, labels

    # ---- methods and trained networks

    def method(self, key: str) -> Method:
        if key not in self._methods:
            self._methods[key] = METHODS[key](self.problem, self.s.method_settings(key))
        return self._methods[key]

    def trained(self, key: str) -> Trained:
        """The trained network method ``key`` uses (the Diffusion Classifier: flow matching's), from
        the model cache -- or the supplied weights of ``--weights``, never trained."""
        network = self.method(key).network_key
        if network not in self._trained and network in self.options.weights:
            method = self.method(network)
            model = released.load(method.build(), self.options.weights[network],
                                  f"{method.label} on {self.s.dataset}")
            if self.options.ledger is not None:  # a dry run: the supplied network, timed and stood in
                model = self.options.ledger.supplied(network, model, self.options.device)
            self._trained[network] = Trained(model.to(self.options.device).eval(), 0.0, [])
        if network not in self._trained:
            o, trainer = self.options, self.method(network)
            images, labels = self.train_split()
            # the budget's batch is global (the authors' one GPU, notes section 5), split over the launch
            plan = o.batch_plan(self.s.budget.batch_size, self.s.dataset)
            self._trained[network] = trained_model(
                network, {"problem": self.problem.identity, "settings": trainer.settings}, trainer.build,
                trainer.loss, lambda: epoch_batches(images, labels, batch_size=plan.per_device, seed=o.seed,
                                                    device=o.device, shard=o.shard, accumulation=plan.accumulation),
                self.s.budget.config(), Path(o.out), seed=o.seed, device=o.device, progress=o.progress,
                desc=f"{self.s.dataset}: train {trainer.label}", shard=o.shard, report_to=o.report_to,
                ledger=o.ledger, checkpoint_every=o.checkpoint_every, plan=plan)
        return self._trained[network]

    # ---- measurements

    def accuracy(self, name: str, steps, images, labels, repeats: int = 1, batch: int | None = None,
                 seed: int | None = None, progress: str | None = None) -> dict:
        """Accuracy (and AUC where the method scores classes) of method ``name`` at ``steps``
        (Euler steps, or a Diffusion Classifier schedule), with NFE counted."""
        method, trained = self.method(name), self.trained(name)
        counter, o = NFECounter(trained.model), self.options
        base = o.seed + 7 if seed is None else seed
        state: dict = {}

        def classify(chunk, i):
            if i == 0 or name == DIFFUSION_CLASSIFIER:  # one stream per pass; the DC one per chunk
                state["g"] = torch.Generator().manual_seed(base + (i if name == DIFFUSION_CLASSIFIER else 0))
            return method.classify(counter, chunk.to(o.device), steps, o.solver, state["g"])

        result = classification_score(classify, images, labels, batch or self.s.eval_batch, self.spec.num_classes,
                                      repeats, progress)
        passes = result.pop("passes")
        return {**result, "nfe_per_sample": counter.evaluations / (len(images) * passes), "train_s": trained.train_s}

    def scored(self, name: str, steps, repeats: int = 1) -> dict:
        """:meth:`accuracy` on the held-out images of the profile, computed once per arguments."""
        key = (name, steps, repeats)
        if key not in self._scores:
            self._scores[key] = self.accuracy(name, steps, *self.test_split(), repeats=repeats)
        return self._scores[key]

    def diffusion_classifier(self, schedule: Schedule, count: int, desc: str) -> dict:
        full_x, full_y = self.full_test_split()
        index = test_subset(full_y, count)
        result = self.accuracy(DIFFUSION_CLASSIFIER, schedule, full_x[index], full_y[index], batch=2,
                               seed=self.options.seed * 100_003, progress=desc if self.options.progress else None)
        result.pop("auc", None)
        note = (f"run on a fixed subset of {len(index)} of the {len(full_y)} test images "
                f"(classes in turn, the first of each class first)") if len(index) < len(full_y) else ""
        return {**result, "note": note}

    def speed_up(self) -> dict:
        """SymmFlow at 1 step and the published Diffusion Classifier schedule, timed in one process."""
        images, labels = self.test_split()
        sf = self.accuracy(SYMMFLOW, 1, images, labels, repeats=3)
        dc = self.diffusion_classifier(PUBLISHED, self.s.speed_images, "table 3: timing the Diffusion Classifier")
        sf_rate, dc_rate = sf["samples"] / sf["wall_s"], dc["samples"] / dc["wall_s"]
        nfe_ratio = dc["nfe_per_sample"] / sf["nfe_per_sample"]
        return {"value": sf_rate / dc_rate, "nfe_ratio": nfe_ratio, "target": 0.9 * nfe_ratio,
                "meets_target": sf_rate / dc_rate >= 0.9 * nfe_ratio,
                "symmflow_images_per_s": sf_rate, "dc_images_per_s": dc_rate,
                "symmflow_samples": sf["samples"], "dc_samples": dc["samples"], "wall_s": sf["wall_s"] + dc["wall_s"],
                "note": f"one process: SymmFlow on {sf['samples']} images ({sf['timing']}), "
                        f"Diffusion Classifier (2,750 NFE) on {dc['samples']} images"}

    def footprint(self, classes: int) -> dict:
        """Time and peak memory added by one-step SymmFlow classification in a fresh process
        (one process per class count; its time and memory cells share it), on 500 images in
        batches of 250 -- or on the profile's held-out images where it scores fewer."""
        if classes in self._footprints:
            return self._footprints[classes]
        images = min(500, self.s.test_limit or 500)
        batch = max(1, images // 2)
        request = {"unet": asdict(self.s.unet), "symmflow": asdict(self.s.symmflow), "channels": self.spec.channels,
                   "size": self.spec.size, "classes": classes, "images": images, "batch": batch,
                   **self.options.later_settings()}  # the evaluation precision, where not fp32
        done = subprocess.run([sys.executable, "-m", "benchmarks.footprint", json.dumps(request)],
                              capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], check=True)
        self._footprints[classes] = {**json.loads(done.stdout.strip().splitlines()[-1]),
                                     "images": images, "batch": batch}
        return self._footprints[classes]

    def judge(self):
        """The classifier that judges generated images (:mod:`benchmarks.judges`): the supplied
        one, else this run's cross-entropy U-Net classifier (trained on real images only)."""
        supplied = self.options.judges.get("classifier")
        if supplied is not None:
            return judges.supplied_judge(supplied, self.options.device)
        classifier, model = self.method(CROSS_ENTROPY), self.trained(CROSS_ENTROPY).model
        return torch.no_grad()(lambda images: classifier.classify(model, images.to(self.options.device), 1, "euler",
                                                                  None)[0])

    def judged_accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        judge = self.judge()
        predicted = torch.cat([judge(part).cpu() for part in images.split(self.s.eval_batch)])
        return 100.0 * (predicted == labels).float().mean().item()

    @torch.no_grad()
    def joint_distance(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """The Frechet joint distance of (image, class) pairs to the held-out pairs (:meth:`joint_scorer`
        of the whole held-out set, fitted once)."""
        if self._joint is None:
            self._joint = self.joint_scorer(*self.full_test_split())
        return self._joint(images, labels)

    @torch.no_grad()
    def joint_scorer(self, reference: torch.Tensor, reference_labels: torch.Tensor) -> Callable[..., float]:
        """``score(images, labels)``: the Frechet joint distance to the ``reference`` pairs -- the
        cross-entropy classifier's features beside the class's one-hot vector
        (:class:`~symmflow.metrics.JointFeatures`, alpha fitted on the reference)."""
        net, batch, device = Features(self.trained(CROSS_ENTROPY).model), self.s.eval_batch, self.options.device
        features = lambda x: torch.cat([net(part.to(device)).cpu() for part in x.split(batch)])  # noqa: E731
        joint, embedded = JointFeatures.fitted(features, lambda y: class_embedding(y, self.spec.num_classes),
                                               reference, reference_labels)
        statistics = feature_statistics(embedded.numpy())
        return lambda images, labels: frechet_distance(*feature_statistics(joint(images, labels).numpy()), *statistics)

    @torch.no_grad()
    def generation(self, name: str, steps: int) -> dict:
        """Class-conditional samples of ``name``, their Frechet distance to the held-out images in
        the cross-entropy classifier's features, their joint distance with the class they were
        asked for, and the judge's accuracy on them (computed once)."""
        if ("generation", name, steps) in self._scores:
            return self._scores[("generation", name, steps)]
        s, o, n = self.s, self.options, self.spec.num_classes
        real, _ = self.full_test_split()
        features = Features(self.trained(CROSS_ENTROPY).model)
        method, trained = self.method(name), self.trained(name)
        wanted = torch.arange(n).repeat_interleave(s.generate_per_class)
        generator = torch.Generator().manual_seed(o.seed + 11)
        counter = NFECounter(trained.model)
        start = time.perf_counter()
        samples = torch.cat([method.generate(counter, part.to(o.device), steps, o.solver, generator).cpu()
                             for part in tqdm(wanted.split(s.eval_batch), desc=f"table 3: {method.label} samples",
                                              disable=not o.progress)])
        wall = time.perf_counter() - start
        self._scores[("generation", name, steps)] = result = {
            "value": frechet_in(features, real, samples, s.eval_batch), "samples_tensor": samples,
            "judged": self.judged_accuracy(samples, wanted), "joint": self.joint_distance(samples, wanted),
            "nfe_per_sample": counter.evaluations / len(wanted), "wall_s": wall, "samples": len(wanted),
            "train_s": trained.train_s,
            "note": f"{len(wanted)} samples ({s.generate_per_class} per class) against the {len(real)} "
                    "held-out images, in the pooled features of the cross-entropy U-Net classifier; "
                    "not Inception FID"}
        return result

    @torch.no_grad()
    def real_images(self, measure: str) -> dict:
        """The real images scored as samples are: the floor of the Frechet distance (as many
        training images per class as samples are generated, the first of each class, against the
        held-out images) and the ceiling of the judge's accuracy (the held-out images the
        classifiers of the table are scored on)."""
        if measure == "judged":
            held_out, labels = self.test_split()
            return {"value": self.judged_accuracy(held_out, labels), "samples": len(held_out),
                    "note": f"the judge on the {len(held_out)} held-out images the classifiers are scored on"}
        real, _ = self.full_test_split()
        images, train_labels = self.train_split()
        index = test_subset(train_labels, self.s.generate_per_class * self.spec.num_classes)
        if measure == "joint":
            value = self.joint_distance(images[index], train_labels[index])
        else:
            value = frechet_in(Features(self.trained(CROSS_ENTROPY).model), real, images[index], self.s.eval_batch)
        return {"value": value, "samples": len(index),
                "note": f"{len(index)} training images ({self.s.generate_per_class} per class) against the "
                        f"{len(real)} held-out images, in the pooled features of the cross-entropy U-Net classifier"}
