"""The studies beside the tables: the step-curve test tells a sampler of the posterior from a reader
of its mean; the sanity ladder finds a metric blind to a degradation; the front knows which claims
a design keeps."""

import math

import pytest
import torch

from studies import front, front_record, sanity_ladder, step_curve
from symmflow.codecs import ToyScalarCodec, VectorClassCodec


# ---------------------------------------------------------------- the posterior map of the label codes


def test_the_posterior_of_a_code_inverts_its_mean():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]])
    codec = VectorClassCodec(3, scale=3.0)
    mean = codec.scale * (2 * p - 1)  # E[y | x]: +scale with probability p_c, -scale otherwise, noise of mean 0
    assert torch.allclose(codec.posterior(mean), p)
    assert torch.allclose(codec.posterior(torch.full((1, 3), -9.0)), torch.full((1, 3), 1 / 3))  # all clipped to 0
    empirical = codec.encode(torch.multinomial(p[:1], 20_000, replacement=True)[0]).mean(0, keepdim=True)
    assert torch.allclose(codec.posterior(empirical), p[:1], atol=0.02)
    toy = ToyScalarCodec()
    assert torch.allclose(toy.posterior(torch.tensor([[0.4], [-3.0]])), torch.tensor([[0.3, 0.7], [1.0, 0.0]]))


# ---------------------------------------------------------------- the step-curve test on known fields


class PosteriorFlow(torch.nn.Module):
    """The exact label velocity of the two-point label y in {-1, +1} with p(+1 | x) = sigmoid(4 x_0):
    y_t = (1 - t) y + t eps, v_y = E[eps - y | x, y_t].  Integrated from t = 1 it draws y from p(. | x);
    one Euler step reads E[y | x] = 2 p - 1."""

    def forward(self, x, y, t):
        p = torch.sigmoid(4 * x[:, :1])
        tt = t[:, None].clamp(min=1e-4)
        log_plus = torch.log(p) - (y - (1 - tt)) ** 2 / (2 * tt ** 2)
        log_minus = torch.log1p(-p) - (y + (1 - tt)) ** 2 / (2 * tt ** 2)
        mean_y = torch.tanh((log_plus - log_minus) / 2)
        mean_eps = (y - (1 - tt) * mean_y) / tt
        return torch.zeros_like(x), mean_eps - mean_y


class MeanReader(PosteriorFlow):
    """A field whose every Euler path ends at E[y | x]: the label state is pulled straight to it."""

    def forward(self, x, y, t):
        target = 2 * torch.sigmoid(4 * x[:, :1]) - 1
        return torch.zeros_like(x), (y - target) / t[:, None].clamp(min=1e-4)


def toy_model(field) -> step_curve.Model:
    generator = torch.Generator().manual_seed(0)
    points = torch.randn(4_000, 2, generator=generator)
    labels = torch.bernoulli(torch.sigmoid(4 * points[:, 0]), generator=generator).long()
    return step_curve.Model("known field", field, ToyScalarCodec(), (1,), points, labels, 4_000)


def test_the_step_curve_test_recognises_a_sampler_of_the_posterior():
    r = step_curve.test(toy_model(PosteriorFlow()), seed=0)
    assert r["accuracy_25"] == pytest.approx(r["expected_accuracy_of_a_sample"], abs=2.0)
    assert r["share_of_the_fall_a_sample_explains"] == pytest.approx(1.0, abs=0.3)
    assert r["tv_frequencies_to_p"] == pytest.approx(r["tv_floor"], abs=0.02) and r["tv_permuted"] > 4 * r["tv_floor"]
    assert r["accuracy_1"] > r["accuracy_25"] + 5  # reading the mean beats drawing a sample


def test_the_step_curve_test_recognises_a_reader_of_the_mean():
    r = step_curve.test(toy_model(MeanReader()), seed=0)
    assert r["accuracy_25"] == pytest.approx(r["accuracy_1"], abs=0.5)
    assert r["accuracy_25"] > r["expected_accuracy_of_a_sample"] + 5  # no fall for a sample to explain
    assert r["tv_frequencies_to_p"] > 1.8 * r["tv_floor"]  # the draws do not follow p


# ---------------------------------------------------------------- the sanity ladder


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


# ---------------------------------------------------------------- the front


def test_the_front_names_no_design_twice_and_holds_the_profiles_design():
    from dataclasses import replace

    from benchmarks.profiles import CLASSIFICATION, SEGSYNTH

    for dataset, designs in front.DESIGNS.items():
        settings = list(designs.values())
        assert len(set(settings)) == len(settings), f"two {dataset} designs resolve to the same settings"
    assert SEGSYNTH["cpu"].symmflow in front.DESIGNS["scenes"].values()
    assert CLASSIFICATION["cpu"][0].symmflow in front.DESIGNS["mnist"].values()
    # the study trains on the tables' own budgets, so that its networks are theirs
    assert replace(front.SCENES, symmflow=SEGSYNTH["cpu"].symmflow) == SEGSYNTH["cpu"]
    assert replace(front.MNIST, symmflow=CLASSIFICATION["cpu"][0].symmflow) == CLASSIFICATION["cpu"][0]


