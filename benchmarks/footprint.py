"""Time and peak memory of recognition against the number of classes, in a fresh process.

``python -m benchmarks.footprint '<json>'`` builds, for the given number of classes, the
network of ``task`` -- ``classification`` (SymmFlow's classifier, one Euler step; the
default), ``segmentation`` (SymmFlow on a palette of that many colours, one Euler step) or
``diffusion-classifier`` (the class-conditional flow-matching network under the Diffusion
Classifier's ``schedule``, whose NFE grows with the classes) -- runs it on ``images`` random
images in batches of ``batch`` on ``device`` (default cpu), and prints JSON: the milliseconds
per image of each of ``repeats`` passes (default 3) after a warm-up and their median, the counted
NFE per image and how far the process's peak memory rose during one pass over the images, above
the memory held before it (:mod:`benchmarks.memory`; one image has initialised the kernels
first).  A fresh process per measurement keeps one run's allocator caches out of the next one's.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from benchmarks.memory import peak_growth_mib
from benchmarks.timing import synchronizer


def measure(spec: dict) -> dict:
    import torch

    from symmflow.models.pixel_unet import UNetConfig

    torch.manual_seed(0)
    device = spec.get("device", "cpu")
    synchronize = synchronizer(device)
    unet = UNetConfig(**{**spec["unet"], "multipliers": tuple(spec["unet"]["multipliers"])})
    images = (torch.rand(spec["images"], spec["channels"], spec["size"], spec["size"]) * 2 - 1).to(device)
    predict_batch = _predictor(spec, unet, device)
    counter = predict_batch.counter

    def run():
        with torch.no_grad():
            for chunk in images.split(spec["batch"]):
                predict_batch(chunk)

    with torch.no_grad():  # initialise the kernels on one image, outside the measurement
        predict_batch(images[:1])
    counter.reset()
    peak = peak_growth_mib(run, device)  # also the warm-up
    times = []
    for _ in range(spec.get("repeats", 3)):
        synchronize()
        start = time.perf_counter()
        run()
        synchronize()
        times.append(1000 * (time.perf_counter() - start) / len(images))
    runs = 1 + len(times)  # the warm-up and the timed passes
    return {"task": spec.get("task", "classification"), "classes": spec["classes"],
            "ms_per_image": statistics.median(times), "ms_per_image_runs": times,
            "peak_mib": peak,
            "nfe_per_sample": counter.evaluations / (runs * len(images))}


def _predictor(spec: dict, unet, device: str):
    """``predict(images)`` of the spec's task on a fresh network; its ``counter`` counts the NFE."""
    from symmflow.method import SymmFlow, SymmFlowSettings
    from symmflow.solver import NFECounter
    from symmflow.tasks import predict

    task, classes, size = spec.get("task", "classification"), spec["classes"], spec["size"]
    if task == "diffusion-classifier":
        from baselines.diffusion_classifier import Schedule, classify
        from baselines.flow_matching import ClassConditionalVelocity

        counter = NFECounter(ClassConditionalVelocity(unet, spec["channels"], classes, size, 1.0).eval().to(device))
        schedule = Schedule(tuple(spec["schedule"]["times"]), tuple(spec["schedule"]["keep"]))

        def run(images):
            return classify(counter, images, classes, schedule)
    else:
        from symmflow.codecs import PaletteCodec, cocostuff_colours

        method = SymmFlow(SymmFlowSettings(**spec["symmflow"]))
        if task == "segmentation":
            codec = method.mask_codec(PaletteCodec(cocostuff_colours(classes), 0.0))
            label_shape = method.label_shape(codec, size, dense=True)
        else:
            codec = method.class_codec(classes, size)
            label_shape = method.label_shape(codec, size, dense=False)
        counter = NFECounter(method.network(unet, spec["channels"], label_shape, size).eval().to(device))

        def run(images):
            return predict(counter, images, codec, label_shape, steps=1)
    run.counter = counter
    return run


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
