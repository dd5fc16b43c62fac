"""Baselines retrained with the same backbone, data, budget and evaluation as SymmFlow."""
