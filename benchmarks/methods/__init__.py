"""The methods of the tables behind one small interface, by name (DomainBed's ALGORITHMS, for this paper).

A method is built for a :class:`Problem` (the data it learns and the network it runs on) with
its own settings, and gives

* ``build()`` -- its untrained network, and ``loss(model, batch)`` -- what training minimises
  on a batch of the data set's (images, labels or masks); with ``settings`` (its own settings,
  part of the network's identity in :func:`benchmarks.trained.trained_model`);
* whichever of these it can do, each on a trained network (``None`` where it cannot):
  ``segment(model, images, steps, solver, generator)`` -> class maps,
  ``synthesise(model, masks, steps, solver, generator)`` -> images in [-1, 1],
  ``classify(model, images, steps, solver, generator)`` -> (class ids, per-class scores),
  ``generate(model, labels, steps, solver, generator)`` -> images in [-1, 1].

Adding a method is one module here and one :func:`register_method` in :func:`_register_builtin`:
Table 2 has a row for every method that segments in the profile's space, Table 4 for every one
that synthesises, Table 3 for every one that classifies or generates (``classify_steps`` says how
its classification cells step, ``judges_samples`` whether it judges the generated images).
Several methods may share one trained network (``trains``: the Diffusion Classifier classifies
with the class-conditional flow-matching model).
"""

from __future__ import annotations

from benchmarks.methods.base import Method, Problem, pretrained_identity

__all__ = ["METHODS", "Method", "Problem", "pretrained_identity", "register_method"]

METHODS: dict[str, type[Method]] = {}
"""key -> method class, filled by :func:`register_method`."""


def register_method(method: type[Method]) -> type[Method]:
    """Add ``method`` to :data:`METHODS` under its ``key``; refused where the key is taken."""
    if not method.key or method.key in METHODS:
        raise ValueError(f"method key {method.key!r} is empty or registered twice")
    METHODS[method.key] = method
    return method


def _register_builtin() -> None:
    from benchmarks.methods import cross_entropy, diffusion_classifier, flow_matching, scene_features, semflow, ss
    from benchmarks.methods import symmflow

    for method in (ss.SSMethod, semflow.SemFlowMethod, symmflow.SymmFlowMethod, flow_matching.FlowMatchingMethod,
                   diffusion_classifier.DiffusionClassifierMethod, cross_entropy.CrossEntropyMethod,
                   scene_features.SceneFeaturesMethod):
        register_method(method)


_register_builtin()
