"""Metrics against values worked out by hand, and honest refusals where weights are missing."""

import numpy as np
import pytest
import torch

from symmflow import metrics


def test_miou_ignores_the_ignore_class_and_accumulates_over_batches():
    target = torch.tensor([[0, 0, 1, 1, 2, 2]])
    pred = torch.tensor([[1, 2, 1, 0, 2, 2]])
    # class 1: tp 1, fn 1 -> 0.5; class 2: tp 2 -> 1.0; background ignored (its false positives too)
    assert metrics.miou(pred, target, 3, ignore_index=0) == pytest.approx(0.75)
    streaming = metrics.SegmentationIoU(3, ignore_index=0)
    streaming.update(pred[:, :3], target[:, :3])
    streaming.update(pred[:, 3:], target[:, 3:])
    assert streaming.compute() == pytest.approx(0.75)  # dataset-level, not a mean of batch scores


def test_miou_with_an_out_of_range_ignore_value():
    target, pred = torch.tensor([[255, 0, 1]]), torch.tensor([[1, 0, 1]])
    assert metrics.miou(pred, target, 2, ignore_index=255) == pytest.approx(1.0)
    # predicting "unlabelled" (COCO-Stuff's 255) on a labelled pixel is a miss, not an error
    target, pred = torch.tensor([[0, 0, 1, 1]]), torch.tensor([[0, 255, 1, 1]])
    assert metrics.miou(pred, target, 2, ignore_index=255) == pytest.approx((0.5 + 1.0) / 2)


@pytest.mark.parametrize("num_classes, ignore_index", [(5, 0), (5, None), (4, 255)])
@pytest.mark.parametrize("seed", range(3))
def test_miou_matches_sklearn_jaccard(num_classes, ignore_index, seed):
    """Against an independent computation: sklearn's per-class Jaccard over the pixels whose
    target is not ignored, averaged over the classes present there (prediction or target)."""
    jaccard_score = pytest.importorskip("sklearn.metrics").jaccard_score
    rng = np.random.default_rng(seed)
    outside = ignore_index is not None and ignore_index >= num_classes
    ids = list(range(num_classes)) + ([ignore_index] if outside else [])
    shape = [(1, 2, 2), (2, 3, 3), (3, 9, 9)][seed]  # small maps leave some classes absent
    pred, target = (rng.choice(ids, shape) for _ in range(2))
    keep = target != ignore_index if ignore_index is not None else np.ones_like(target, bool)
    t, p = target[keep], pred[keep]
    present = sorted((set(t) | set(p)) - {ignore_index})
    expected = jaccard_score(t, p, labels=present, average=None, zero_division=0).mean()
    assert metrics.miou(torch.from_numpy(pred), torch.from_numpy(target), num_classes,
                        ignore_index) == pytest.approx(expected, abs=1e-6)


def test_frechet_distance_closed_form():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([2.0, 1.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 4.0])
    # diagonal case: |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(4.0 + 4.0)
    assert metrics.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("samples", [40, 400])  # fewer samples than features: singular covariances
def test_frechet_distance_equals_the_matrix_root_formula(samples):
    from scipy import linalg

    rng = np.random.default_rng(samples)
    a = rng.normal(size=(samples, 64)) @ rng.normal(size=(64, 64)) / 8
    b = rng.normal(size=(samples, 64)) * 1.3 + 0.1
    (mu1, s1), (mu2, s2) = metrics.feature_statistics(a), metrics.feature_statistics(b)
    root = linalg.sqrtm(s1 @ s2).real
    expected = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_reference_statistics_are_cached(tmp_path):
    calls = []

    def images():
        calls.append(1)
        yield torch.randn(50, 3)

    cache = tmp_path / "ref.npz"
    mu, sigma = metrics.reference_statistics(cache, images, lambda x: x)
    again = metrics.reference_statistics(cache, images, lambda x: x)
    assert cache.is_file() and len(calls) == 1
    np.testing.assert_allclose(mu, again[0]) and np.testing.assert_allclose(sigma, again[1])


def test_the_joint_distance_sees_a_condition_shuffled_that_the_frechet_distance_cannot(tmp_path):
    """FJD (DeVries et al. 2019): alpha is the ratio of the mean norms; pairs against their own
    statistics score near zero, the same images with their masks shuffled score far higher, while
    the image-only distance of the two is one number."""
    generator = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 3, (400, 1, 1), generator=generator).expand(-1, 8, 8)  # one class per image
    images = masks[:, None] - 1.0 + 0.1 * torch.randn(400, 1, 8, 8, generator=generator)  # its brightness says which
    features = lambda x: x.flatten(1)[:, ::4]  # noqa: E731 -- which pixels are bright: the image's content
    embed = lambda m: metrics.mask_layout(m, 3, grid=2)  # noqa: E731
    calls = []

    def pairs():
        calls.append(1)
        yield images, masks

    cache = tmp_path / "joint.npz"
    joint, reference = metrics.joint_reference_statistics(cache, pairs, features, embed)
    again, cached = metrics.joint_reference_statistics(cache, pairs, features, embed)
    assert len(calls) == 1 and again.alpha == joint.alpha and np.allclose(reference[1], cached[1])
    assert joint.alpha == pytest.approx(float(features(images).norm(dim=1).mean() / embed(masks).norm(dim=1).mean()))
    shuffled = masks.roll(1, 0)

    def fjd(conditions):
        return metrics.frechet_distance(*metrics.feature_statistics(joint(images, conditions).numpy()), *reference)

    assert fjd(masks) == pytest.approx(0, abs=1e-6) and fjd(shuffled) > 0.2 * np.trace(reference[1])
    # at alpha 0 the joint distance is the image-only Frechet distance
    half = metrics.JointFeatures(features, embed, 0.0)
    joint_half = [metrics.feature_statistics(half(images[i::2], shuffled[i::2]).numpy()) for i in (0, 1)]
    image_half = [metrics.feature_statistics(features(images[i::2]).double().numpy()) for i in (0, 1)]
    assert metrics.frechet_distance(*joint_half[0], *joint_half[1]) == pytest.approx(
        metrics.frechet_distance(*image_half[0], *image_half[1]), rel=1e-6)


def test_a_mask_layout_holds_each_class_share_per_cell_and_no_ignored_pixel():
    masks = torch.zeros(1, 4, 4, dtype=torch.long)
    masks[0, :2, :2] = 2
    masks[0, 3, 3] = 255  # an ignore id: no class
    layout = metrics.mask_layout(masks, 3, grid=2).reshape(3, 2, 2)
    assert layout[2, 0, 0] == 1 and layout[0, 0, 0] == 0 and layout[0, 1, 1] == 0.75 and layout[:, 1, 1].sum() == 0.75
    assert torch.equal(metrics.class_embedding(torch.tensor([2]), 3), torch.tensor([[0.0, 0.0, 1.0]]))


def test_missing_libraries_or_weights_give_a_reason(tmp_path):
    for check in (metrics.inception_missing, metrics.lpips_missing):
        reason = check(tmp_path)
        assert reason and "\n" not in reason
    with pytest.raises(metrics.MetricUnavailable):
        metrics.LPIPS(tmp_path)
