"""The design front: its designs, the claims a design keeps, its rule, notes and label-path generation; design names."""

import math

import pytest
import torch

from studies import front, front_record
from symmflow.codecs import VectorClassCodec


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


def test_the_front_names_the_joint_distance_its_records_measured():
    from studies.front_record import joint_name

    earlier, later = {"dataset": "scenes"}, {"dataset": "scenes", "fjd_metric": "FJD (SS U-Net features)"}
    assert joint_name([later, later], "scenes") == "FJD (SS U-Net features)"
    assert joint_name([earlier, later], "scenes") == "FJD (SS U-Net layout) / FJD (SS U-Net features)"
