"""The designs of the recognition-generation front (:mod:`studies.front`), spelled as literal
settings so that a record can always be rebuilt from its name, with the budgets they train on."""

from __future__ import annotations

from benchmarks.profiles import Budget, ClassificationSettings, SegSynthSettings
from symmflow.method import SymmFlowSettings
from symmflow.models.pixel_unet import UNetConfig

SCENES = SegSynthSettings(budget=Budget(2_400, 32, 2e-3, 100, ema_decay=0.995))
"""The scene set's cpu budget: 2,400 steps of 32 at lr 2e-3 (EMA 0.995), the base-32 pixel U-Net."""
MNIST = ClassificationSettings("mnist", UNetConfig(base_channels=16, multipliers=(1, 2, 2), layers_per_block=1,
                                                   head_channels=32, norm_groups=8),
                               SymmFlowSettings(), Budget(1_500, 64, 1e-3, 75), eval_batch=500)
"""Bundled MNIST's cpu budget: 1,500 steps of 64 at lr 1e-3 (EMA 0.999), the base-16 U-Net."""

_SCENE = dict(beta=20.0, label_code="per-class", label_form="residual", near_one_label_only=True)
_DIGIT = dict(label_code="per-class", label_form="residual")
DESIGNS: dict[str, dict[str, SymmFlowSettings]] = {
    "scenes": {
        "code x2, 60% near one on the label alone, w 0.9":
            SymmFlowSettings(**_SCENE, code_scale=2.0, near_one=0.6, image_weight=0.9),
        "code x2, 40% near one on the label alone, w 0.9":
            SymmFlowSettings(**_SCENE, code_scale=2.0, near_one=0.4, image_weight=0.9),
        "code x3, 60% near one on the label alone, w 0.9":
            SymmFlowSettings(**_SCENE, code_scale=3.0, near_one=0.6, image_weight=0.9),
        "code x2, no near one, w 0.9":
            SymmFlowSettings(**_SCENE, code_scale=2.0, near_one=0.0, image_weight=0.9),
    },
    "mnist": {
        "code x3, half near one, w 0.3":
            SymmFlowSettings(**_DIGIT, code_scale=3.0, near_one=0.5, image_weight=0.3),
        "code x3, half near one, w 0.5":
            SymmFlowSettings(**_DIGIT, code_scale=3.0, near_one=0.5, image_weight=0.5),
        "code x3, half near one, w 0.7":
            SymmFlowSettings(**_DIGIT, code_scale=3.0, near_one=0.5, image_weight=0.7),
        "code x3, half near one on the label alone, w 0.9":
            SymmFlowSettings(**_DIGIT, code_scale=3.0, near_one=0.5, image_weight=0.9, near_one_label_only=True),
        "code x3, half near one on the label alone, w 0.7":
            SymmFlowSettings(**_DIGIT, code_scale=3.0, near_one=0.5, image_weight=0.7, near_one_label_only=True),
    },
}
"""Per data set, the designs of the front by name (the first of each: the cpu profile before this study)."""
CURVES = {"scenes": (1, 2, 5, 25), "mnist": (1, 2, 5, 10, 25)}
GENERATION_STEPS = 25
