"""Evaluation metrics as thin wrappers over well-kept libraries, each with its protocol named.

* mIoU -- torchmetrics ``MulticlassJaccardIndex`` accumulated over the whole evaluation set
  (a dataset-level confusion matrix), with an ignore index: CelebAMask-HQ's background (0)
  and the scene set's background are ignored as in the reference, COCO-Stuff's unlabelled
  pixels (255) too (notes section 6).  Classes absent from both prediction and ground truth
  do not enter the mean.  An id that is neither a class nor the ignore id, predicted or in the
  ground truth, is a ``ValueError`` naming it.
* FID -- ``FID (clean-fid)``: clean-fid's Inception (``inception-2015-12-05.pt``) when
  clean-fid imports and the weights file lies in the folder given; otherwise a Frechet distance
  in a named local feature extractor, reported under that name (``FD-<name>``), never as FID.
  Beside it ``FID (pytorch-fid)``, the authors' protocol (reference notes section 6): pytorch-fid's
  Inception (``pt_inception-2015-12-05-6726825d.pth``) on the samples as its PNG files hold them
  (8 bits per channel), where that file lies in the same folder.  Reference statistics are
  cached to an ``.npz`` file (as EDM does).
* LPIPS (AlexNet) when the ``lpips`` package imports and its backbone weights are on disk:
  ``LPIPS`` is the reference's protocol (each sample against its own ground-truth image),
  ``LPIPS-diversity`` the usual one (mean distance between samples of the same mask).

A metric that cannot run here is reported through :class:`MetricUnavailable`, whose message
is the reason a skipped cell records.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import Tensor

from symmflow.images import to_uint8
from symmflow.outputs import set_aside, write_atomic

INCEPTION_FILE = "inception-2015-12-05.pt"
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
CLEAN_FID, PYTORCH_FID = "FID (clean-fid)", "FID (pytorch-fid)"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
#: The Table 2 / 4 / 5 protocol names recorded with each cell.
PROTOCOLS = {
    "mIoU": "dataset-level confusion matrix (torchmetrics MulticlassJaccardIndex), ignore index excluded",
    CLEAN_FID: "clean-fid Inception pool features, generated samples against the evaluation images",
    PYTORCH_FID: "pytorch-fid Inception pool features of the samples quantised to 8 bits (as the authors' saved "
                 "PNGs), bilinearly resized to 299 px, against the evaluation images",
    "LPIPS": "AlexNet LPIPS between each sample and its own ground-truth image (the reference's protocol)",
    "LPIPS-diversity": "AlexNet LPIPS between pairs of samples of the same mask (SPADE/SDM convention)",
}


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed here (library or weights missing); the message says why."""


# ---------------------------------------------------------------- segmentation


