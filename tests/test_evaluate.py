"""``symmflow evaluate``: a model folder on labelled images -> its mIoU (per class and mean) or
accuracy with a bootstrap interval, as JSON and a one-line summary; the harness's mIoU; bad input
one line, exit 2, before inference."""

import json

import numpy as np
import pytest
import torch

from symmflow.cli import main
from symmflow.evaluation import iou_of
from symmflow.metrics import SegmentationIoU, miou
from tests.helpers import class_folders, png, seg_folders


@pytest.mark.parametrize("classes, ignore", [(4, None), (4, 0), (3, 255)])
def test_the_confusion_matrices_reduce_to_the_harness_miou(classes, ignore):
    rng = np.random.default_rng(0)
    ids = list(range(classes - 1)) + ([ignore] if ignore is not None else [])  # the last class absent
    pred = torch.from_numpy(rng.choice(ids, (6, 9, 9)))
    target = torch.from_numpy(rng.choice(ids, (6, 9, 9)))
    confusions = []
    for p, t in zip(pred, target):
        metric = SegmentationIoU(classes, ignore)
        metric.update(p, t)
        confusions.append(metric.metric.confmat.numpy())
    per_class, mean = iou_of(np.sum(confusions, 0), metric.metric.ignore_index)
    assert mean == pytest.approx(miou(pred, target, classes, ignore), abs=1e-6)
    assert per_class[classes - 1] is None  # absent from prediction and truth: not in the mean


def test_segmentation_miou_with_its_interval_as_json(tmp_path, seg_model, capsys):
    images, masks = seg_folders(tmp_path / "in", n=5)
    argv = ["evaluate", "--model", str(seg_model), "--images", str(images), "--masks", str(masks), "--steps", "2",
            "--device", "cpu"]
    assert main([*argv, "--batch-size", "2"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["metric"] == "mIoU" and result["count"] == 5 and result["task"] == "segmentation"
    low, high = result["interval"]
    assert 0 <= low <= result["value"] <= high <= 1 and result["confidence"] == 0.95
    assert set(result["per_class"]) <= {"0", "1", "2", "3"}
    assert err.strip().startswith("mIoU ") and "bootstrap interval over 5 images" in err and "\n" not in err.strip()
    assert main([*argv, "--batch-size", "5"]) == 0  # the same noise per image whatever the batches
    assert json.loads(capsys.readouterr().out) == result


def test_classification_accuracy_written_to_a_file(tmp_path, clf_model, capsys):
    assert main(["evaluate", "--model", str(clf_model), "--images", str(class_folders(tmp_path)), "--out",
                 str(tmp_path / "eval.json"), "--device", "cpu", "--seed", "3"]) == 0
    out, err = capsys.readouterr()
    result = json.loads((tmp_path / "eval.json").read_text())
    assert out == "" and err.startswith("accuracy ") and result["metric"] == "accuracy" and result["count"] == 4
    assert set(result["per_class"]) == {"class0", "class1"} and result["seed"] == 3 and result["steps"] == 1
    low, high = result["interval"]
    assert low <= result["value"] <= high


def _evaluate(model, images, masks=None):
    return ["evaluate", "--model", model, "--images", images, *(["--masks", masks] if masks else []),
            "--steps", "1", "--device", "cpu"]


def test_a_classifier_given_masks_and_a_segmenter_without_are_refused(refused, tmp_path, seg_model, clf_model):
    images, masks = seg_folders(tmp_path / "in")
    refused(_evaluate(clf_model, images, masks), "is a classification model; use symmflow evaluate without --masks")
    refused(_evaluate(seg_model, images), "is a segmentation model; use symmflow evaluate with --masks MASKS")


def test_masks_of_another_class_count_are_refused(refused, tmp_path, seg_model):
    images, masks = seg_folders(tmp_path / "in")
    png(masks / "1.png", np.full((20, 20), 6))
    refused(_evaluate(seg_model, images, masks), "mask id 6 is not one of the model's 4 classes (0-3)")


@pytest.mark.parametrize("folders, needle", [
    (["class0", "class1", "class2"], "holds the class folders class0, class1, class2, but the model's 2 classes"),
    (["class0", "other"], "holds the class folders class0, other, but the model's 2 classes are class0, class1"),
    ([], "holds the class folders none"),
])
def test_class_folders_of_another_count_or_names_are_refused(refused, tmp_path, clf_model, folders, needle):
    for name in folders:
        png(tmp_path / "data" / name / "0.png", np.zeros((16, 16, 3)))
    (tmp_path / "data").mkdir(exist_ok=True)
    refused(_evaluate(clf_model, tmp_path / "data"), needle)


def test_no_labelled_images_are_refused(refused, tmp_path, seg_model, clf_model):
    (tmp_path / "data" / "class0").mkdir(parents=True)
    (tmp_path / "data" / "class1").mkdir()
    refused(_evaluate(clf_model, tmp_path / "data"), "its class folders hold no images")
    (tmp_path / "masks").mkdir()
    refused(_evaluate(seg_model, tmp_path / "data", tmp_path / "masks"), "no images")


def test_evaluate_measures_the_masks_segment_writes(tmp_path, seg_model, capsys):
    """One seed, one inference: the mIoU of the masks ``symmflow segment`` writes (of images of other
    shapes than the model's square too, at other batch sizes) is evaluate's, class by class."""
    from PIL import Image

    rng = np.random.default_rng(1)
    shapes = [(20, 20), (13, 31), (40, 9), (16, 24), (7, 7)]
    for i, (h, w) in enumerate(shapes):
        png(tmp_path / "img" / f"{i}.png", rng.integers(0, 255, (h, w, 3)))
        png(tmp_path / "msk" / f"{i}.png", rng.integers(0, 4, (h, w)))
    run = ["--model", str(seg_model), "--images", str(tmp_path / "img"), "--steps", "2", "--seed", "7",
           "--solver", "heun", "--device", "cpu"]
    assert main(["segment", *run, "--out", str(tmp_path / "seg"), "--batch-size", "3"]) == 0
    capsys.readouterr()
    assert main(["evaluate", *run, "--masks", str(tmp_path / "msk"), "--batch-size", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    confusion = 0
    for i, shape in enumerate(shapes):
        written, truth = (np.asarray(Image.open(tmp_path / d / f"{i}.png")).astype(np.int64) for d in ("seg", "msk"))
        assert written.shape == shape
        metric = SegmentationIoU(4, None)
        metric.update(torch.from_numpy(written), torch.from_numpy(truth))
        confusion = confusion + metric.metric.confmat.numpy()
    per_class, value = iou_of(confusion, metric.metric.ignore_index)
    assert result["value"] == value and result["solver"] == "heun" and result["seed"] == 7
    assert result["per_class"] == {str(k): v for k, v in enumerate(per_class) if v is not None}
