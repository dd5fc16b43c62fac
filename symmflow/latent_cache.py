"""The VAE posterior of every training image, computed once and stored (latent caching).

The authors encode each training batch anew at every step: the image by a *sample* of the VAE
posterior, the mask by the posterior's *mode* of its palette image after the per-step
dequantisation noise (notes section 6).  The image's posterior does not change from step to
step, so its moments (mean and log-variance, :class:`diffusers` ``latent_dist``) are computed
once per data set, VAE and resolution (:func:`build`) and a fresh sample is drawn from them
at every step (:class:`CachedImages`, :func:`drawn`): the same distribution as the per-step
encoding, without the encoder pass.  Either way the sample's standard-normal noise comes from a
generator keyed by the training seed, the process and the batch's place in the stream
(:func:`posterior_noise`), so a training stopped and rerun (which skips the batches consumed)
draws what the uninterrupted one drew, whatever the data loader's workers.  The mask's latent
depends on noise drawn in pixel space before the encoder, so no stored moment reproduces it:
masks stay encoded per step (the measured cost of both halves: ``python -m studies.latent_cache``).

Exact only where a training pair's crop is the same every time (:func:`~symmflow.data.segmentation.fixed_crop`:
square pairs, as CelebAMask-HQ's 512 px masks); a data set with random crops (COCO-Stuff) is
refused with the reason at its first such pair.  The file is ``<folder>/latents-<hash>.npy`` (memory-mapped by every
data-loading worker), its hash over the VAE's and the data's identities and the resolution,
written atomically; a damaged or short file is set aside and rebuilt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from symmflow.data.segmentation import crop_pair, fixed_crop
from symmflow.distributed import Shard, keyed_generator
from symmflow.errors import UsageError
from symmflow.outputs import atomic_stream, set_aside, write_atomic


def cache_file(folder: Path, identity: dict) -> Path:
    """Where the moments of the data and VAE of ``identity`` are kept."""
    import hashlib

    text = json.dumps(identity, sort_keys=True, default=str)
    return Path(folder) / f"latents-{hashlib.sha1(text.encode()).hexdigest()[:16]}.npy"


def random_crop(pairs, progress: bool = False) -> str | None:
    """Why ``pairs``' image latents cannot be cached -- the first training pair whose crop is
    random, named in one line -- or None; sizes read from the masks' headers
    (:meth:`~symmflow.data.segmentation.PairDataset.mask_size`),
    so every pair is checked before any work."""
    from tqdm.auto import tqdm

    for i in tqdm(range(len(pairs)), desc="checking training crops", disable=not progress, leave=False):
        height, width = pairs.mask_size(i)
        if not fixed_crop(height, width, pairs.size):
            return (f"latents cannot be cached: training pair {pairs.items[i]!r} is {height}x{width}, so its "
                    f"{pairs.size} px training crop is random; train without --cache-latents")
    return None


def fixed_image(pairs, i: int) -> Tensor:
    """The image of training pair ``i`` of ``pairs`` (a :class:`~symmflow.data.segmentation.PairDataset`)
    as its one training crop gives it; a one-line error where that crop is random."""
    image, mask = pairs.uncropped(i)
    if not fixed_crop(*mask.shape, pairs.size):
        raise UsageError(f"latents cannot be cached: training pair {pairs.items[i]!r} is {mask.shape[0]}x"
                         f"{mask.shape[1]}, so its {pairs.size} px training crop is random; train without "
                         "--cache-latents")
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


def load(path: Path, count: int, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """The stored moments, memory-mapped; None when absent.  A damaged file, or one of another
    length or -- given ``shape``, one latent's (C, h, w) -- of moments of another shape than
    (2C, h, w), is set aside with the reason in one line (then rebuilt)."""
    if not path.is_file():
        return None
    try:
        moments = np.load(path, mmap_mode="r")
        if moments.ndim != 4 or len(moments) != count:
            raise ValueError(f"{len(moments)} images stored, {count} expected")
        if shape is not None and tuple(moments.shape[1:]) != (2 * shape[0], *shape[1:]):
            raise ValueError(f"moments of shape {tuple(moments.shape[1:])} stored, {(2 * shape[0], *shape[1:])} "
                             "expected")
        return moments
    except (OSError, ValueError, EOFError) as error:  # EOFError: an emptied file
        set_aside(path, str(error) or type(error).__name__)
        return None


def cached_moments(pairs, vae, folder: Path, identity: dict, batch: int, device: str,
                   progress: bool = True, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The moments of ``pairs``' images under ``vae``: read when stored (and of ``shape``, see
    :func:`load`), else built first."""
    path = cache_file(folder, identity)
    moments = load(path, len(pairs), shape)
    if moments is None:
        build(pairs, vae, path, batch, device, progress)
        moments = load(path, len(pairs), shape)
    return moments


class CachedImages(Dataset):
    """The training pairs with each image replaced by its stored posterior, scaled by the VAE's
    scale: (mean, std) stacked on the channels, (2C, h, w) -- diffusers' ``DiagonalGaussianDistribution``
    of the moments (log-variance clamped as it clamps it).  The sample is drawn in the training
    process (:func:`drawn`), from noise keyed by the batch (:func:`posterior_noise`), not in the loader."""

    def __init__(self, pairs, moments: np.ndarray, scale: float):
        self.pairs, self.moments, self.scale = pairs, moments, scale

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

        _, mask = self.pairs[i]
        posterior = DiagonalGaussianDistribution(torch.from_numpy(np.array(self.moments[i]))[None])
        return torch.cat([posterior.mean, posterior.std], 1)[0] * self.scale, mask


def posterior_noise(batches: Iterable[tuple], shape: tuple[int, ...], seed: int,
                    shard: Shard = Shard()) -> Iterator[tuple]:
    """Every batch of ``batches`` with the standard-normal noise of its images' posterior samples
    appended, (rows, *shape): batch n's from :func:`~symmflow.distributed.keyed_generator` of the training ``seed``,
    this process's index and n -- one process draws what the first process of a launch draws."""
    for number, batch in enumerate(batches):
        noise = torch.randn((len(batch[0]), *shape), generator=keyed_generator(seed, "posterior", shard.index, number))
        yield (*batch, noise.to(batch[0].device))


def drawn(batches: Iterable[tuple]) -> Iterator[tuple[Tensor, Tensor]]:
    """(scaled posteriors of :class:`CachedImages`, masks, noise) -> (latents mean + std * noise, masks)."""
    for posteriors, masks, noise in batches:
        mean, std = posteriors.chunk(2, dim=1)
        yield mean + std * noise.to(mean.dtype), masks
