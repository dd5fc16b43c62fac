"""The Diffusion Classifier (:mod:`baselines.diffusion_classifier`) on the class-conditional
flow-matching network; its ``steps`` is an adaptive :class:`~baselines.diffusion_classifier.Schedule`."""

from __future__ import annotations

from baselines.diffusion_classifier import classify as dc_classify
from benchmarks.methods.flow_matching import FlowMatchingMethod


class DiffusionClassifierMethod(FlowMatchingMethod):
    key, label = "diffusion-classifier", "Diffusion Classifier"
    trains = FlowMatchingMethod.key
    classify_steps = "schedule"
    generate = None

    def classify(self, model, images, schedule, solver, generator):
        """Class ids of ``images`` by ``schedule``; the noise is drawn from ``generator``'s seed."""
        seed = int(generator.initial_seed())
        return dc_classify(model, images, self.problem.num_classes, schedule, path=self.flow.path, seed=seed)

