"""The sanity ladder: degradations that do what they say, verdicts against the noise, blind metrics found."""

import pytest
import torch

from studies import sanity_ladder


def test_degradations_do_what_they_say():
    generator = torch.Generator().manual_seed(0)
    flat = torch.full((2, 3, 16, 16), 0.3)
    assert torch.allclose(sanity_ladder.gaussian_blur(flat, 1.5), flat, atol=1e-6)
    noise = torch.randn(2, 3, 16, 16, generator=generator) * 0.5
    assert sanity_ladder.gaussian_blur(noise, 1.0).std() < 0.5 * noise.std()
    labels = torch.arange(8)
    shuffled = sanity_ladder.shuffle_labels(labels, 0.5, generator)
    assert (shuffled != labels).sum() == 4 and sorted(shuffled.tolist()) == labels.tolist()
    assert (sanity_ladder.shuffle_labels(labels, 1.0, generator) != labels).all()
    masks = torch.zeros(1, 16, 16, dtype=torch.long)
    masks[0, 4:8, 4:8] = 3
    images = torch.rand(1, 3, 16, 16, generator=generator) * 2 - 1
    erased = sanity_ladder.erase_scene_digits(images, masks, 1.0, generator)
    fill = images[0][:, masks[0] == 0].mean(1)
    assert torch.allclose(erased[0][:, masks[0] == 3], fill[:, None].expand(-1, 16))
    assert torch.equal(erased[0][:, masks[0] == 0], images[0][:, masks[0] == 0])
    blank = sanity_ladder.erase_digit_area(torch.ones(1, 1, 32, 32), 0.25, generator)
    assert (blank == -1).float().mean() == pytest.approx(0.25, abs=0.02)


