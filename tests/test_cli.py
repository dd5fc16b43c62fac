"""The symmflow command end to end on tiny folders: files in, files out, one-line errors."""


import numpy as np
import pytest
from PIL import Image

from symmflow.cli import main
from tests.helpers import trained_settings


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


TINY = ["--size", "16", "--steps", "3", "--batch-size", "4", "--base-channels", "8", "--device", "cpu"]


@pytest.mark.parametrize("mask_code", ["palette", "per-class"])
def test_segmentation_round_trip(tmp_path, capsys, mask_code):
    rng = np.random.default_rng(0)
    for i in range(4):
        _png(tmp_path / "img" / f"{i}.png", rng.integers(0, 255, (20, 20, 3)))
        _png(tmp_path / "msk" / f"{i}.png", rng.integers(0, 4, (20, 20)))
    assert main(["train", "--images", str(tmp_path / "img"), "--masks", str(tmp_path / "msk"),
                 "--out", str(tmp_path / "model"), *TINY, "--mask-code", mask_code]) == 0
    from symmflow.model_folder import open_model
    unet = open_model(tmp_path / "model", "cpu", "segmentation", "classify")[0].unet
    assert unet.config.in_channels == 3 + (3 if mask_code == "palette" else 4)  # RGB, or one per class
    assert main(["segment", "--model", str(tmp_path / "model"), "--images", str(tmp_path / "img"),
                 "--out", str(tmp_path / "seg"), "--steps", "2", "--device", "cpu"]) == 0
    out = np.asarray(Image.open(tmp_path / "seg" / "0.png"))
    assert out.shape == (20, 20) and out.max() < 4 and (tmp_path / "seg" / "0_colour.png").is_file()
    assert main(["synthesise", "--model", str(tmp_path / "model"), "--masks", str(tmp_path / "msk"),
                 "--out", str(tmp_path / "syn"), "--steps", "2", "--device", "cpu"]) == 0
    assert np.asarray(Image.open(tmp_path / "syn" / "3.png")).shape == (20, 20, 3)  # at the mask's own size
    # a mask with an id the model does not know
    _png(tmp_path / "bad" / "x.png", np.full((8, 8), 7))
    assert main(["synthesise", "--model", str(tmp_path / "model"), "--masks", str(tmp_path / "bad"),
                 "--out", str(tmp_path / "syn2"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "mask id 7" in err[-1]


def test_classification_round_trip(tmp_path, capsys):
    for k, value in enumerate((0, 255)):
        for i in range(3):
            _png(tmp_path / "data" / f"class{k}" / f"{i}.png", np.full((16, 16, 3), value))
    assert main(["train", "--images", str(tmp_path / "data"), "--out", str(tmp_path / "clf"), *TINY,
                 "--label-residual", "--near-one", "0.5", "--near-one-label-only", "--image-weight", "0.5"]) == 0
    capsys.readouterr()
    settings = trained_settings(tmp_path / "clf")["symmflow"]
    assert settings["label_form"] == "residual" and settings["near_one"] == 0.5 and settings["image_weight"] == 0.5
    assert settings["near_one_label_only"]
    from symmflow.model_folder import open_model
    assert open_model(tmp_path / "clf", "cpu", "classification", "segment")[0].label_form == "residual"
    assert main(["classify", "--model", str(tmp_path / "clf"), "--images", str(tmp_path / "data" / "class1"),
                 "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "file,class" and len(lines) == 4
    assert all(line.split(",")[1] in ("class0", "class1") for line in lines[1:])
    assert main(["sample", "--model", str(tmp_path / "clf"), "--labels", "0,1", "--out", str(tmp_path / "s"),
                 "--steps", "2", "--device", "cpu"]) == 0
    assert (tmp_path / "s" / "0001_class1.png").is_file()
    assert main(["sample", "--model", str(tmp_path / "clf"), "--labels", "5", "--out", str(tmp_path / "s"),
                 "--device", "cpu"]) == 2


@pytest.mark.parametrize("argv, expected", [
    (["segment", "--model", "{tmp}/nonexistent", "--images", "{tmp}/img", "--out", "{tmp}/x"], "not a model folder"),
    (["train", "--images", "{tmp}/nonexistent", "--masks", "{tmp}/nonexistent", "--out", "{tmp}/x"], "not found"),
    (["frobnicate"], "invalid choice"),
    (["train", "--images", "{tmp}", "--out", "{tmp}/x", "--near-one", "2"], "must lie in [0, 1]"),
])
def test_bad_input_is_one_line_and_exit_2(argv, expected, capsys, tmp_path):
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and expected in err and "\n" not in err


def test_segmentation_code_scale_is_kept_with_the_model(tmp_path):
    from symmflow.model_folder import parts
    for i in range(2):
        _png(tmp_path / "imgs" / f"{i}.png", np.full((16, 16, 3), 40 * i))
        _png(tmp_path / "masks" / f"{i}.png", np.full((16, 16), i))
    assert main(["train", "--images", str(tmp_path / "imgs"), "--masks", str(tmp_path / "masks"), "--out",
                 str(tmp_path / "m"), *TINY, "--mask-code", "per-class", "--code-scale", "3"]) == 0
    settings = trained_settings(tmp_path / "m")
    assert settings["symmflow"]["code_scale"] == 3.0 and parts(settings).codec.scale == 3.0


def _classes(root):
    for k, value in enumerate((0, 255)):
        for i in range(3):
            _png(root / f"class{k}" / f"{i}.png", np.full((16, 16, 3), value))


def test_report_to_tensorboard_logs_both_loss_terms_the_learning_rate_and_sample_grids(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _classes(tmp_path / "data")
    steps = ["--steps", "4", *TINY[4:]]
    assert main(["train", "--images", str(tmp_path / "data"), "--out", str(tmp_path / "clf"), *TINY[:2], *steps,
                 "--report-to", "tensorboard"]) == 0
    events = list((tmp_path / "clf-logs").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file beside the model folder"
    found = EventAccumulator(str(events[0].parent), size_guidance={"images": 0, "scalars": 0}).Reload()
    scalars = set(found.Tags()["scalars"])
    assert {"loss", "x_mse", "y_mse", "lr"} <= scalars, scalars
    assert found.Scalars("loss")[-1].step == 4 and found.Scalars("lr")[-1].value > 0
    grids = found.Images("samples")
    assert [g.step for g in grids] == [1, 2, 3, 4] and (grids[-1].width, grids[-1].height) == (32, 16)  # 2 classes


@pytest.mark.parametrize("argv, expected", [
    (["--report-to", "mlflow"], "--report-to 'mlflow': choose one of tensorboard, wandb"),
    (["--logging-dir", "{tmp}/logs"], "--logging-dir is the folder of --report-to's tracker"),
    (["--report-to", "tensorboard", "--logging-dir", "{tmp}/data/class0/0.png"], "is a file; pass a folder"),
])
def test_a_tracker_that_cannot_run_is_refused_before_training(tmp_path, capsys, argv, expected):
    _classes(tmp_path / "data")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["train", "--images", str(tmp_path / "data"), "--out", str(tmp_path / "clf"), *TINY, *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and not (tmp_path / "clf").exists()
