"""Time and peak memory of one-step SymmFlow classification, in a fresh process.

``python -m benchmarks.footprint '<json>'`` builds the SymmFlow classifier for the
given number of classes, classifies ``images`` random images in batches of ``batch`` at
one Euler step, and prints JSON: the median milliseconds per image (after a warm-up) and
the growth of the process's peak resident memory during classification (after one
image has initialised the kernels).  A fresh process
per measurement keeps one run's allocations out of the next one's peak.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def measure(spec: dict) -> dict:
    import torch

    from symmflow.method import SymmFlow, SymmFlowSettings
    from symmflow.models.pixel_unet import UNetConfig
    from symmflow.solver import NFECounter
    from symmflow.tasks import predict

    torch.manual_seed(0)
    unet = UNetConfig(**{**spec["unet"], "multipliers": tuple(spec["unet"]["multipliers"])})
    method = SymmFlow(SymmFlowSettings(**spec["symmflow"]))
    codec = method.class_codec(spec["classes"], spec["size"])
    label_shape = method.label_shape(codec, spec["size"], dense=False)
    model = method.network(unet, spec["channels"], label_shape, spec["size"]).eval()
    images = torch.rand(spec["images"], spec["channels"], spec["size"], spec["size"]) * 2 - 1
    counter = NFECounter(model)

    def run():
        with torch.no_grad():
            for chunk in images.split(spec["batch"]):
                predict(counter, chunk, codec, label_shape, steps=1)

    with torch.no_grad():  # initialise the kernels on one image, outside the measurement
        predict(model, images[:1], codec, label_shape, steps=1)
    before = _rss_mib()
    run()  # warm-up; also reaches the peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    runs = 1 + len(times)  # the warm-up and the timed passes
    return {"classes": spec["classes"], "ms_per_image": 1000 * statistics.median(times) / len(images),
            "peak_growth_mib": peak - before, "rss_before_mib": before,
            "nfe_per_sample": counter.evaluations / (runs * len(images))}


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
