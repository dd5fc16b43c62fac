"""Datasets: each yields images (or points) with integer labels or class maps."""
