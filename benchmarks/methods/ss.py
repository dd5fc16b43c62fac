"""The "SS" row: the same pixel U-Net trained as a plain segmenter with cross-entropy (:mod:`baselines.ss`)."""

from __future__ import annotations

from baselines import ss
from benchmarks.methods.base import Method


class SSMethod(Method):
    key, label = "ss", "SS"
    spaces = ("pixel",)

    def build(self):
        p = self.problem
        return ss.ss_unet(p.unet, p.channels, p.num_classes, p.size)

    def loss(self, model, batch):
        """Cross-entropy over every class; pixels of an ignore id outside the classes (COCO-Stuff's
        255) are left out, while the scene set's ignore id 0 is its background class and trains."""
        images, masks = batch
        p = self.problem
        outside = p.ignore_index if p.ignore_index is not None and p.ignore_index >= p.num_classes else None
        return ss.ss_loss(model, images, masks, outside)

    def segment(self, model, images, steps, solver, generator):
        return ss.segment(model, images)