class SegmentationIoU:
    """Streaming mIoU: ``update(pred, target)`` per batch, ``compute()`` once at the end."""

    def __init__(self, num_classes: int, ignore_index: int | None):
        from torchmetrics.classification import MulticlassJaccardIndex

        self.num_classes, self.ignore_index = num_classes, ignore_index
        # an ignore id outside the classes (COCO-Stuff's 255) becomes one extra, ignored class,
        # as the reference's 172 classes: a prediction of "unlabelled" then counts as a miss
        self.outside = ignore_index if ignore_index is not None and ignore_index >= num_classes else None
        if self.outside is not None:
            ignore_index, num_classes = num_classes, num_classes + 1
        self.metric = MulticlassJaccardIndex(num_classes=num_classes, ignore_index=ignore_index,
                                             average="macro")

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch; an id that is neither a class nor the ignore id is a ``ValueError``."""
        pred, target = pred.long(), target.to(pred.device).long()
        if self.metric.device != pred.device:  # its state where the predictions are: NCCL syncs GPU tensors
            self.metric.to(pred.device)
        self._check_ids(pred, "predicted")
        self._check_ids(target, "target")
        if self.outside is not None:
            extra = self.metric.num_classes - 1
            pred, target = (pred.masked_fill(pred == self.outside, extra),
                            target.masked_fill(target == self.outside, extra))
        self.metric.update(pred, target)

    def compute(self) -> float:
        return float(self.metric.compute())

    def _check_ids(self, ids: Tensor, which: str) -> None:
        """torchmetrics would count an unknown id in another class's cell or fail obscurely.
        A prediction may be the ignore id: a palette codec decodes COCO-Stuff's unlabelled colour
        to 255, a miss on a labelled pixel."""
        bad = (ids < 0) | (ids >= self.num_classes)
        if self.ignore_index is not None:
            bad &= ids != self.ignore_index
        if bad.any():
            raise ValueError(f"{which} id {int(ids[bad][0])} is neither a class (0-{self.num_classes - 1}) nor the "
                             f"ignore id ({self.ignore_index}); check num_classes and ignore_index")


def miou(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None) -> float:
    metric = SegmentationIoU(num_classes, ignore_index)
    metric.update(pred, target)
    return metric.compute()


# ---------------------------------------------------------------- Frechet distance


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
    stored = _read_statistics(cache, ("mu", "sigma"), store)
    if stored is not None:
        return stored["mu"], stored["sigma"]
    mu, sigma = feature_statistics(np.concatenate([features(batch).cpu().numpy() for batch in images()]))
    if store:
        _write_statistics(cache, mu=mu, sigma=sigma)
    return mu, sigma


def _read_statistics(cache: Path, names: tuple[str, ...], store: bool) -> dict | None:
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


def _write_statistics(cache: Path, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(cache, buffer.getvalue())


# ---------------------------------------------------------------- Frechet joint distance


def mask_layout(masks: Tensor, classes: int, grid: int = 4) -> Tensor:
    """A mask's condition embedding for the Frechet joint distance: the share of each class in each
    cell of a ``grid`` x ``grid`` layout, (B, classes * grid^2) -- which digit lies where; an id
    that is no class (an ignore id) counts for none."""
    masks = masks.long().cpu()
    valid = (masks >= 0) & (masks < classes)
    one_hot = torch.nn.functional.one_hot(masks.where(valid, 0), classes).float() * valid[..., None]
    return torch.nn.functional.adaptive_avg_pool2d(one_hot.permute(0, 3, 1, 2), grid).flatten(1)


def class_embedding(labels: Tensor, classes: int) -> Tensor:
    """A class label's condition embedding for the Frechet joint distance: its one-hot vector."""
    return torch.nn.functional.one_hot(labels.long().cpu(), classes).float()


class JointFeatures:
    """The Frechet joint distance's embedding of (image, condition) pairs (DeVries et al. 2019,
    "On the evaluation of conditional GANs"): [features(image), alpha * embed(condition)], alpha
    the reference set's mean image-embedding norm over its mean condition-embedding norm, so
    that both halves weigh alike.  A Frechet distance of the joint Gaussians then sees image
    quality *and* whether each image shows its condition (a shuffled condition moves it; FID
    cannot see that)."""

    def __init__(self, features: Callable[[Tensor], Tensor], embed: Callable[[Tensor], Tensor], alpha: float):
        self.features, self.embed, self.alpha = features, embed, alpha

    def __call__(self, images: Tensor, conditions: Tensor) -> Tensor:
        return torch.cat([self.features(images).cpu().double(), self.alpha * self.embed(conditions).double()], 1)

    @classmethod
    def fitted(cls, features, embed, images: Tensor, conditions: Tensor) -> tuple["JointFeatures", Tensor]:
        """The embedding with alpha fitted on the reference pairs, and their joint embeddings."""
        image_part = features(images).cpu().double()
        condition_part = embed(conditions).double()
        alpha = float(image_part.norm(dim=1).mean() / condition_part.norm(dim=1).mean())
        return cls(features, embed, alpha), torch.cat([image_part, alpha * condition_part], 1)


