"""The discriminative reference of Tables 3 and 11: the U-Net encoder with cross-entropy
(:mod:`baselines.discriminative`); its features also measure the Frechet distance of samples."""

from __future__ import annotations

from baselines.discriminative import UNetClassifier, cross_entropy_loss
from benchmarks.methods.base import Method


class CrossEntropyMethod(Method):
    key, label = "cross-entropy", "U-Net encoder + cross-entropy"
    classify_steps, judges_samples = "single", True

    def build(self):
        p = self.problem
        return UNetClassifier(p.unet, p.channels, p.num_classes, p.size)

    def loss(self, model, batch):
        return cross_entropy_loss(model, batch)

    def classify(self, model, images, steps, solver, generator):
        logits = model(images)
        return logits.argmax(1), logits.softmax(1)
