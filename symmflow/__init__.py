"""Symmetrical Flow Matching: one flow model that generates, segments and classifies.

The method as a library: the symmetric probability path (:mod:`symmflow.path`), label
codecs (:mod:`symmflow.codecs`), the ODE integrator with NFE counting
(:mod:`symmflow.solver`), models, data and the training loop.
"""

__version__ = "0.1.0"
