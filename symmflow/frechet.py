"""The Frechet distance between Gaussians fitted to features -- the FID formula of Heusel et al. --
and the statistics of the reference images, cached to an ``.npz`` file (as EDM does).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from torch import Tensor

from symmflow.outputs import set_aside, write_atomic


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), the FID formula of Heusel et al.

    The trace of the root is the sum of the roots of the eigenvalues of S1 S2 (as torchmetrics
    computes it): the value of ``scipy.linalg.sqrtm``'s trace without the matrix root itself,
    the costly part at Inception's 2,048 features."""
    eigenvalues = np.linalg.eigvals(np.asarray(sigma1, dtype=np.float64) @ np.asarray(sigma2, dtype=np.float64))
    trace_root = np.sqrt(eigenvalues.astype(np.complex128)).real.sum()
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root)


def reference_statistics(cache: Path, images: Callable[[], Iterable[Tensor]],
                         features: Callable[[Tensor], Tensor], store: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Statistics of the reference images, read from ``cache`` (.npz) or computed and written there
    (atomically: several writers may race; ``store=False``: only read, never written); a damaged
    cache is moved aside and recomputed."""
    stored = read_statistics(cache, ("mu", "sigma"), store)
    if stored is not None:
        return stored["mu"], stored["sigma"]
    mu, sigma = feature_statistics(np.concatenate([features(batch).cpu().numpy() for batch in images()]))
    if store:
        write_statistics(cache, mu=mu, sigma=sigma)
    return mu, sigma


def read_statistics(cache: Path, names: tuple[str, ...], store: bool) -> dict | None:
    """The arrays ``names`` of ``cache``; None when absent or damaged (moved aside when ``store``)."""
    if not cache.is_file():
        return None
    try:
        with np.load(cache) as stored:
            return {name: stored[name] for name in names}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        if store:
            set_aside(cache, str(error))
    return None


def write_statistics(cache: Path, **arrays) -> None:
    """The arrays as one ``.npz`` file written to ``cache`` atomically (several writers may race)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(cache, buffer.getvalue())
