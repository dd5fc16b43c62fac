"""Supplied weights in the authors' layouts drive the paper profile's tables with nothing trained;
a wrong file is one line, exit 2, nothing trained or stored."""

import dataclasses
import json
import pickle

import pandas as pd
import pytest
import torch
from safetensors import safe_open

from baselines.diffusion_classifier import Schedule
from benchmarks import released, run
from benchmarks.methods import Problem
from benchmarks.methods.symmflow import SymmFlowMethod
from benchmarks.profiles import CLASSIFICATION, SEGSYNTH, Budget
from benchmarks.released import backbone
from benchmarks.tables.classification import Table3, Table11
from symmflow.codecs import PaletteCodec
from symmflow.method import AUTHORS
from symmflow.models.guided_unet import GuidedUNetConfig
from tests.test_classification_data import write_mnist
from tests.test_guided_unet import FIXTURES
from tests.test_segsynth_tables import tables_with


@pytest.fixture
def nothing_trains(monkeypatch):
    def trained(*args, **kwargs):
        raise AssertionError("an optimiser step ran in a --weights run")

    monkeypatch.setattr("symmflow.train.fit", trained)
    monkeypatch.setattr("benchmarks.trained.fit", trained)


# ---------------------------------------------------------------- the latent models


@pytest.fixture(scope="module")
def latent(tmp_path_factory):
    """A tiny SD folder, a tiny CelebAMask-HQ layout, the paper profile on them, and a weights
    file in the authors' latent layout: ``unet.`` + the widened SD U-Net's keys, pickled tensors."""
    from tests.test_datasets import celeba_fixture
    from tests.test_latent import tiny_sd_folder

    root = tmp_path_factory.mktemp("latent")
    celeba_fixture(root / "data", ids=(0, 1, 2001), size=16)
    sd = tiny_sd_folder(root / "sd")
    paper = dataclasses.replace(SEGSYNTH["paper"], datasets=("CelebAMask-HQ",), resolution=16, eval_batch=2,
                                latent={**SEGSYNTH["paper"].latent, "fid_samples": 0})
    from benchmarks.datasets import open_dataset
    from symmflow.models.latent import load_space

    data = open_dataset("CelebAMask-HQ", paper, root / "data", 0)
    space = load_space(sd, data.palette)
    problem = Problem("CelebAMask-HQ", 8, 16, data.num_classes, None, data.palette, data.ignore_index, space, sd)
    net = backbone(SymmFlowMethod(problem, paper.symmflow_for("CelebAMask-HQ")).build())
    torch.manual_seed(1)
    state = {f"unet.{k}": torch.randn_like(v) * 0.02 for k, v in net.state_dict().items()}
    weights = root / "LatFM_celeba_beta10.0.pt"
    torch.save(state, weights)  # as accelerator.save(ema.state_dict(), ...) writes it
    return {"root": root, "sd": sd, "paper": paper, "weights": weights, "state": state}


def latent_argv(latent, out, *extra):
    return ["--table", "2,4,5", "--profile", "paper", "--steps", "1,2", "--out", str(out), "--device", "cpu",
            "--no-progress", "--data-root", str(latent["root"] / "data"), "--pretrained", str(latent["sd"]),
            "--skip-missing-metrics", *extra]  # FID and LPIPS cells skipped where their extra is absent


def test_released_latent_weights_drive_tables_2_4_5_with_nothing_trained(latent, tmp_path, nothing_trains):
    out = tmp_path / "out"
    assert run.main(latent_argv(latent, out, "--weights", f"symmflow={latent['weights']}"),
                    tables_with("paper", latent["paper"])) == 0
    cells = [json.loads(p.read_text()) for p in out.glob("cells/*/*.json")]
    table5 = pd.read_csv(out / "table5.csv")
    assert set(table5["method"]) == {"SymmFlow (released weights)"} and table5["value"].between(0, 100).all()
    table2 = pd.read_csv(out / "table2.csv")
    assert set(table2["method"]) == {"SymmFlow (released weights)", "SymmFlow (1 step) (released weights)"}
    assert not (out / "checkpoints").exists() or not list((out / "checkpoints").glob("symmflow-*"))
    assert {c["status"] for c in cells} <= {"ok", "skipped"} and any(c["status"] == "ok" for c in cells)


