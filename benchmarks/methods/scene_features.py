"""The feature network of the scene set's Frechet distance (``FD-scenenet``): trained to tell
which digits a scene holds (:mod:`symmflow.models.features`); not a row of any table."""

from __future__ import annotations

import torch.nn.functional as F

from benchmarks.methods.base import Method
from symmflow.models.features import SceneFeatureNet, presence


class SceneFeaturesMethod(Method):
    key, label = "scene-features", "scene features"

    def build(self):
        return SceneFeatureNet()

    def loss(self, model, batch):
        images, masks = batch
        return F.binary_cross_entropy_with_logits(model(images), presence(masks))
