"""Baselines the paper compares against, on the same backbones, data and budgets as SymmFlow."""