def record(dataset, recognition, fd, judged, **references):
    return {"dataset": dataset, "design": "d", "seed": 0, "recognition": recognition, "fd": fd, "judged": judged,
            "references": references, "train_s": 1.0, "provenance": {"git_commit": "c"}}


def test_what_a_design_keeps():
    scenes = record("scenes", {"1": 80.0, "25": 60.0}, 0.03, 30.0, **{
        "peer recognition at 25 steps": 40.0, "peer fd": 0.05, "peer judged": 50.0, "real judged": 85.0})
    assert front_record.kept(scenes) == {"Table 2: mIoU at 25 steps above SemFlow's": True,
                                  "Table 2: FD-scenenet below SemFlow's": True,
                                  "Table 2: mIoU of samples above SemFlow's": False,
                                  "target: mIoU of samples >= 0.5 x real images'": False}
    digits = record("mnist", {"1": 97.5, "25": 96.0}, 0.5, 91.0, **{"peer fd": 0.07, "peer judged": 97.0})
    assert [name for name, ok in front_record.kept(digits).items() if ok] == ["target: accuracy at 1 step >= 97%",
                                                                       "target: accuracy of samples >= 90%"]
    assert not math.isnan(digits["fd"])
    joint = {**digits, "fjd": 0.9, "references": {**digits["references"], "peer fjd": 0.3}}
    assert (front_record.kept(joint)["Table 3: FJD at most flow matching's"] is False
            and len(front_record.kept(joint)) == 6)


def test_the_notes_state_the_chosen_design_over_its_seeds_beside_the_others():
    from benchmarks.profiles import SEGSYNTH

    names = list(front.DESIGNS["scenes"])
    chosen = front_record.profile_design("scenes")
    refs = {"peer recognition at 25 steps": 40.0, "peer fd": 0.05, "peer judged": 50.0, "real judged": 85.0}

    def row(name, seed, miou_25, judged):
        return {**record("scenes", {"1": 80.0, "25": miou_25}, 0.03, judged, **refs), "design": name, "seed": seed}

    rows = [row(chosen, 0, 60.0, 20.0), row(chosen, 1, 70.0, 30.0)]
    rows += [row(name, 0, 90.0 if i == 1 else 10.0, 40.0 if i == 2 else 1.0)
             for i, name in enumerate(n for n in names if n != chosen)]
    text = front_record.trade("scenes", rows)
    assert SEGSYNTH["cpu"].symmflow == front.DESIGNS["scenes"][chosen]
    assert f"'{chosen}', the mean of seeds 0, 1: mIoU 80.0 / 65.0 at 1 / 25 steps" in text
    assert "mIoU of samples 25.0, keeping 2 / 2 of 4 claims and targets (seed by seed)" in text
    others = [n for n in names if n != chosen]
    assert f"The profile's design before this study, '{names[0]}', seed 0: mIoU 80.0 / 10.0" in text
    assert f"The best recognition at 25 steps, '{others[1]}', seed 0: mIoU 80.0 / 90.0" in text
    assert f"The best generation, '{others[2]}', seed 0" in text
    # a record set without the profile's design says nothing rather than something about another design
    assert front_record.trade("scenes", rows[2:]) is None


def test_the_fronts_rule_takes_claims_first_then_generation_within_the_seed_spread():
    refs = {"peer fd": 0.07, "peer judged": 95.0}

    def row(name, one, many, judged, fd=0.5, seed=0):
        return {**record("mnist", {"1": one, "25": many}, fd, judged, **refs), "design": name, "seed": seed}

    # no design keeps more claims: the best samples among those within the spread at 25 steps
    rows = [row("a", 97.6, 95.7, 69.0), row("b", 97.3, 95.3, 78.0), row("c", 97.2, 93.3, 87.2)]
    name, reason = front_record.choose("mnist", rows, spread=1.08)
    assert name == "b" and "'c' loses more accuracy at 25 steps than that" in reason
    assert front_record.choose("mnist", rows, spread=3.0)[0] == "c"  # a loss within the spread is no loss
    assert front_record.choose("mnist", rows, spread=0.0)[0] == "a"
    # a design that keeps one more claim wins whatever its samples (here: FD at most flow matching's)
    assert front_record.choose("mnist", rows + [row("d", 97.1, 90.0, 50.0, fd=0.01)], spread=1.08)[0] == "d"
    # the recognition required holds on the mean over the seeds a design was measured on: one seed
    # below it does not rule a design out (97.6 and 96.7 average 97.15), a mean below it does
    assert front_record.choose("mnist", rows + [row("d", 97.6, 90.0, 50.0, fd=0.01),
                                                row("d", 96.7, 90.0, 50.0, fd=0.01, seed=1)], spread=1.08)[0] == "d"
    assert front_record.choose("mnist", rows + [row("d", 97.1, 90.0, 50.0, fd=0.01),
                                                row("d", 96.0, 90.0, 50.0, fd=0.01, seed=1)], spread=1.08)[0] == "b"
    assert front_record.choose("mnist", [row("e", 96.0, 95.0, 99.0)], spread=1.0) is None
    assert "picks no design" in front_record.verdict("mnist", [row("e", 96.0, 95.0, 99.0)], 1.0)


