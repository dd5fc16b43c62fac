"""The "SS" row: the same pixel U-Net trained as a plain segmenter with cross-entropy (:mod:`baselines.ss`)."""

from __future__ import annotations

from baselines import ss
from benchmarks.methods import Method


class SSMethod(Method):
    name = "SS"
    spaces = ("pixel",)

    def build(self):
        p = self.problem
        return ss.ss_unet(p.unet, p.channels, p.num_classes, p.size)

    def loss(self, model, batch):
        images, masks = batch
        return ss.ss_loss(model, images, masks)

    def segment(self, model, images, steps, solver, generator):
        return ss.segment(model, images)
