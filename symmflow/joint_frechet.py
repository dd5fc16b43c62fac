"""The Frechet joint distance (DeVries et al. 2019, "On the evaluation of conditional GANs"): a
Frechet distance of (image, condition) pairs, each embedded as its image features beside its
condition's embedding (a mask's class layout, a class label's one-hot vector), which sees image
quality *and* whether each image shows its condition; the reference pairs' statistics cached as
:func:`symmflow.frechet.reference_statistics` caches them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import Tensor

from symmflow.frechet import feature_statistics, read_statistics, write_statistics


def mask_layout(masks: Tensor, classes: int, grid: int = 4) -> Tensor:
    """A mask's condition embedding for the Frechet joint distance: the share of each class in each
    cell of a ``grid`` x ``grid`` layout, (B, classes * grid^2) -- which digit lies where; an id
    that is no class (an ignore id) counts for none."""
    masks = masks.long().cpu()
    valid = (masks >= 0) & (masks < classes)
    one_hot = torch.nn.functional.one_hot(masks.where(valid, 0), classes).float() * valid[..., None]
    return torch.nn.functional.adaptive_avg_pool2d(one_hot.permute(0, 3, 1, 2), grid).flatten(1)


def class_embedding(labels: Tensor, classes: int) -> Tensor:
    """A class label's condition embedding for the Frechet joint distance: its one-hot vector."""
    return torch.nn.functional.one_hot(labels.long().cpu(), classes).float()


class JointFeatures:
    """The Frechet joint distance's embedding of (image, condition) pairs (DeVries et al. 2019,
    "On the evaluation of conditional GANs"): [features(image), alpha * embed(condition)], alpha
    the reference set's mean image-embedding norm over its mean condition-embedding norm, so
    that both halves weigh alike.  A Frechet distance of the joint Gaussians then sees image
    quality *and* whether each image shows its condition (a shuffled condition moves it; FID
    cannot see that)."""

    def __init__(self, features: Callable[[Tensor], Tensor], embed: Callable[[Tensor], Tensor], alpha: float):
        self.features, self.embed, self.alpha = features, embed, alpha

    def __call__(self, images: Tensor, conditions: Tensor) -> Tensor:
        return torch.cat([self.features(images).cpu().double(), self.alpha * self.embed(conditions).double()], 1)

    @classmethod
    def fitted(cls, features, embed, images: Tensor, conditions: Tensor) -> tuple["JointFeatures", Tensor]:
        """The embedding with alpha fitted on the reference pairs, and their joint embeddings."""
        image_part = features(images).cpu().double()
        condition_part = embed(conditions).double()
        alpha = float(image_part.norm(dim=1).mean() / condition_part.norm(dim=1).mean())
        return cls(features, embed, alpha), torch.cat([image_part, alpha * condition_part], 1)


def joint_reference_statistics(cache: Path | None, pairs: Callable[[], Iterable[tuple[Tensor, Tensor]]],
                               features: Callable[[Tensor], Tensor], embed: Callable[[Tensor], Tensor],
                               store: bool = True) -> tuple[JointFeatures, tuple[np.ndarray, np.ndarray]]:
    """The joint embedding fitted on the reference (image, condition) pairs and their statistics,
    cached as :func:`reference_statistics` caches (alpha stored beside mu and sigma; ``cache``
    None: computed every time, for features that change with the run)."""
    stored = None if cache is None else read_statistics(cache, ("mu", "sigma", "alpha"), store)
    if stored is not None:
        return JointFeatures(features, embed, float(stored["alpha"])), (stored["mu"], stored["sigma"])
    images, conditions = zip(*((i.cpu(), c.cpu()) for i, c in pairs()))
    joint, embedded = JointFeatures.fitted(features, embed, torch.cat(images), torch.cat(conditions))
    mu, sigma = feature_statistics(embedded.numpy())
    if store and cache is not None:
        write_statistics(cache, mu=mu, sigma=sigma, alpha=np.float64(joint.alpha))
    return joint, (mu, sigma)
