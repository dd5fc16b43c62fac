"""Adding a data set as docs/extending.md says: a reader and one :func:`~benchmarks.datasets.register_dataset`,
after which a profile that names it gives Tables 3 and 11 (or Table 2) cells of it under its shown name."""

from dataclasses import replace

import pytest
import torch

from baselines.diffusion_classifier import PUBLISHED
from benchmarks import datasets
from benchmarks.cells import RunOptions
from benchmarks.judges import Probe
from benchmarks.datasets import ClassificationData, SegmentationData, dataset, register_dataset
from benchmarks.profiles import CLASSIFICATION, SEGSYNTH
from benchmarks.tables.classification import Table3, Table11
from benchmarks.tables.segsynth import Table2
from symmflow.data.classification import ImageDataset
from symmflow.errors import UsageError
from tests.helpers import registered

STRIPES = ImageDataset("stripes", channels=1, num_classes=2, size=8, where="")


def stripes(split: str, data_root, mnist_fit: str = "pad") -> tuple[torch.Tensor, torch.Tensor]:
    """The guide's example reader: 8 px images of horizontal (class 0) or vertical (class 1) bars."""
    labels = torch.arange(64 if split == "train" else 40) % 2
    bars = (torch.arange(8) % 2 * 2 - 1.0).reshape(8, 1).expand(8, 8)
    images = torch.stack([bars if label == 0 else bars.T for label in labels])[:, None]
    return images, labels


def test_a_registered_classification_data_set_is_read_and_shown_by_tables_3_and_11(tmp_path):
    options = RunOptions(profile="smoke", seed=0, out=tmp_path, progress=False)
    settings = {"smoke": (replace(CLASSIFICATION["smoke"][0], dataset="stripes"),)}
    before = dict(datasets.DATASETS)
    toy = ClassificationData("stripes", "Stripes (toy)", "Stripes", STRIPES, stripes)
    with registered(datasets.DATASETS, register_dataset, toy):
        table3, table11 = Table3(settings), Table11(settings)
        mnist = Table3().cells(options)
        cells = table3.cells(options)
        assert {cell.dataset for cell in cells} == {"Stripes (toy)"} and len(cells) == len(mnist)
        assert [(c.method, c.metric) for c in cells] == [(c.method, c.metric) for c in mnist]
        assert cells[0].steps == PUBLISHED.nfe(2)  # the Diffusion Classifier's NFE: its schedule over 2 classes
        assert {cell.dataset for cell in table11.cells(options)} == {"Stripes (toy)"}
        assert table3.compare("Stripes (toy)") == "Stripes" and table3.compare("MNIST (bundled 4k/1k)") == "MNIST"
        assert table3.judge_probes("smoke") == [("classifier", Probe("stripes", 1, 8, 2))]
        experiment = table3.experiment_for("stripes", options, {})
        assert torch.equal(experiment.train_split()[1], stripes("train", None)[1])
        assert experiment.test_split()[0].shape == (40, 1, 8, 8)
        reference = [cell for cell in cells if cell.param("method") == "cross-entropy"]
        records = []
        table3.compute(reference, options, lambda cell, record: records.append(record), {})
        assert [(r["samples"], r["nfe_per_sample"]) for r in records] == [(40, 1.0)]
        assert records[0]["value"] > 90.0  # bars told apart: trained and scored on the registered reader's images
    assert datasets.DATASETS == before
    with pytest.raises(UsageError, match="unknown classification data set 'stripes'"):
        dataset("stripes", "classification")


def test_a_registered_segmentation_data_set_gets_table_2_cells(tmp_path):
    options = RunOptions(profile="smoke", seed=0, out=tmp_path, progress=False)
    settings = {"smoke": replace(SEGSYNTH["smoke"], datasets=("toy-scenes",))}
    scenes = dataset("scenes", "segmentation")
    toy = SegmentationData("toy-scenes", "toy-scenes", None, scenes.open, lambda root: "toy-scenes: built: found",
                           scenes.shape, "held-out toy scenes")
    with registered(datasets.DATASETS, register_dataset, toy):
        table = Table2(settings)
        cells, on_scenes = table.cells(options), Table2().cells(options)
        assert {cell.dataset for cell in cells} == {"toy-scenes"} and len(cells) == len(on_scenes)
        floors = {cell.settings.get("floor") for cell in cells if cell.param("method") == "real"}
        assert "held-out toy scenes" in floors  # the real-image rows say what the registered entry's floor is
        assert table.needs(options)[0] == "toy-scenes: built: found"
    with pytest.raises(UsageError, match="unknown segmentation data set 'toy-scenes'"):
        dataset("toy-scenes", "segmentation")


def test_a_data_set_is_registered_once_and_shown_under_one_name():
    with pytest.raises(ValueError, match="registered twice"):
        register_dataset(dataset("mnist", "classification"))
    with pytest.raises(ValueError, match="already shown"):
        register_dataset(ClassificationData("digits", "CIFAR-10", None, STRIPES, stripes))
    with pytest.raises(ValueError, match="shown by its key"):
        SegmentationData("toy", "Toy", None, None, None, None)
    assert "digits" not in datasets.DATASETS
