"""Symmetrical Flow Matching: one flow model that generates, segments and classifies.

The method as a library: the symmetric probability path (:mod:`symmflow.path`), label
codecs (:mod:`symmflow.codecs`), the ODE integrator with NFE counting
(:mod:`symmflow.solver`), models, data and the training loop.

For people who use a trained model, the Python API (:mod:`symmflow.api`)::

    import symmflow

    model = symmflow.load("model/")
    masks = model.segment(images, steps=25, seed=0, batch_size=16)

Its names load on first use, so ``import symmflow`` stays light.
"""

__version__ = "0.1.0"

EXPORTS = {
    "load": "symmflow.api",  # a model folder -> a Model
    "Model": "symmflow.api",  # segment, classify, synthesise, sample, save
    "SymmFlowModel": "symmflow.pretrained",  # the network as a diffusers model (save_pretrained / from_pretrained)
    "save_model": "symmflow.pretrained",  # a trained network and its settings -> a model folder
    "train_model": "symmflow.training",  # image folders -> a trained model folder, as symmflow train
    "TrainOptions": "symmflow.training",  # the settings of train_model and symmflow train
    "evaluate": "symmflow.evaluation",  # a model folder on labelled images -> its metric and interval
    "UsageError": "symmflow.errors",  # bad input: one line naming the problem and the remedy
}
"""The public names and the module each comes from."""

__all__ = ["__version__", *EXPORTS]


def __getattr__(name: str):
    if name in EXPORTS:
        import importlib

        return getattr(importlib.import_module(EXPORTS[name]), name)
    raise AttributeError(f"module 'symmflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *EXPORTS})