def joint_reference_statistics(cache: Path | None, pairs: Callable[[], Iterable[tuple[Tensor, Tensor]]],
                               features: Callable[[Tensor], Tensor], embed: Callable[[Tensor], Tensor],
                               store: bool = True) -> tuple[JointFeatures, tuple[np.ndarray, np.ndarray]]:
    """The joint embedding fitted on the reference (image, condition) pairs and their statistics,
    cached as :func:`reference_statistics` caches (alpha stored beside mu and sigma; ``cache``
    None: computed every time, for features that change with the run)."""
    stored = None if cache is None else _read_statistics(cache, ("mu", "sigma", "alpha"), store)
    if stored is not None:
        return JointFeatures(features, embed, float(stored["alpha"])), (stored["mu"], stored["sigma"])
    images, conditions = zip(*((i.cpu(), c.cpu()) for i, c in pairs()))
    joint, embedded = JointFeatures.fitted(features, embed, torch.cat(images), torch.cat(conditions))
    mu, sigma = feature_statistics(embedded.numpy())
    if store and cache is not None:
        _write_statistics(cache, mu=mu, sigma=sigma, alpha=np.float64(joint.alpha))
    return joint, (mu, sigma)


def _missing(package: str, module: str, weights: str, what: str, weights_dir: Path | None) -> str | None:
    """None when ``module`` imports and ``weights`` lie in ``weights_dir``; else the reason."""
    if importlib.util.find_spec(module) is None:
        return (f"{package} is not importable (it needs torchvision, which needs torch==2.14.1); "
                "install the paper profile's extra")
    if weights_dir is None or not (Path(weights_dir) / weights).is_file():
        return f"{what} weights {weights} not found in {weights_dir}; pass the folder holding them"
    return None


def torch_file_problem(file: Path, what: str) -> str | None:
    """Why the ``torch.save`` / TorchScript file ``file`` cannot load, read without loading it:
    empty, or neither the zip archive torch writes (whole: its central directory at the end, so a
    truncated download fails) nor torch's older pickle format; else None."""
    import zipfile

    with open(file, "rb") as f:
        head = f.read(2)
    if zipfile.is_zipfile(file) or head[:1] == b"\x80":  # a zip archive whole, or a pickle (protocol 2+)
        return None
    state = "empty" if not head else "damaged or truncated"
    return f"{what} weights {file} do not read ({state}); download them again"


def inception_missing(weights_dir: Path | None) -> str | None:
    """None when clean-fid's Inception can run; else the reason it cannot."""
    return _missing("clean-fid", "cleanfid", INCEPTION_FILE, "Inception", weights_dir)


def inception_features(weights_dir: Path, device: str = "cpu") -> Callable[[Tensor], Tensor]:
    """clean-fid's Inception pool features of images in [-1, 1] (clean resize to 299 px)."""
    reason = inception_missing(weights_dir)
    if reason:
        raise MetricUnavailable(reason)
    from cleanfid.inception_torchscript import InceptionV3W
    from cleanfid.resize import make_resizer

    model = InceptionV3W(str(weights_dir), download=False, resize_inside=False).to(device).eval()
    resize = make_resizer("PIL", False, "bicubic", (299, 299))

    @torch.no_grad()
    def features(images: Tensor) -> Tensor:
        rgb = to_uint8(images).numpy()
        batch = np.stack([resize(im) for im in rgb]).transpose(0, 3, 1, 2)
        return model(torch.from_numpy(batch).float().to(device))

    return features


def pytorch_fid_missing(weights_dir: Path | None) -> str | None:
    """None when pytorch-fid's Inception can run; else the reason it cannot."""
    return _missing("pytorch-fid", "pytorch_fid", PYTORCH_FID_FILE, "pytorch-fid Inception", weights_dir)


