"""Standard class-conditional flow matching (:mod:`baselines.flow_matching`): the paper's "standard
FM" generator, and the network under the Diffusion Classifier."""

from __future__ import annotations

from baselines.flow_matching import ClassConditionalVelocity, FlowMatching
from benchmarks.methods.base import Method


class FlowMatchingMethod(Method):
    key, label = "flow-matching", "Flow matching (class-conditional)"

    def __init__(self, problem, settings=None):
        """``settings``: ``{"sigma_min", "time_scale"}`` as SymmFlow's of the same table."""
        settings = settings or {"sigma_min": 1e-4, "time_scale": 1.0}
        super().__init__(problem, settings)
        self.flow = FlowMatching(sigma_min=settings["sigma_min"])

    def build(self):
        p = self.problem
        return ClassConditionalVelocity(p.unet, p.channels, p.num_classes, p.size, self.settings["time_scale"])

    def loss(self, model, batch):
        return self.flow.loss(model, batch)

    def generate(self, model, labels, steps, solver, generator):
        p = self.problem
        return self.flow.generate(model, labels, (p.channels, p.size, p.size), steps=steps, solver=solver,
                                  generator=generator)