def test_the_ladder_finds_a_metric_blind_to_a_degradation():
    """A metric of the images alone cannot see masks shuffled between them, as a Frechet distance cannot."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(16, 3, 16, 16, generator=generator) * 2 - 1
    masks = torch.randint(0, 3, (16, 16, 16), generator=generator)
    base = images.clone()

    def distance(shown, _masks):  # of the pixels' distribution alone (1-D Wasserstein), as a Frechet distance is
        return float((shown.flatten().sort().values - base.flatten().sort().values).abs().mean())

    def agreement(shown, against):  # pixels of class 1 brighter than the rest, as the masks say
        return float(shown.mean(1)[against == 1].mean() - shown.mean(1)[against != 1].mean())

    images[:, :, :, :] = torch.where((masks == 1)[:, None], 0.8, -0.8) + 0.1 * images
    base = images.clone()
    blind = sanity_ladder.climb(sanity_ladder.Metric("toy", "distance", False, distance, (images, masks), ""),
                                "scenes", progress=False)
    assert (blind["blind_to"] == ["masks shuffled"] and blind["base"] == 0 and blind["noise_sd"] > 0
            and blind["noise_from"] == "bootstrap resamples")
    seeing = sanity_ladder.climb(sanity_ladder.Metric("toy", "agreement", True, agreement, (images, masks), ""),
                                 "scenes", progress=False)
    assert "masks shuffled" not in seeing["blind_to"]


def test_a_ladder_step_inside_the_noise_is_no_reversal_a_step_beyond_it_is_and_a_flat_ladder_is_blind():
    def sees(worse, tolerance):
        return sanity_ladder.sees(worse, [tolerance] * len(worse), tolerance)

    assert sees([0.1, 2.0, 5.0, 0.0], tolerance=0.5) == "monotone"  # saturated at the end (a judge at chance)
    assert sees([-0.3, 1.0, 3.0, 4.0], tolerance=0.5) == "monotone"  # a first step within the noise
    assert sees([-1.0, 3.0, 3.0, 3.0], tolerance=0.5) == "not monotone"  # a step clearly better, then worse
    assert sees([0.1, -0.1, 0.1, 0.1], tolerance=0.5) == "blind"  # never leaves the noise
    assert sees([-1.0, 0.2, 0.2, 0.2], tolerance=0.5) == "blind"  # better at the end than at the start
    # each step against its own noise: a step back tolerated where its change is noisy, not where it is steady
    assert sanity_ladder.sees([1.0, 2.0, -1.0], [0.2, 0.2, 1.5], 0.5) == "monotone"
    assert sanity_ladder.sees([1.0, 2.0, -1.0], [0.2, 0.2, 0.2], 0.5) == "not monotone"
    assert sanity_ladder.sees([1.0, 1.0, 1.0], [0.2, 0.2, 0.2], 3.5) == "blind"  # the whole climb within its noise


def test_a_hit_share_is_judged_by_the_exact_paired_test_on_the_images_a_step_changes():
    chance = sanity_ladder.chance
    assert chance(0, 0) == 1.0 and chance(3, 0) == pytest.approx(1 / 8) and chance(6, 1) == pytest.approx(8 / 128)
    assert chance(6, 1) > sanity_ladder.LEVEL > chance(7, 0)  # 6 gained, 1 lost is chance; 7 against 0 is not
    assert sanity_ladder.LEVEL == pytest.approx(0.02275, abs=1e-5)  # the level of two standard deviations
    # a judge that reads a digit's class from its brightness: it sees classes shuffled image by image
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(2).repeat(40)
    images = torch.where(labels[:, None, None, None] == 1, 0.5, -0.5) + 0.05 * torch.randn(80, 1, 8, 8,
                                                                                            generator=generator)

    def hits(x, y):
        return (x.mean((1, 2, 3)) > 0).long() == y

    metric = sanity_ladder.Metric("toy", "accuracy", True, lambda x, y: 100.0 * hits(x, y).float().mean().item(),
                                  (images, labels), "", hits=hits)
    record = sanity_ladder.climb(metric, "digits", progress=False)
    shuffled = record["degradations"]["classes shuffled"]
    assert record["base"] == 100.0 and shuffled["verdict"] == "monotone" and shuffled["total_lost"] > 20
    assert shuffled["values"][-1] < 60 and shuffled["total_gained"] == 0  # every digit started as a hit
    assert "Gaussian blur" in record["blind_to"]  # a blur leaves a brightness where it was
    assert "+0 -" in sanity_ladder.step_noise(shuffled) and "classes shuffled" not in record["blind_to"]
    # the record as a reader sees it: the metric's verdict in its heading, the images each step changed
    text = sanity_ladder.markdown({"metrics": [record], "provenance": {"git_commit": "abc", "device": "cpu"}})
    assert "## toy: accuracy (higher is better) -- **blind to Gaussian blur" in text
    assert "| classes shuffled | share 0.25 / 0.5 / 0.75 / 1 |" in text and "+0 -" in text
    assert sanity_ladder.plot({"metrics": [record]})[:8] == b"\x89PNG\r\n\x1a\n"


def test_stratified_halves_split_every_class_in_two_disjoint_halves():
    labels = torch.arange(5).repeat_interleave(6)
    first, second = sanity_ladder.stratified_halves(labels, torch.Generator().manual_seed(0))
    assert not set(first.tolist()) & set(second.tolist()) and len(first) + len(second) == len(labels)
    assert torch.equal(labels[first].bincount(), torch.full((5,), 3))
    again, _ = sanity_ladder.stratified_halves(labels, torch.Generator().manual_seed(1))
    assert not torch.equal(first.sort().values, again.sort().values)  # a fresh split, not the same one


def test_a_metric_with_fresh_draws_takes_its_noise_from_them():
    images, masks = torch.zeros(4, 3, 8, 8), torch.zeros(4, 8, 8, dtype=torch.long)
    offsets = iter(range(100))

    def fresh(generator):  # each draw scores higher by a constant: its level varies, its changes do not
        offset = float(next(offsets))
        return (lambda x, y: offset + float(x.std())), images, masks

    metric = sanity_ladder.Metric("toy", "spread", False, lambda x, y: float(x.std()), (images, masks), "",
                                  fresh, "fresh draws")
    record = sanity_ladder.climb(metric, "scenes", progress=False)
    values = torch.arange(sanity_ladder.RESAMPLES, dtype=torch.float64)
    assert record["noise_sd"] == pytest.approx(float(values.std())) and record["noise_from"] == "fresh draws"
    noise = record["degradations"]["additive noise"]
    # paired: the level cancels
    assert noise["step_sd"] == pytest.approx([0.0] * 4, abs=1e-9) and noise["verdict"] == "monotone"
    assert record["blind_to"] == ["Gaussian blur", "digits erased", "masks shuffled"]  # what leaves zeros alone
