"""Time and peak memory of recognition against the number of classes, in a fresh process.

``python -m benchmarks.footprint '<json>'`` builds, for the given number of classes, the
network of ``task`` -- ``classification`` (SymmFlow's classifier, one Euler step; the
default), ``segmentation`` (SymmFlow on a palette of that many colours, one Euler step) or
``diffusion-classifier`` (the class-conditional flow-matching network under the Diffusion
Classifier's ``schedule``, whose NFE grows with the classes) -- runs it on ``images`` random
images in batches of ``batch`` on ``device`` (default cpu), and prints JSON: how far the
process's peak memory rose during one pass over the images above the memory held before it
(:mod:`benchmarks.memory`; the median of ``memory_repeats`` passes, default 3, the first of them
the warm-up; one image has initialised the kernels before), the milliseconds per image of each
of ``repeats`` further passes (default 3; 0 times none) and their median, and the counted NFE
per image, at ``eval_precision`` (fp32, the default, or bf16:
:func:`symmflow.device.evaluation_precision`).  A fresh process per measurement keeps one run's
allocator caches out of the next one's.
"""

from __future__ import annotations

import json
import statistics
import sys

from benchmarks.memory import peak_growth_mib
from benchmarks.timing import synchronizer, wall_seconds


def unet_config(fields: dict):
    """A U-Net config from its fields as JSON holds them: the authors' U-Net's (``model_channels``)
    or a diffusers U-Net's."""
    from symmflow.models.guided_unet import GuidedUNetConfig
    from symmflow.models.pixel_unet import UNetConfig

    tuples = {k: tuple(v) for k, v in fields.items() if isinstance(v, list)}
    return (GuidedUNetConfig if "model_channels" in fields else UNetConfig)(**{**fields, **tuples})


class Workload:
    """One pass of the spec's task over its random images (``run()``), with the NFE counter of
    its network; built the same way in a fresh process (:func:`measure`) and in the perf suite,
    which times the class counts against each other in one process."""

    def __init__(self, spec: dict):
        import torch

        torch.manual_seed(0)
        self.device = spec.get("device", "cpu")
        unet = unet_config(spec["unet"])
        self.images = (torch.rand(spec["images"], spec["channels"], spec["size"], spec["size"]) * 2 - 1).to(
            self.device)
        self.batch = spec["batch"]
        self.predict = _predictor(spec, unet, self.device)
        self.counter = self.predict.counter
        with torch.no_grad():  # initialise the kernels on one image, outside any measurement
            self.predict(self.images[:1])
        self.counter.reset()

    def run(self) -> None:
        import torch

        with torch.no_grad():
            for chunk in self.images.split(self.batch):
                self.predict(chunk)


def measure(spec: dict) -> dict:
    from symmflow.device import evaluation_precision

    with evaluation_precision(spec.get("device", "cpu"), spec.get("eval_precision", "fp32")):
        return _measured(spec)


def _measured(spec: dict) -> dict:
    work = Workload(spec)
    synchronize = synchronizer(work.device)
    peaks = [peak_growth_mib(work.run, work.device) for _ in range(spec.get("memory_repeats", 3))]  # and warm-up
    peak = None if None in peaks else statistics.median(peaks)
    times = [1000 * wall_seconds(work.run, synchronize) / len(work.images) for _ in range(spec.get("repeats", 3))]
    runs = len(peaks) + len(times)  # the passes measuring memory and the timed ones
    return {"task": spec.get("task", "classification"), "classes": spec["classes"],
            "ms_per_image": statistics.median(times) if times else None, "ms_per_image_runs": times,
            "peak_mib": peak,
            "nfe_per_sample": work.counter.evaluations / (runs * len(work.images))}


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
