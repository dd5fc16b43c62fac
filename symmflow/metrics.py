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

Each metric lies in a module of its own (:mod:`symmflow.segmentation_iou`, :mod:`symmflow.frechet`,
:mod:`symmflow.joint_frechet`, :mod:`symmflow.fid_inception`, :mod:`symmflow.lpips_metric`), the
judges' weights files and :class:`MetricUnavailable` in :mod:`symmflow.judge_weights`; this module
names their protocols and keeps their names for its callers: each metric's module is imported when one
of its names is first asked for (a table that computes none of them imports none).
"""

from __future__ import annotations

import importlib

from symmflow.judge_weights import (ALEXNET_FILE, INCEPTION_FILE, PYTORCH_FID_FILE, MetricUnavailable,  # noqa: F401
                                    torch_file_problem)

MODULE_OF = {
    **dict.fromkeys(("inception_features", "inception_missing", "pytorch_fid_features", "pytorch_fid_missing",
                     "pytorch_fid_network"), "symmflow.fid_inception"),
    **dict.fromkeys(("feature_statistics", "frechet_distance", "reference_statistics"), "symmflow.frechet"),
    **dict.fromkeys(("JointFeatures", "class_embedding", "joint_reference_statistics", "mask_layout"),
                    "symmflow.joint_frechet"),
    **dict.fromkeys(("LPIPS", "lpips_missing"), "symmflow.lpips_metric"),
    **dict.fromkeys(("SegmentationIoU", "miou"), "symmflow.segmentation_iou"),
}
"""Each name this module keeps for its callers -> the metric's module that defines it."""


def __getattr__(name: str):
    """A metric's name, from its module (imported now, the first time one of its names is asked for)."""
    if name not in MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(MODULE_OF[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *MODULE_OF])

CLEAN_FID, PYTORCH_FID = "FID (clean-fid)", "FID (pytorch-fid)"
#: The Table 2 / 4 / 5 protocol names recorded with each cell.
PROTOCOLS = {
    "mIoU": "dataset-level confusion matrix (torchmetrics MulticlassJaccardIndex), ignore index excluded",
    CLEAN_FID: "clean-fid Inception pool features, generated samples against the evaluation images",
    PYTORCH_FID: "pytorch-fid Inception pool features of the samples quantised to 8 bits (as the authors' saved "
                 "PNGs), bilinearly resized to 299 px, against the evaluation images",
    "LPIPS": "AlexNet LPIPS between each sample and its own ground-truth image (the reference's protocol)",
    "LPIPS-diversity": "AlexNet LPIPS between pairs of samples of the same mask (SPADE/SDM convention)",
}