def pytorch_fid_network(weights_dir: Path) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3`` (2,048 pool features) with the weights file of ``weights_dir``.
    The package fetches its weights by URL; its loader is pointed at the local file while the
    network is built, and a file that is not its state dict is one line."""
    from unittest import mock

    from symmflow.errors import UsageError

    reason = pytorch_fid_missing(weights_dir)
    if reason:
        raise MetricUnavailable(reason)
    from pytorch_fid import inception

    file = Path(weights_dir) / PYTORCH_FID_FILE

    def local(url, *args, **kwargs):
        return torch.load(file, map_location="cpu", weights_only=True)

    try:
        with mock.patch.object(inception, "load_state_dict_from_url", local):
            model = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    except Exception as error:  # a truncated or foreign file: one line, nothing of it executed
        raise UsageError(f"{file} is not pytorch-fid's Inception state dict ({' '.join(str(error).split())[:200]}); "
                         f"pass the folder of the original {PYTORCH_FID_FILE}") from None
    return model.eval()


def pytorch_fid_features(weights_dir: Path, device: str = "cpu", quantise: str = "round") -> Callable[[Tensor], Tensor]:
    """pytorch-fid's 2,048 pool features of images in [-1, 1], each first quantised to 8 bits as
    the PNG files pytorch-fid reads (its ``ToTensor``: uint8 / 255) -- rounded, or truncated as the
    authors write them (:func:`symmflow.images.to_uint8`) -- then its own resize and scaling: the
    activations its ``get_activations`` computes from those files."""
    model = pytorch_fid_network(weights_dir).to(device)

    @torch.no_grad()
    def features(images: Tensor) -> Tensor:
        pixels = to_uint8(images, quantise).permute(0, 3, 1, 2).float().div(255).to(device)
        return model(pixels)[0].flatten(1)

    return features


# ---------------------------------------------------------------- LPIPS


def lpips_missing(weights_dir: Path | None) -> str | None:
    """None when AlexNet LPIPS can run; else the reason it cannot."""
    return _missing("lpips", "lpips", ALEXNET_FILE, "AlexNet", weights_dir)


def _load_alexnet_trunk(trunk: torch.nn.Module, file: Path) -> None:
    """Copy torchvision's AlexNet ``features.<i>.*`` tensors into lpips' slices (``slice<k>.<i>.*``)."""
    from symmflow.errors import UsageError

    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: one line, nothing of it executed
        raise UsageError(f"{file} is not torchvision's AlexNet state dict ({' '.join(str(error).split())[:200]}); "
                         "pass the folder of the original alexnet-owt-7be5be79.pth") from None
    mine = trunk.state_dict()
    wanted = {name: "features." + name.split(".", 1)[1] for name in mine}
    missing = [source for source in wanted.values() if source not in state or not isinstance(state[source], Tensor)]
    if missing:
        raise UsageError(f"{file} lacks AlexNet's {missing[0]}; pass the folder of the original "
                         "alexnet-owt-7be5be79.pth")
    trunk.load_state_dict({name: state[source] for name, source in wanted.items()})


class LPIPS:
    """AlexNet LPIPS on images in [-1, 1]: ``paired`` (sample vs its ground truth) and ``diversity``."""

    def __init__(self, weights_dir: Path, device: str = "cpu"):
        reason = lpips_missing(weights_dir)
        if reason:
            raise MetricUnavailable(reason)
        import lpips

        # the AlexNet trunk from the local torchvision file (tensors only), not torchvision's download;
        # the linear heads are the lpips package's own v0.1 weights
        self.net = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
        _load_alexnet_trunk(self.net.net, Path(weights_dir) / ALEXNET_FILE)
        self.net = self.net.to(device).eval()
        self.device = device

    @torch.no_grad()
    def paired(self, samples: Tensor, truth: Tensor) -> Tensor:
        return self.net(samples.to(self.device), truth.to(self.device)).flatten()

    @torch.no_grad()
    def diversity(self, groups: Tensor) -> Tensor:
        """Mean LPIPS over all pairs within each group (G, K, 3, H, W) -> (G,)."""
        k = groups.shape[1]
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        values = [self.net(groups[:, i].to(self.device), groups[:, j].to(self.device)).flatten()
                  for i, j in pairs]
        return torch.stack(values, 1).mean(1)
