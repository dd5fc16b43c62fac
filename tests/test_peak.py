"""studies.peak: the machine's GEMM peak and a training step's FLOPs, time, fraction of the peak and
speed-up, at toy size (the timings themselves are the study's, on the machine it names)."""

import json

from benchmarks.profiles import SMOKE_UNET
from studies import peak
from studies.peak_record import peak_markdown


def test_a_step_is_counted_timed_and_set_against_the_peak_of_its_precision():
    row = peak.measure("toy U-Net", (SMOKE_UNET, 2, 2, True), sizes=(64,), variants=("channels_last", "fused"),
                       rounds=2, warmup=0)
    assert row["flops"] > 0 and set(row["peak_flops_s"]) == {"fp32", "bf16"}
    assert set(row["steps"]) == {"fp32", "bf16", "bf16 channels_last", "bf16 fused"}
    for step in row["steps"].values():
        assert step["fraction_low"] <= step["fraction"] <= step["fraction_high"] and step["median_s"] > 0
        assert step["verdict_speed_up"] in ("met", "missed", "within the noise")
    assert row["steps"]["fp32"]["speed_up"] == 1.0
    text = peak_markdown({"provenance": {"device": "cpu", "machine": "2 cores", "versions": "torch", "git_commit": "a"},
                          "rounds": 2, "warmup": 0, "targets": peak.TARGETS, "rows": [row]})
    assert "| toy U-Net | " in text and "bf16 channels_last" in text
    json.dumps(row, default=str)


def test_the_flops_of_a_step_are_counted_once_per_layout():
    assert peak.step_flops(SMOKE_UNET, 2, 2) == peak.step_flops(SMOKE_UNET, 2, 2) > 0
