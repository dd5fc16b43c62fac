"""Timing checks, kept out of the default run (``pytest -m perf``): the same cases as ``python -m
studies.perf``.  ``--perf-size full`` (an idle machine) holds each ratio to its target: it fails
only when the whole bootstrap interval of the ratio misses it.  ``--perf-size ci`` (CI's shared
machine, fewer rounds) holds each ratio only to a gross bound, GROSS times the target, so a
regression of that size fails and a loaded machine does not; studies.perf measures the figures."""

import pytest

from studies import perf_cases

GROSS = 1.5
"""At ``--perf-size ci``, a ratio fails when its whole interval lies above GROSS x the target."""

SIZES = {"full": {"rounds": 15, "warmup": 3, "sampling_steps": (10, 50), "dc_rounds": 2, "dc_images": 2},
         "ci": {"rounds": 5, "warmup": 1, "sampling_steps": (10,), "dc_rounds": 1, "dc_images": 1}}


def holds(row: dict, name: str, perf_size: str) -> bool:
    """Whether the row's ratio ``name`` holds: its verdict at full size, the gross bound at ci size."""
    if perf_size == "full":
        return row[f"verdict_{name}"] != "missed"
    if name == "growth":  # growth from 10 to 171 classes, held to 1 + the growth target
        return row["growth_low"] <= GROSS * (1 + perf_cases.TARGETS["class_growth"])
    return row[f"ratio_to_{name}_low"] <= GROSS * perf_cases.TARGETS[name]


@pytest.mark.perf
def test_the_sampler_is_at_the_limit_and_no_slower_than_flow_matching(perf_size):
    size = SIZES[perf_size]
    rows = perf_cases.sampling(rounds=size["rounds"], warmup=size["warmup"], steps=size["sampling_steps"])
    for row in rows:
        assert holds(row, "limit", perf_size), row
        if not row["skipped"]:
            assert holds(row, "flow_matching", perf_size), row


@pytest.mark.perf
def test_a_symmflow_training_step_costs_what_a_flow_matching_step_costs(perf_size):
    pytest.importorskip("torchcfm", reason="needs the perf extra")
    (row,), _ = perf_cases.training_step(rounds=SIZES[perf_size]["rounds"], warmup=SIZES[perf_size]["warmup"])
    assert holds(row, "torchcfm", perf_size), row


@pytest.mark.perf
def test_classification_speed_up_follows_the_nfe_ratio(perf_size):
    rows = {r["method"]: r for r in perf_cases.classification(rounds=SIZES[perf_size]["dc_rounds"], warmup=1,
                                                             images=64, dc_images=1)}
    one = rows["SymmFlow, 1 step"]
    published = next(r for name, r in rows.items() if name.startswith("Diffusion Classifier, 50 t"))
    assert one["nfe"] == 1 and published["nfe"] == 2750
    speed_up = published["per_image_s"] / one["per_image_s"]
    assert speed_up >= perf_cases.TARGETS["nfe_ratio"] * published["nfe"], speed_up


@pytest.mark.perf
def test_symmflow_cost_barely_grows_with_classes_while_the_diffusion_classifiers_grows_linearly(perf_size):
    size = SIZES[perf_size]
    rows = perf_cases.class_count(images=size["dc_images"], counts=(10, 171), rounds=size["rounds"],
                                  dc_rounds=max(2, size["dc_rounds"] + 1))
    by = {(r["method"].split(",")[0].split(" (")[0], r["classes"]): r for r in rows}
    for method in ("SymmFlow classification", "SymmFlow segmentation"):
        assert holds(by[(method, 171)], "growth", perf_size), by[(method, 171)]
    dc10, dc171 = by[("Diffusion Classifier", 10)], by[("Diffusion Classifier", 171)]
    assert 10 * dc171["nfe"] == 171 * dc10["nfe"] and dc171["per_image_s"] > 10 * dc10["per_image_s"]


@pytest.mark.perf
def test_the_training_loop_adds_little_to_a_bare_step(perf_size):
    (row,) = perf_cases.training_loop(repeats=2, short=5, long=25)
    assert holds(row, "bare_step", perf_size), row  # the ratio of medians, ratio_to_bare_step, is the record's
