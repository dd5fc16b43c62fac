"""The synthesis metrics of Tables 2, 4 and 5 by name: which Frechet distances a run measures
(clean-fid's FID where its Inception can run, else a Frechet distance in the scene-set feature
network, ``FD-scenenet``; pytorch-fid's FID, the authors' protocol; the Frechet joint distance of
(sample, mask)), the feature network's key and seed, and the names the tables give a run's
Frechet distance, joint distance and judge's mIoU of synthesised scenes."""

from __future__ import annotations

from benchmarks import judges
from benchmarks.cells import RunOptions
from benchmarks.profiles import SegSynthSettings
from symmflow.metrics import CLEAN_FID, inception_missing
from symmflow.models.features import NAME as FEATURE_NAME

FEATURES = "scene-features"
REAL = "real"
"""The method key of the real-image rows: the floor and ceiling of the synthesis metrics."""
FRECHET_MEASURES = ("frechet", "pytorch-fid", "joint")
"""The Frechet distances of synthesis: the table's own (clean-fid's FID, else FD-scenenet),
pytorch-fid's FID (the authors' protocol), and the Frechet joint distance of (sample, mask)
(:class:`~symmflow.metrics.JointFeatures`, :func:`joint_metric`), which sees whether a sample
shows its mask."""
FEATURES_SEED = 0
"""The scene-set feature network is the synthesis metric's, so it is one network for every run
seed (as clean-fid's Inception is one set of weights): trained with seed 0, whatever the run's."""


def judge_metric(settings: SegSynthSettings, options: RunOptions) -> str:
    """The name of the judge's mIoU of synthesised scenes (:func:`benchmarks.judges.metric_name`):
    the run's SS U-Net in pixel space; in latent space only a supplied segmenter can judge."""
    return judges.metric_name("segmenter", "segmenter" in options.judges or settings.space == "latent")


def joint_embedding(settings: SegSynthSettings, options: RunOptions) -> str:
    """How the joint distance embeds an image: ``inception`` (clean-fid's, where it can run, and
    always in latent space), ``layout`` (of a supplied segmenter's segmentation, whose inside is
    unknown), else ``features`` (the SS U-Net's pooled middle block)."""
    if settings.space == "latent" or inception_missing(options.inception_dir) is None:
        return "inception"
    return "layout" if "segmenter" in options.judges else "features"


def joint_metric(settings: SegSynthSettings, options: RunOptions) -> str:
    """The Frechet joint distance's name, after its image embedding (:func:`joint_embedding`)."""
    embedding = joint_embedding(settings, options)
    if embedding == "inception":
        return "FJD (clean-fid Inception)"
    return f"FJD ({judges.judge_name('segmenter', embedding == 'layout')} {embedding})"


def synthesis_metric(settings: SegSynthSettings, options: RunOptions) -> str:
    """``FID (clean-fid)`` where clean-fid's Inception can run (and always in latent space, where
    nothing else stands in), else the named local Frechet distance."""
    if settings.space == "latent" or inception_missing(options.inception_dir) is None:
        return CLEAN_FID
    return f"FD-{FEATURE_NAME}"