def wrong_file(tmp_path, latent, kind):
    path = tmp_path / "LatFM_celeba_beta10.0.pt"
    state = dict(latent["state"])
    if kind == "another network":  # the SD U-Net before conv_in was widened to 8 channels
        state["unet.conv_in.weight"] = state["unet.conv_in.weight"][:, :4]
    elif kind == "a missing key":
        del state["unet.conv_out.bias"]
    elif kind == "another data set":
        path = tmp_path / "LatFM_coco_beta6.0.pt"
    if kind == "a truncated file":
        torch.save(state, path)
        path.write_bytes(path.read_bytes()[:1000])
    elif kind == "a pickle that carries code":
        path.write_bytes(pickle.dumps({"unet.x": Exploit()}))
    elif kind == "not a state dict":
        torch.save([1, 2, 3], path)
    else:
        torch.save(state, path)
    return path


class Exploit:
    def __reduce__(self):
        return (print, ("this ran",))


@pytest.mark.parametrize("kind, needle", [
    ("another network", "1 mismatches; first: 'conv_in.weight' has shape"),
    ("a missing key", "first: missing key 'conv_out.bias'"),
    ("another data set", "is a COCO-Stuff model"),
    ("a truncated file", "is not a state dict of tensors that loads without running code"),
    ("a pickle that carries code", "is not a state dict of tensors that loads without running code"),
    ("not a state dict", "holds a list, not a state dict of tensors"),
])
def test_a_wrong_weights_file_is_one_line_and_nothing_runs(latent, tmp_path, capsys, nothing_trains, kind, needle):
    out = tmp_path / "out"
    path = wrong_file(tmp_path, latent, kind)
    capsys.readouterr()
    assert run.main(latent_argv(latent, out, "--weights", f"symmflow={path}"),
                    tables_with("paper", latent["paper"])) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err[-1].startswith("error: --weights") and needle in err[-1] and "Traceback" not in captured.err, err
    assert [line for line in err if line.startswith("error")] == err[-1:]  # one line says what is wrong
    assert "this ran" not in captured.out
    assert not list(out.glob("cells/*/*.json"))


def test_weights_for_a_method_the_tables_do_not_evaluate(latent, tmp_path, capsys):
    assert run.main(latent_argv(latent, tmp_path / "out", "--weights", f"ss={latent['weights']}"),
                    tables_with("paper", latent["paper"])) == 2
    assert "evaluate no released 'ss'" in capsys.readouterr().err


# ---------------------------------------------------------------- the pixel models


def test_the_authors_pixel_weights_drive_tables_3_and_11_with_nothing_trained(tmp_path, nothing_trains):
    """The tiny fixture of the authors' U-Net (their module's weights, no prefix) as a released
    MNIST classifier: Tables 3 and 11 of the paper profile on an MNIST layout, nothing trained."""
    with safe_open(str(FIXTURES / "guided_unet_tiny.safetensors"), "pt") as f:
        config = json.loads(f.metadata()["config"])
        state = {k.removeprefix("weight."): f.get_tensor(k).float() for k in f.keys() if k.startswith("weight.")}
    weights = tmp_path / "mnist_ema.pt"
    torch.save(state, weights)
    write_mnist(tmp_path / "data", n=12)
    tiny = GuidedUNetConfig(model_channels=config["model_channels"], num_res_blocks=config["num_res_blocks"],
                            channel_mult=tuple(config["channel_mult"]),
                            attention_resolutions=tuple(config["attention_resolutions"]),
                            num_head_channels=config["num_head_channels"])
    paper = dataclasses.replace(CLASSIFICATION["paper"][0], unet=tiny, budget=Budget(2, 4, 1e-3, 1), test_limit=8,
                                dc_images=1, dc_cheap=(Schedule((2,), (1,)),), dc_cheap_images=2, eval_batch=8,
                                generate_per_class=1, generate_steps=2)
    assert paper.symmflow == AUTHORS
    tables = {"3": Table3({"paper": (paper,)}), "11": Table11({"paper": (paper,)})}
    out = tmp_path / "out"
    assert run.main(["--table", "3,11", "--profile", "paper", "--steps", "1,2", "--out", str(out), "--device", "cpu",
                     "--no-progress", "--data-root", str(tmp_path / "data"), "--weights", f"symmflow={weights}"],
                    tables) == 0
    table11 = pd.read_csv(out / "table11.csv")
    assert set(table11["method"]) == {"SymmFlow (released weights)"} and len(table11) == 4
    table3 = pd.read_csv(out / "table3.csv")
    assert set(table3["method"]) == {"SymmFlow (released weights)"}  # nothing that needs another trained network
    assert set(table3["metric"]) == {"accuracy"} and table3["value"].between(0, 100).all()


