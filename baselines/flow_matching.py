"""Standard class-conditional flow matching: the paper's "standard FM setup" and the model
under the Diffusion Classifier.

The image follows SymmFlow's image path (:meth:`symmflow.path.SymmetricPath.image_part`,
eq. 1: noise at t = 0, data at t = 1), but the class enters as a learned embedding added to
the U-Net's time embedding (``num_class_embeds``) instead of as a label channel; the loss is
the plain velocity MSE.  Sampling integrates t 0 -> 1 with the shared solver.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from symmflow.models.pixel_unet import UNetConfig, pixel_unet, unet_output
from symmflow.path import SymmetricPath
from symmflow.solver import integrate


class ClassConditionalVelocity(nn.Module):
    """``(x_t, labels, t) -> v``: a pixel U-Net with a class embedding."""

    def __init__(self, config: UNetConfig, channels: int, num_classes: int, size: int,
                 time_scale: float = 1.0):
        super().__init__()
        self.unet = pixel_unet(config, channels, channels, size, num_class_embeds=num_classes)
        self.num_classes, self.time_scale = num_classes, time_scale

    def forward(self, x: Tensor, labels: Tensor, t: Tensor) -> Tensor:
        return unet_output(self.unet(x, t * self.time_scale, class_labels=labels))


class FlowMatching:
    """Loss and sampler of class-conditional flow matching on the image half of the path."""

    def __init__(self, sigma_min: float = 1e-4, times=None):
        self.path = SymmetricPath(sigma_min=sigma_min, image_weight=1.0)
        self.times = times or (lambda n, device=None: torch.rand(n, device=device))

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        images, labels = batch
        t = self.times(len(images), device=images.device)
        x_t, target = self.path.image_part(images, t, torch.randn_like(images))
        return torch.mean((model(x_t, labels, t).float() - target.float()) ** 2)

    @staticmethod
    def as_joint(model, labels: Tensor):
        """The model as a joint-state velocity ``(x, y, t) -> (v, 0)`` with the labels fixed,
        so that the shared solver (and its NFE counter) can integrate it; y is empty."""
        def velocity(x: Tensor, y: Tensor, t: Tensor):
            return model(x, labels, t), torch.zeros_like(y)
        return velocity

    def generate(self, model, labels: Tensor, data_shape: tuple[int, ...], *, steps: int = 25,
                 solver: str = "euler", generator: torch.Generator | None = None) -> Tensor:
        """Samples of the given classes: N(0, I) at t = 0 integrated to t = 1."""
        noise = torch.randn((len(labels), *data_shape), generator=generator).to(labels.device)
        empty = noise.new_zeros(len(labels), 0)
        x, _ = integrate(self.as_joint(model, labels), noise, empty, direction="generate",
                         steps=steps, solver=solver)
        return x
