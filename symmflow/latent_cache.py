"""The VAE posterior of every training image, computed once and stored (latent caching).

The authors encode each training batch anew at every step: the image by a *sample* of the VAE
posterior, the mask by the posterior's *mode* of its palette image after the per-step
dequantisation noise (notes section 6).  The image's posterior does not change from step to
step, so its moments (mean and log-variance, :class:`diffusers` ``latent_dist``) are computed
once per data set, VAE and resolution (:func:`build`) and a fresh sample is drawn from them
at every step (:class:`CachedImages`): the same distribution as the per-step encoding, without
the encoder pass.  The mask's latent depends on noise drawn in pixel space before the encoder,
so no stored moment reproduces it: masks stay encoded per step (the measured cost of both
halves: ``python -m studies.latent_cache``).

Exact only where a training pair's crop is the same every time (:func:`~symmflow.data.segmentation.fixed_crop`:
square pairs, as CelebAMask-HQ's 512 px masks); a data set with random crops (COCO-Stuff) is
refused with the reason at its first such pair.  The file is ``<folder>/latents-<hash>.npy`` (memory-mapped by every
data-loading worker), its hash over the VAE's and the data's identities and the resolution,
written atomically; a damaged or short file is set aside and rebuilt.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from symmflow.data.segmentation import crop_pair, fixed_crop
from symmflow.errors import UsageError
from symmflow.outputs import atomic_stream, set_aside, write_atomic


def cache_file(folder: Path, identity: dict) -> Path:
    """Where the moments of the data and VAE of ``identity`` are kept."""
    import hashlib

    text = json.dumps(identity, sort_keys=True, default=str)
    return Path(folder) / f"latents-{hashlib.sha1(text.encode()).hexdigest()[:16]}.npy"


def fixed_image(pairs, i: int) -> Tensor:
    """The image of training pair ``i`` of ``pairs`` (a :class:`~symmflow.data.segmentation.PairDataset`)
    as its one training crop gives it; a one-line error where that crop is random."""
    image, mask = pairs.uncropped(i)
    if not fixed_crop(*mask.shape, pairs.size):
        raise UsageError(f"latents cannot be cached: training pair {pairs.items[i]!r} is {mask.shape[0]}x"
                         f"{mask.shape[1]}, so its {pairs.size} px training crop is random; train without --cache-latents")
    return crop_pair(image, mask, pairs.size, train=False)[0]  # the centre: the only crop there is


@torch.no_grad()
def build(pairs, vae, path: Path, batch: int, device: str, progress: bool = True) -> Path:
    """Encode every training image of ``pairs`` in index order and store the posterior's
    parameters (N, 2C, h, w) as float32 at ``path``, atomically; refused at the first pair whose
    training crop is random, with nothing written."""
    from tqdm.auto import tqdm

    parts = []
    for start in tqdm(range(0, len(pairs), batch), desc="caching image latents", disable=not progress):
        images = torch.stack([fixed_image(pairs, i) for i in range(start, min(start + batch, len(pairs)))])
        parts.append(vae.encode(images.to(device, vae.dtype)).latent_dist.parameters.float().cpu().numpy())
    moments = np.concatenate(parts)
    with atomic_stream(path) as f:
        np.save(f, moments)
    write_atomic(path.with_suffix(".json"), json.dumps({"pairs": len(pairs), "shape": list(moments.shape)}))
    return path


def load(path: Path, count: int) -> np.ndarray | None:
    """The stored moments, memory-mapped; None when absent, and a damaged file or one of another
    length is set aside (then rebuilt)."""
    if not path.is_file():
        return None
    try:
        moments = np.load(path, mmap_mode="r")
        if moments.ndim != 4 or len(moments) != count:
            raise ValueError(f"{len(moments)} images stored, {count} expected")
        return moments
    except (OSError, ValueError) as error:
        set_aside(path, str(error))
        return None


def cached_moments(pairs, vae, folder: Path, identity: dict, batch: int, device: str,
                   progress: bool = True) -> np.ndarray:
    """The moments of ``pairs``' images under ``vae``: read when stored, else built first."""
    path = cache_file(folder, identity)
    moments = load(path, len(pairs))
    if moments is None:
        build(pairs, vae, path, batch, device, progress)
        moments = load(path, len(pairs))
    return moments


class CachedImages(Dataset):
    """The training pairs with each image replaced by a latent drawn afresh from its stored
    posterior (diffusers' ``DiagonalGaussianDistribution.sample``, times the VAE's scale -- the
    per-step encoding's distribution) and its mask as the pairs give it.  The noise comes from the
    torch RNG, which the training loader seeds per epoch and worker."""

    def __init__(self, pairs, moments: np.ndarray, scale: float):
        self.pairs, self.moments, self.scale = pairs, moments, scale

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

        _, mask = self.pairs[i]
        posterior = DiagonalGaussianDistribution(torch.from_numpy(np.array(self.moments[i]))[None])
        return posterior.sample()[0] * self.scale, mask