def test_a_file_named_for_one_data_set_answers_that_data_sets_cells_only(tmp_path, capsys):
    weights = tmp_path / "LatFM_celeba_beta10.0.pt"
    torch.save({"unet.conv_in.weight": torch.zeros(1)}, weights)  # the name decides; the fit is checked later
    assert run.main(["--table", "2", "--profile", "paper", "--dry-run", "--data-root", str(tmp_path),
                     "--weights", f"symmflow={weights}", "--datasets", "released"]) == 2  # no data, no --pretrained
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("table 2: ")]
    assert listed and all("CelebAMask-HQ SymmFlow" in line and "(released weights)" in line for line in listed)


def tiny_authors_unet() -> tuple[GuidedUNetConfig, dict]:
    """The fixture of the authors' U-Net: its config and its weights (2 channels in and out)."""
    with safe_open(str(FIXTURES / "guided_unet_tiny.safetensors"), "pt") as f:
        config = json.loads(f.metadata()["config"])
        state = {k.removeprefix("weight."): f.get_tensor(k).float() for k in f.keys() if k.startswith("weight.")}
    return GuidedUNetConfig(model_channels=config["model_channels"], num_res_blocks=config["num_res_blocks"],
                            channel_mult=tuple(config["channel_mult"]),
                            attention_resolutions=tuple(config["attention_resolutions"]),
                            num_head_channels=config["num_head_channels"]), state


def two_pixel_tables(tmp_path):
    """Tables 3 and 11 of the paper profile on MNIST and CIFAR-10 with the tiny authors' U-Net, and
    the fixture's weights (2 channels in and out: MNIST's image channel + 1) as a released file."""
    tiny, state = tiny_authors_unet()
    settings = tuple(dataclasses.replace(s, unet=tiny) for s in CLASSIFICATION["paper"])
    weights = tmp_path / "ema.pt"  # a name that says nothing: the shapes decide
    torch.save(state, weights)
    return {"3": Table3({"paper": settings}), "11": Table11({"paper": settings})}, weights


def test_a_pixel_file_of_mnist_shapes_answers_the_mnist_cells_only(tmp_path):
    from benchmarks import parts
    from benchmarks.options import options_from

    tables, weights = two_pixel_tables(tmp_path)
    argv = ["--table", "3,11", "--profile", "paper", "--dry-run", "--out", str(tmp_path / "out"),
            "--weights", f"symmflow={weights}"]
    chosen, options = options_from(argv, tables)
    assert options.released == {("symmflow", "MNIST"): weights}
    for spec in chosen:
        every = spec.cells(options)
        kept = parts.select(spec, every, options)
        mnist = [c for c in kept if c.dataset == "MNIST"]
        assert mnist and all(c.method.endswith("(released weights)") and "weights" in c.settings for c in mnist)
        assert [c for c in kept if c.dataset == "CIFAR-10"] == [c for c in every if c.dataset == "CIFAR-10"]
        for datasets in ("MNIST", "released"):  # restricted: the released cells alone
            _, only = options_from([*argv, "--datasets", datasets], tables)
            assert parts.select(spec, spec.cells(only), only) == mnist
        _, cifar = options_from([*argv[:-2], "--datasets", "cifar10"], tables)
        assert {c.dataset for c in parts.select(spec, spec.cells(cifar), cifar)} == {"CIFAR-10"}
    experiment_options = released.scoped(options, "CIFAR-10")
    assert experiment_options.weights == {} and released.scoped(options, "MNIST").weights == {"symmflow": weights}


@pytest.mark.parametrize("extra, needle", [
    (["--weights", "symmflow@CIFAR-10={w}"], "does not fit the symmflow network of CIFAR-10 (3 mismatches; first: "
                                               "'input_blocks.0.0.weight' has shape (32, 2, 3, 3)"),
    (["--weights", "symmflow={w}", "--weights", "symmflow@mnist={w}"], "names symmflow@MNIST twice"),
    (["--weights", "symmflow={w}", "--datasets", "CIFAR-10"], "answers MNIST, which --datasets leaves out"),
    (["--weights", "symmflow={w}", "--methods", "cross-entropy"], "--methods leaves symmflow out"),
])
def test_a_pixel_file_for_another_data_set_is_one_line(tmp_path, capsys, extra, needle):
    tables, weights = two_pixel_tables(tmp_path)
    argv = ["--table", "3,11", "--profile", "paper", "--dry-run", "--out", str(tmp_path / "out"),
            *(e.format(w=weights) for e in extra)]
    assert run.main(argv, tables) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --weights") and "\n" not in err and needle in err, err


# ---------------------------------------------------------------- another VAE (--vae)