def test_a_designs_seed_mean_averages_its_numbers_and_leaves_out_what_its_records_do_not_all_hold():
    a = {**record("mnist", {"1": 97.0, "25": 95.0}, 0.5, 80.0, **{"peer fd": 0.1}), "fjd": None}
    b = {**record("mnist", {"1": 98.0, "25": 93.0}, 0.3, 90.0, **{"peer fd": 0.2, "real fd": 0.02}),
         "fjd": 2.0, "seed": 1}
    mean = front_record.seed_mean([a, b])
    assert mean["recognition"] == {"1": 97.5, "25": 94.0} and mean["judged"] == 85.0
    assert mean["references"] == pytest.approx({"peer fd": 0.15}) and "fjd" not in mean
    assert mean["design"] == "d" and mean["dataset"] == "mnist"


def test_the_spread_is_the_tables_seed_to_seed_sd_at_25_steps(tmp_path):
    import pandas as pd

    cells = pd.DataFrame({"method": ["SymmFlow"] * 4 + ["SymmFlow"], "steps": [25, 25, 25, 1, 25],
                          "metric": ["accuracy"] * 5, "status": ["ok"] * 4 + ["skipped"],
                          "value": [95.3, 93.6, 95.6, 97.0, 10.0]})
    assert front_record.recognition_spread(tmp_path, "mnist") == 0.0  # no table yet
    cells.to_csv(tmp_path / "table3.csv", index=False)
    assert front_record.recognition_spread(tmp_path, "mnist") == pytest.approx(1.0786, abs=1e-4)


def test_generation_on_the_label_path_feeds_the_exact_path():
    """The diagnostic holds the label on y_t = (1 - (1 - sigma) t) y + t eps at every step."""
    from types import SimpleNamespace

    codec = VectorClassCodec(3, scale=2.0)
    method = SimpleNamespace(codec=codec, data_shape=(1, 4, 4), space=None)
    seen = []

    def model(x, y_t, t):
        seen.append((float(t[0]), y_t.clone()))
        return torch.ones_like(x), torch.zeros_like(y_t)

    labels = torch.tensor([0, 2])
    x = front.generate_on_the_label_path(model, method, labels, 4, torch.Generator().manual_seed(0), 1e-4)
    generator = torch.Generator().manual_seed(0)
    y = codec.encode(labels, generator=generator)
    eps = torch.randn(y.shape, generator=generator)
    start = torch.randn((2, 1, 4, 4), generator=generator)
    assert [t for t, _ in seen] == [0.0, 0.25, 0.5, 0.75]
    for t, y_t in seen:
        assert torch.allclose(y_t, (1 - (1 - 1e-4) * t) * y + t * eps)
    assert torch.allclose(x, start + 1.0)  # four Euler steps of 0.25 with velocity 1


def test_no_two_named_designs_of_a_study_are_the_same_design():
    """A design's name says what it is: two names for the same settings (and budget) would make a
    record unrebuildable from its name and train one design twice."""
    from studies import classification_design, segmentation_design

    for designs in (classification_design.CURVES, classification_design.DESIGNS, segmentation_design.DESIGNS):
        values = [repr(v) for v in designs.values()]
        twice = [name for name, value in zip(designs, values) if values.count(value) > 1]
        assert twice == []
    resolved = [segmentation_design.design_settings(c) for c in segmentation_design.DESIGNS.values()]
    assert len(set(map(repr, resolved))) == len(resolved)


# ---------------------------------------------------------------- the reliability study


@pytest.mark.slow
def test_the_reliability_studys_training_worker_runs_as_the_kills_start_it(tmp_path):
    """The kills start this same command; it must train and leave the final weights (no other
    option of the study is asked of it), and the study itself refuses to start without its catalogue."""
    import subprocess
    import sys

    from studies import reliability

    done = subprocess.run([sys.executable, *reliability.TRAIN, str(tmp_path / "run")], cwd=reliability.ROOT,
                          capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert done.returncode == 0, done.stderr[-500:]
    assert (tmp_path / "run" / "final.pt").is_file()
    assert reliability.main(["--out", str(tmp_path / "out")]) == 2 and not (tmp_path / "out").exists()


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


def test_the_front_names_the_joint_distance_its_records_measured():
    from studies.front_record import joint_name

    earlier, later = {"dataset": "scenes"}, {"dataset": "scenes", "fjd_metric": "FJD (SS U-Net features)"}
    assert joint_name([later, later], "scenes") == "FJD (SS U-Net features)"
    assert joint_name([earlier, later], "scenes") == "FJD (SS U-Net layout) / FJD (SS U-Net features)"
