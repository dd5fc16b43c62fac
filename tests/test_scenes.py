"""The offline scene set: deterministic, disjoint digits, masks that match the drawn digits."""

import numpy as np
import torch

from symmflow.data import scenes
from symmflow.data.mnist import bundled_digits, stratified_split
from symmflow.data.scenes import NUM_CLASSES, SceneConfig, build_scenes

SMALL = SceneConfig(train_scenes=40, test_scenes=20)


def test_deterministic_and_in_range():
    a_img, a_mask = build_scenes("test", SMALL)
    b_img, b_mask = build_scenes("test", SMALL)
    assert torch.equal(a_img, b_img) and torch.equal(a_mask, b_mask)
    assert a_img.shape == (20, 3, 32, 32) and a_mask.shape == (20, 32, 32)
    assert a_img.min() >= -1 and a_img.max() <= 1
    assert a_mask.min() >= 0 and a_mask.max() < NUM_CLASSES
    assert (a_mask.flatten(1) > 0).any(1).all()  # every scene holds at least one digit


def test_train_and_test_draw_from_disjoint_digits(monkeypatch):
    used = {}
    real = scenes._shrunk_digits

    def spy(images, size):
        used.setdefault("pools", []).append(images.copy())
        return real(images, size)

    monkeypatch.setattr(scenes, "_shrunk_digits", spy)
    build_scenes("train", SMALL)
    build_scenes("test", SMALL)
    digits, labels = bundled_digits()
    train, test = stratified_split(labels)
    assert np.array_equal(used["pools"][0], digits[train])
    assert np.array_equal(used["pools"][1], digits[test])
    assert not set(train) & set(test)


def test_mask_marks_the_digit_strokes():
    images, masks = build_scenes("train", SMALL)
    # pixels of one digit class differ in colour from the background around them
    for image, mask in zip(images[:10], masks[:10]):
        fg, bg = image[:, mask > 0].mean(1), image[:, mask == 0].mean(1)
        assert (fg - bg).abs().max() > 0.05


def test_unseen_scenes_extend_the_test_set_without_touching_the_evaluation_set():
    """The sanity ladder's start: more test scenes by the same generator; the evaluation set is a
    prefix of any longer build, so the scenes beyond it were never evaluated nor trained on."""
    from benchmarks.datasets import SceneData

    config = SceneConfig(train_scenes=4, test_scenes=6)
    data = SceneData(config, eval_samples=4)
    images, masks = data.unseen_pairs(5)
    longer, longer_masks = build_scenes("test", SceneConfig(train_scenes=4, test_scenes=9))
    assert images.shape == (5, 3, config.size, config.size) and torch.equal(images, longer[4:])
    assert torch.equal(masks, longer_masks[4:]) and torch.equal(data.test_images, longer[:4])
