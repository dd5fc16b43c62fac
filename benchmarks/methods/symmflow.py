"""SymmFlow in the harness: the library's method object (:class:`symmflow.method.SymmFlow`) on a problem."""

from __future__ import annotations

from benchmarks.methods.base import Method, Problem
from symmflow.codecs import PaletteCodec
from symmflow.errors import UsageError
from symmflow.method import AUTHORS, SymmFlow, SymmFlowSettings
from symmflow.spaces import PixelSpace
from symmflow.tasks import generate, predict


class SymmFlowMethod(Method):
    key, label = "symmflow", "SymmFlow"

    def __init__(self, problem: Problem, settings: SymmFlowSettings = AUTHORS):
        super().__init__(problem, settings)
        self.symmflow = SymmFlow(settings)
        p = problem
        if p.palette is None:  # classification: class ids
            self.codec = self.symmflow.class_codec(p.num_classes, p.size)
            self.label_shape = self.symmflow.label_shape(self.codec, p.size, dense=False)
            self.space = None
        else:  # segmentation: class maps, in the problem's space
            codec = self.symmflow.mask_codec(p.palette)
            if isinstance(codec, PaletteCodec):
                self.space = p.space.with_palette(codec)
            elif isinstance(p.space, PixelSpace):
                self.space = PixelSpace(p.palette, codec)
            else:
                raise UsageError("the per-class mask code runs in pixel space only; use label_code 'image'")
            self.codec = self.space.mask_codec
            self.label_shape = self.space.label_shape(p.size, p.size)

    @property
    def data_shape(self) -> tuple[int, ...]:
        if self.space is None:
            return (self.problem.channels, self.problem.size, self.problem.size)
        return self.space.state_shape(self.problem.size, self.problem.size)

    def build(self):
        p = self.problem
        if p.pretrained is not None:
            from symmflow.models.latent import latent_backbone

            return self.symmflow.velocity(latent_backbone(p.pretrained, p.embedding_cache), self.data_shape[0])
        return self.symmflow.network(p.unet, self.data_shape[0], self.label_shape, p.size)

    def _x(self, images, generator=None, noise=None):
        """The data state of ``images``: in latent space a posterior sample, its noise ``noise``
        or drawn from ``generator`` (:meth:`~symmflow.models.latent.LatentSpace.encode_image`)."""
        return images if self.space is None else self.space.encode_image(images, generator, noise)

    def loss(self, model, batch):
        """Eq. 3 on (images, labels), or on (images, masks, the posterior noise of the images) from
        the latent training stream (:func:`symmflow.latent_cache.posterior_noise`)."""
        images, labels, *noise = batch
        return self.symmflow.loss_on_labels(model, self._x(images, noise=noise[0] if noise else None), labels,
                                            self.codec)

    def segment(self, model, images, steps, solver, generator):
        """Class maps of ``images``; the posterior sample of a latent image and the label noise
        both drawn from ``generator``, in that order."""
        return predict(model, self._x(images, generator), self.codec, self.label_shape, steps=steps, solver=solver,
                       generator=generator)

    def classify(self, model, images, steps, solver, generator):
        labels, y = predict(model, images, self.codec, self.label_shape, steps=steps, solver=solver,
                            generator=generator, return_state=True)
        return labels, self.codec.scores(y)

    def synthesise(self, model, masks, steps, solver, generator):
        x = generate(model, masks, self.codec, self.data_shape, steps=steps, solver=solver, generator=generator)
        return self.space.decode_image(x)

    def generate(self, model, labels, steps, solver, generator):
        return generate(model, labels, self.codec, self.data_shape, steps=steps, solver=solver, generator=generator)