@pytest.fixture(scope="module")
def own_vae(latent, tmp_path_factory):
    """A VAE folder on its own (as sd-vae-ft-mse is published): the SD folder's VAE, weights changed."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(str(latent["sd"]), subfolder="vae")
    with torch.no_grad():
        vae.decoder.conv_out.bias.add_(0.5)
    folder = tmp_path_factory.mktemp("vae") / "sd-vae-ft-mse"
    vae.save_pretrained(folder)
    return folder


def test_another_vae_is_used_and_keeps_its_cells_apart(latent, own_vae, tmp_path, nothing_trains):
    from benchmarks.cells import RunOptions
    from benchmarks.methods import pretrained_identity
    from symmflow.models.latent import load_space

    palette = PaletteCodec(((0, 0, 0), (255, 255, 255)), 0.0)
    space = load_space(latent["sd"], palette, own_vae)
    own = load_space(latent["sd"], palette)
    assert torch.allclose(space.vae.decoder.conv_out.bias, own.vae.decoder.conv_out.bias + 0.5)
    tables = tables_with("paper", latent["paper"])
    out = tmp_path / "out"
    assert run.main(latent_argv(latent, out, "--weights", f"symmflow={latent['weights']}", "--vae", str(own_vae)),
                    tables) == 0
    options = RunOptions(profile="paper", out=out, pretrained=latent["sd"])
    default = {c.key for c in tables["2"].cells(options)}
    with_vae = tables["2"].cells(dataclasses.replace(options, vae=own_vae))
    assert all(c.settings["vae"] == pretrained_identity(own_vae) for c in with_vae)
    assert not default & {c.key for c in with_vae}  # never mixed with the folder's own VAE's cells
    stored = {p.stem for p in out.glob("cells/*/*.json")}
    assert stored and not stored & default


@pytest.mark.parametrize("kind, needle", [
    ("not a VAE", "describes a UNet2DConditionModel, not a VAE"),
    ("no folder", "no config.json there or in its vae/"),
    ("damaged weights", "diffusion_pytorch_model.safetensors is truncated"),
    ("pixel profile", "none of the chosen tables runs in latent space in the cpu profile"),
])
def test_a_wrong_vae_is_one_line_and_nothing_runs(latent, own_vae, tmp_path, capsys, nothing_trains, kind, needle):
    import shutil

    vae = own_vae
    if kind == "not a VAE":
        vae = latent["sd"] / "unet"
    elif kind == "no folder":
        vae = tmp_path / "absent"
    elif kind == "damaged weights":
        vae = tmp_path / "damaged"
        shutil.copytree(own_vae, vae)
        weights = vae / "diffusion_pytorch_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:2000])
    out = tmp_path / "out"
    argv = latent_argv(latent, out, "--weights", f"symmflow={latent['weights']}", "--vae", str(vae))
    if kind == "pixel profile":
        argv = ["--table", "2", "--profile", "cpu", "--out", str(out), "--vae", str(vae)]
    capsys.readouterr()
    assert run.main(argv, tables_with("paper", latent["paper"])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --vae") and needle in err[-1], err
    assert [line for line in err if line.startswith("error")] == err[-1:]
    assert not list(out.glob("cells/*/*.json"))


def test_a_released_coco_model_is_evaluated_with_the_colours_it_was_trained_with(tmp_path):
    """Whatever palette the profile chooses, ``--weights`` on COCO-Stuff colours and decodes masks by
    raw id (reference notes section 11), and the palette is part of the data's identity."""
    import dataclasses

    from benchmarks.datasets import open_dataset
    from benchmarks.profiles import SEGSYNTH
    from studies.standins import write_cocostuff
    from symmflow.data import cocostuff

    write_cocostuff(tmp_path, count=10, size=16)
    contiguous = dataclasses.replace(SEGSYNTH["paper"], palettes={}, resolution=16)
    for settings in (contiguous, SEGSYNTH["paper"]):
        trained = released.as_trained(settings, "COCO-Stuff")
        assert trained.palettes["COCO-Stuff"] == {"colours": "raw-id"}
        data = open_dataset("COCO-Stuff", dataclasses.replace(trained, resolution=16), tmp_path, 0)
        assert torch.equal(data.palette.colours, cocostuff.palette(colours="raw-id").colours)
        assert data.identity["palette"] == {"colours": "raw-id"}
    assert "palette" not in open_dataset("COCO-Stuff", contiguous, tmp_path, 0).identity  # the default: as stored
    assert released.as_trained(contiguous, "CelebAMask-HQ") is contiguous
