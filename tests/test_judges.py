"""Judges of generated images: the run's own specialists or a supplied TorchScript network,
checked before anything is trained; a bad judge file is one line, exit 2, nothing written."""

from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmarks import judges, run
from benchmarks.options import options_from
from benchmarks.tables.segsynth import Table2, Table4, Table5
from symmflow.errors import UsageError
from tests.test_segsynth_tables import TINY, tables_with


class Segmenter(torch.nn.Module):
    """A tiny judge: a 1x1 convolution from RGB to ``classes`` logits per pixel."""

    def __init__(self, classes: int):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, classes, 1)

    def forward(self, images):
        return self.conv(images)


def scripted(tmp_path: Path, module: torch.nn.Module, name: str = "judge.pt") -> Path:
    path = tmp_path / name
    torch.jit.save(torch.jit.trace(module, torch.zeros(1, 3, 32, 32)), str(path))
    return path


@pytest.mark.parametrize("values, message", [
    (["segmenter"], "write KIND=PATH"), (["painter=x.pt"], "write KIND=PATH"), (["segmenter="], "write KIND=PATH"),
    (["segmenter=a.pt", "segmenter=b.pt"], "names a segmenter twice")])
def test_malformed_judge_options_are_named(values, message):
    with pytest.raises(UsageError, match=message):
        judges.parse(values)


def bad_judge(tmp_path: Path, capsys, path: Path, table: str = "2") -> str:
    out = tmp_path / "out"
    argv = ["--table", table, "--profile", "smoke", "--out", str(out), "--no-progress",
            "--judge-weights", f"segmenter={path}"]
    assert run.main(argv, tables_with("smoke", TINY)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --judge-weights")
    assert not out.exists()  # refused before anything is created or trained
    return err[0]


def test_a_missing_judge_file_is_one_line(tmp_path, capsys):
    assert "is not a file" in bad_judge(tmp_path, capsys, tmp_path / "absent.pt")


def test_a_damaged_judge_file_is_one_line(tmp_path, capsys):
    good = scripted(tmp_path, Segmenter(11))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    assert "is not a TorchScript module" in bad_judge(tmp_path, capsys, truncated)
    pickled = tmp_path / "state.pt"  # a plain state dict is not a network one can run
    torch.save(Segmenter(11).state_dict(), pickled)
    assert "is not a TorchScript module" in bad_judge(tmp_path, capsys, pickled)


def test_a_judge_of_another_data_set_is_one_line(tmp_path, capsys):
    line = bad_judge(tmp_path, capsys, scripted(tmp_path, Segmenter(19)))  # CelebAMask-HQ's 19 classes
    assert "gives (2, 19, 32, 32)" in line and "(2, 11, 32, 32)" in line
    classifier = scripted(tmp_path, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 11)), "clf.pt")
    assert "gives (2, 11)" in bad_judge(tmp_path, capsys, classifier)


def test_a_judge_no_chosen_table_uses_is_one_line(tmp_path, capsys):
    assert "none of the chosen tables" in bad_judge(tmp_path, capsys, scripted(tmp_path, Segmenter(11)), table="5")


def test_a_supplied_segmenter_judges_the_samples_and_is_part_of_the_cells(tmp_path):
    path = scripted(tmp_path, Segmenter(11))
    out = tmp_path / "out"
    argv = ["--table", "2", "--profile", "smoke", "--out", str(out), "--no-progress", "--device", "cpu",
            "--judge-weights", f"segmenter={path}"]
    assert run.main(argv, tables_with("smoke", TINY)) == 0
    table = pd.read_csv(out / "table2.csv")
    judged = table[table["metric"] == "mIoU of samples (supplied segmenter)"]
    assert set(judged["method"]) == {"SymmFlow", "SemFlow", "Real images"} and judged["value"].between(0, 100).all()
    assert not (table["metric"] == "mIoU of samples (SS U-Net)").any()
    spec = Table2(tables_with("smoke", TINY)["2"].settings)
    options = options_from(argv, {"2": spec})[1]
    settings = [dict(c.settings) for c in spec.cells(options) if c.metric.startswith("mIoU of samples")]
    assert {s["judge"] for s in settings} == {judges.sha256(path)}  # another file, another cell


def test_latent_space_without_a_supplied_segmenter_skips_with_the_reason(tmp_path):
    """The paper profile has no segmenter of its own trained on real images."""
    from benchmarks.cells import RunOptions

    spec = Table4()
    cells = spec.cells(RunOptions(profile="paper", out=tmp_path))
    assert any(c.metric == "mIoU of samples (supplied segmenter)" for c in cells)
    assert not any("SS U-Net" in c.metric for c in cells)
    assert [kind for kind, _ in spec.judge_probes("paper")] == ["segmenter", "segmenter"]
    assert {p.classes for _, p in spec.judge_probes("paper")} == {19, 171}
    assert Table5().judge_probes("paper") == []  # Table 5 segments only


def test_the_segmenters_embedding_is_its_pooled_middle_block_and_leaves_no_hook():
    """The image half of the scene set's joint distance (FJD (SS U-Net features))."""
    from baselines import ss
    from symmflow.models.pixel_unet import UNetConfig

    torch.manual_seed(0)
    config = UNetConfig(base_channels=8, multipliers=(1, 2), layers_per_block=1, head_channels=8, norm_groups=4)
    model = ss.ss_unet(config, 3, 4, 16).eval()
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        embedded = ss.bottleneck_features(model, images)
        again = ss.bottleneck_features(model, images[:1])
    assert embedded.shape == (3, 16) and torch.allclose(again, embedded[:1], atol=1e-5)
    assert not model.mid_block._forward_hooks  # the hook is gone once the features are read
    assert not torch.allclose(embedded[0], embedded[1])  # it sees the image
