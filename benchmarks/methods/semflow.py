"""SemFlow in the harness: the retrained rectified flow between image and mask (:mod:`baselines.semflow`)."""

from __future__ import annotations

from baselines import semflow
from benchmarks.methods.base import Method, Problem
from symmflow.models.pixel_unet import pixel_unet


class SemFlowMethod(Method):
    key, label = "semflow", "SemFlow"

    def __init__(self, problem: Problem, settings=None):
        super().__init__(problem, settings)
        self.space = problem.space.with_palette(semflow.perturbation_codec(problem.palette))
        self.codec = self.space.mask_codec

    def build(self):
        p = self.problem
        if p.pretrained is not None:
            return semflow.latent_semflow(p.pretrained, p.palette, p.embedding_cache)[0]
        channels = self.space.state_shape(p.size, p.size)[0]
        return semflow.SemFlowVelocity(pixel_unet(p.unet, channels, channels, p.size))

    def loss(self, model, batch):
        """The rectified-flow loss on (images, masks), or on (images, masks, the posterior noise of
        the images) from the latent training stream (:func:`symmflow.latent_cache.posterior_noise`)."""
        images, masks, *noise = batch
        x = self.space.encode_image(images, noise=noise[0] if noise else None)
        return semflow.semflow_loss(model, x, self.codec.encode(masks))

    def segment(self, model, images, steps, solver, generator):
        """Class maps of ``images``; a latent image's posterior sample drawn from ``generator``."""
        return semflow.segment(model, self.space.encode_image(images, generator), self.codec, steps=steps,
                               solver=solver)

    def synthesise(self, model, masks, steps, solver, generator):
        x = semflow.synthesise(model, masks, self.codec, steps=steps, solver=solver, generator=generator)
        return self.space.decode_image(x)
