"""``python -m benchmarks.run`` and ``symmflow train`` on the options added since the first rounds:
``--weights``, ``--judge-weights``, ``--inception-dir``, ``--lpips-dir``, ``--pretrained``,
``--vae``, ``--report-to`` and the numeric and device options at their edges -- one ``error:``
line naming the remedy, exit 2, nothing written, before any network is built or trained; or the
input accepted (or warned about) where it is legitimate."""

import os
import pickle
import shutil

import pytest
import torch

from benchmarks import options as run_options
from symmflow import tracking
from symmflow.digests import folder_digest
from symmflow.metrics import ALEXNET_FILE, INCEPTION_FILE, PYTORCH_FID_FILE
from tests.helpers import RUN, TINY, seg_folders, use
from tests.test_bad_input import guided_mnist_file
from tests.test_bad_input_checked_first import argv as paper_argv, damaged_sd, harness, with_coco, world  # noqa: F401
from tests.test_bad_input_symmflow import accepted

TABLE1 = ["--table", "1", "--profile", "smoke", "--steps", "1", "--device", "cpu", "--no-progress"]
TABLE3 = ["--table", "3", "--profile", "smoke", "--device", "cpu", "--no-progress"]
TABLE4 = ["--table", "4", "--profile", "smoke", "--device", "cpu", "--no-progress"]


class Exploit:
    def __reduce__(self):
        return (print, ("this ran",))


def weights_file(tmp_path, kind: str):
    """A file given to ``--weights`` that is not a released model of the chosen tables."""
    path = tmp_path / "w" / f"{kind.replace(' ', '-')}.pt"
    path.parent.mkdir(exist_ok=True)
    if kind == "a missing file":
        return path
    if kind == "a folder without weights":
        path.mkdir()
        (path / "notes.txt").write_text("not weights")
    elif kind == "a text file":
        path.write_text("these are not the weights you are looking for\n")
    elif kind == "a truncated .pt":
        guided_mnist_file(path)
        path.write_bytes(path.read_bytes()[:4000])
    elif kind == "an empty .pt":
        path.write_bytes(b"")
    elif kind == "a pickle that needs code":
        path.write_bytes(pickle.dumps({"conv_in.weight": Exploit()}))
    elif kind == "a safetensors file of another network":
        from safetensors.torch import save_file

        path = path.with_suffix(".safetensors")
        save_file({"encoder.layer.weight": torch.zeros(3, 3)}, str(path))
    elif kind == "a latent model's file":
        path = path.with_name("LatFM_celeba_beta10.0.pt")
        torch.save({"unet.conv_in.weight": torch.zeros(1)}, path)
    else:
        guided_mnist_file(path)
    return path


@pytest.mark.parametrize("kind, value, needle", [
    ("a missing file", "symmflow@mnist={}", "is not a file; pass the released weights file"),
    ("a folder without weights", "symmflow@mnist={}", "holds no .safetensors or .bin weights"),
    ("a text file", "symmflow@mnist={}", "is not a state dict of tensors that loads without running code"),
    ("a truncated .pt", "symmflow@mnist={}", "is not a state dict of tensors that loads without running code"),
    ("an empty .pt", "symmflow@mnist={}", "is not a state dict of tensors that loads without running code"),
    ("a pickle that needs code", "symmflow@mnist={}", "is not a state dict of tensors that loads without running code"),
    ("a safetensors file of another network", "symmflow@mnist={}", "does not fit the symmflow network of MNIST"),
    ("a latent model's file", "symmflow={}", "is a CelebAMask-HQ model (its name says so)"),
    ("the MNIST file", "symmflow@CIFAR10={}", "the chosen tables have no data set 'CIFAR10'"),
    ("the MNIST file", "ss@mnist={}", "evaluate no released 'ss'"),
    ("the MNIST file", "nosuchmethod={}", "evaluate no released 'nosuchmethod'"),
    ("the MNIST file", "{}", "write METHOD[@DATASET]=PATH"),
    ("the MNIST file", "symmflow@mnist:{}", "write METHOD[@DATASET]=PATH"),
    ("the MNIST file", "symmflow@mnist=", "write METHOD[@DATASET]=PATH"),
    ("the MNIST file", "=", "write METHOD[@DATASET]=PATH"),
])
def test_weights_that_are_not_a_released_model_of_the_chosen_tables(refused, tmp_path, capsys, kind, value, needle):
    path = weights_file(tmp_path, kind)
    refused([*TABLE3, "--out", tmp_path / "out", "--weights", value.format(path)], needle, command="benchmarks.run")
    assert "this ran" not in capsys.readouterr().out  # nothing of the pickle executed


def test_weights_naming_one_method_and_data_set_twice_with_two_files(refused, tmp_path):
    one, two = guided_mnist_file(tmp_path / "one.pt"), guided_mnist_file(tmp_path / "two.pt")
    refused([*TABLE3, "--out", tmp_path / "out", "--weights", f"symmflow@mnist={one}", "--weights",
             f"symmflow@mnist={two}"], "names symmflow@mnist twice", command="benchmarks.run")


# ---------------------------------------------------------------- judges of generated images


@pytest.mark.parametrize("value, needle", [
    ("classifier={missing}", "is not a file; pass a TorchScript module"),
    ("classifier={folder}", "is not a file; pass a TorchScript module"),
    ("classifier={text}", "is not a TorchScript module"),
    ("classifier={truncated}", "is not a TorchScript module"),
    ("classifier={state}", "is not a TorchScript module"),
    ("{state}", "write KIND=PATH with KIND one of segmenter, classifier"),
    ("discriminator={state}", "write KIND=PATH with KIND one of segmenter, classifier"),
    ("segmenter={script}", "none of the chosen tables judges generated images with a segmenter"),
    ("classifier={script}", "fails on mnist's images (2, 1, 32, 32)"),
])
def test_judge_weights_that_cannot_judge_the_chosen_tables(refused, tmp_path, value, needle):
    files = {"missing": tmp_path / "absent.pt", "folder": tmp_path / "judges", "text": tmp_path / "text.pt",
             "truncated": tmp_path / "cut.pt", "state": tmp_path / "state.pt", "script": tmp_path / "script.pt"}
    files["folder"].mkdir()
    files["text"].write_text("a judge\n")
    torch.save({"w": torch.zeros(3)}, files["state"])
    script = torch.jit.script(torch.nn.Linear(5, 3))  # not an image classifier: 5 features in
    script.save(str(files["script"]))
    files["truncated"].write_bytes(files["script"].read_bytes()[:500])
    refused([*TABLE3, "--out", tmp_path / "out", "--judge-weights", value.format(**files)], needle,
            command="benchmarks.run")


def test_one_judge_kind_given_twice(refused, tmp_path):
    torch.jit.script(torch.nn.Linear(5, 3)).save(str(tmp_path / "a.pt"))
    refused([*TABLE3, "--out", tmp_path / "out", "--judge-weights", f"classifier={tmp_path / 'a.pt'}",
             "--judge-weights", f"classifier={tmp_path / 'a.pt'}"], "names a classifier twice",
            command="benchmarks.run")


# ---------------------------------------------------------------- the judges' weight folders


@pytest.mark.parametrize("option, what, needle", [
    ("--inception-dir", "a file", "is a file; pass the folder holding it"),
    ("--inception-dir", "a missing folder", "not found; pass the folder holding"),
    ("--inception-dir", "an empty folder", "holds none of inception-2015-12-05.pt"),
    ("--inception-dir", "a folder of other files", "holds none of inception-2015-12-05.pt"),
    ("--inception-dir", "an empty weights file", f"{PYTORCH_FID_FILE} do not read (empty)"),
    ("--inception-dir", "a truncated weights file", f"{INCEPTION_FILE} do not read (damaged or truncated)"),
    ("--lpips-dir", "a file", "is a file; pass the folder holding it"),
    ("--lpips-dir", "a missing folder", "not found; pass the folder holding"),
    ("--lpips-dir", "an empty folder", f"holds none of {ALEXNET_FILE}"),
    ("--lpips-dir", "a truncated weights file", f"{ALEXNET_FILE} do not read (damaged or truncated)"),
])
def test_metric_weight_folders_that_cannot_serve(refused, tmp_path, option, what, needle):
    folder = tmp_path / "weights"
    name = {"--inception-dir": INCEPTION_FILE, "--lpips-dir": ALEXNET_FILE}[option]
    if what == "a file":
        folder.write_bytes(b"")
    elif what != "a missing folder":
        folder.mkdir()
    if what == "a folder of other files":
        (folder / "inception_v3_google.pth").write_bytes(b"\0" * 64)
    elif what == "an empty weights file":
        (folder / PYTORCH_FID_FILE).write_bytes(b"")
    elif what == "a truncated weights file":
        torch.save({"w": torch.zeros(256)}, folder / name)
        (folder / name).write_bytes((folder / name).read_bytes()[:-40])
    if folder.is_dir() and any(folder.iterdir()):
        folder_digest(folder)  # its digest's record: a cache of the input, not an output
    refused([*TABLE4, "--out", tmp_path / "out", option, folder], needle, command="benchmarks.run")


# ---------------------------------------------------------------- Stable Diffusion and VAE folders (paper profile)


@pytest.mark.parametrize("case, needle", [
    ("--vae a file", "--vae"),
    ("--vae a folder without config.json", "no config.json there or in its vae/"),
    ("--vae a config of another class", "describes a UNet2DConditionModel, not a VAE"),
    ("--vae weights of zero bytes", "is truncated (0 bytes"),
    ("--vae truncated weights", "diffusion_pytorch_model.safetensors is truncated"),
    ("--vae without weights", "no weights"),
    ("--pretrained a file", "no unet/config.json in"),
    ("--pretrained a folder without config.json", "no unet/config.json in"),
    ("--pretrained a U-Net config of another class", "describes a AutoencoderKL, not the UNet2DConditionModel"),
    ("--pretrained a VAE of zero bytes", "vae/diffusion_pytorch_model.safetensors is truncated (0 bytes"),
])
def test_pretrained_and_vae_folders_that_cannot_serve(world, tmp_path, harness, refused, case, needle):  # noqa: F811
    sd, extra = None, []
    vae = tmp_path / "vae"
    if case.startswith("--vae"):
        if case == "--vae a file":
            vae.write_text("{}")
        elif case == "--vae a folder without config.json":
            vae.mkdir()
            (vae / "diffusion_pytorch_model.safetensors").write_bytes(
                (world["sd"] / "vae" / "diffusion_pytorch_model.safetensors").read_bytes())
        elif case == "--vae a config of another class":
            shutil.copytree(world["sd"] / "unet", vae)
        else:
            shutil.copytree(world["sd"] / "vae", vae)
            weights = vae / "diffusion_pytorch_model.safetensors"
            if case == "--vae without weights":
                weights.unlink()
            else:
                weights.write_bytes(b"" if "zero" in case else weights.read_bytes()[:3000])
        folder_digest(vae)
        extra = ["--vae", vae]
    elif case == "--pretrained a file":
        sd = tmp_path / "sd.safetensors"
        sd.write_bytes(b"\0" * 64)
    elif case == "--pretrained a folder without config.json":
        sd = tmp_path / "sd"
        shutil.copytree(world["sd"], sd)
        for config in sd.glob("*/config.json"):
            config.unlink()
        (sd / "model_index.json").unlink(missing_ok=True)
        folder_digest(sd)
    elif case == "--pretrained a U-Net config of another class":
        sd = damaged_sd(world, tmp_path, "unet", config={"_class_name": "AutoencoderKL"})
    else:
        sd = damaged_sd(world, tmp_path, "vae", keep=0)
    data = with_coco(world, tmp_path)  # both data sets there: the one problem is the folder's
    refused(paper_argv(world, tmp_path / "out", data, sd, *extra), needle, command="benchmarks.run")


# ---------------------------------------------------------------- trackers


def not_installed(monkeypatch):
    real = tracking.importlib.util.find_spec
    monkeypatch.setattr(tracking.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("tensorboard", "wandb") else real(name, *a))


@pytest.mark.parametrize("case, needle", [
    ("an unknown tracker", "--report-to 'mlflow': choose one of tensorboard, wandb"),
    ("a tracker not installed", "the tensorboard package is not installed"),
    ("a logs path that is a file", "logs is a file where the run needs a folder"),
])
def test_report_to_the_harness(refused, tmp_path, monkeypatch, case, needle):
    tracker = "mlflow" if case == "an unknown tracker" else "tensorboard"
    if case == "a tracker not installed":
        not_installed(monkeypatch)
    if case == "a logs path that is a file":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "logs").write_text("my notes")
    refused([*TABLE1, "--out", tmp_path / "out", "--report-to", tracker], needle, command="benchmarks.run")


@pytest.mark.parametrize("case, needle", [
    ("an unknown tracker", "--report-to 'mlflow': choose one of tensorboard, wandb"),
    ("a tracker not installed", "the tensorboard package is not installed"),
    ("a logs path that is a file", "is a file; pass a folder"),
    ("a logs folder without a tracker", "--logging-dir is the folder of --report-to's tracker"),
    ("a logs folder that is the working directory", "is the working directory"),
])
def test_report_to_symmflow_train(refused, tmp_path, monkeypatch, case, needle):
    images, masks = seg_folders(tmp_path / "in")
    extra = ["--report-to", "tensorboard"]
    if case == "an unknown tracker":
        extra = ["--report-to", "mlflow"]
    elif case == "a tracker not installed":
        not_installed(monkeypatch)
    elif case == "a logs path that is a file":
        (tmp_path / "logs").write_text("my notes")
        extra += ["--logging-dir", tmp_path / "logs"]
    elif case == "a logs folder without a tracker":
        extra = ["--logging-dir", tmp_path / "logs"]
    else:
        monkeypatch.chdir(tmp_path)
        extra += ["--logging-dir", "."]
    refused(["train", "--images", images, "--masks", masks, "--out", tmp_path / "m", *TINY, *extra], needle)


# ---------------------------------------------------------------- numbers and devices at their edges


@pytest.mark.parametrize("option, value, needle", [
    ("--seeds", "0,0", "give distinct integers"), ("--seeds", "-1", "from 0 to 2^63 - 1"),
    ("--seeds", "0,-3", "from 0 to 2^63 - 1"), ("--seeds", str(2 ** 63), "from 0 to 2^63 - 1"),
    ("--seeds", "0,1.5", "is not a comma-separated list of integers"), ("--seeds", ",", "give distinct integers"),
    ("--steps", "2,2", "names 2 twice"), ("--steps", "1,x", "is not a comma-separated list of integers"),
    ("--steps", "1,-2", "every step count must be a positive integer"),
    ("--solver", "dopri5:abc", "the tolerance must be a number"), ("--solver", "dopri5:", "nothing after ':'"),
    ("--solver", "rk4", "unknown solver 'rk4'"),
    ("--threads", "-1", "use 1 to"), ("--threads", "100000", "use 1 to"),
    ("--checkpoint-every", "-3", "use a positive number of steps"),
    ("--device", "cuda", "no CUDA device is visible here"), ("--device", "cuda:3", "no CUDA device is visible here"),
    ("--device", "tpu", "is not a device"),
])
def test_harness_options_at_their_edges(refused, tmp_path, option, value, needle):
    if option == "--device" and torch.cuda.is_available():
        pytest.skip("a CUDA device is visible here")
    refused([*TABLE1, "--out", tmp_path / "out", option, value], needle, command="benchmarks.run")


def test_render_only_on_a_folder_without_stored_cells(refused, tmp_path):
    (tmp_path / "out").mkdir()
    refused([*TABLE1, "--out", tmp_path / "out", "--render-only"], "holds no stored cells, so there is nothing",
            command="benchmarks.run")


@pytest.mark.parametrize("command, option, value, needle", [
    ("train", "--device", "cuda", "no CUDA device is visible here"),
    ("segment", "--device", "cuda:1", "no CUDA device is visible here"),
    ("sample", "--device", "gpu", "is not a device"),
    ("train", "--threads", "0", "use a positive integer"), ("classify", "--threads", "-1", "use a positive integer"),
    ("segment", "--seed", str(2 ** 63), "an integer from 0 to 2^63 - 1"),
])
def test_symmflow_options_at_their_edges(refused, tmp_path, seg_model, clf_model, command, option, value, needle):
    if option == "--device" and torch.cuda.is_available():
        pytest.skip("a CUDA device is visible here")
    if command == "train":
        images, masks = seg_folders(tmp_path / "in")
        argv = ["train", "--images", images, "--masks", masks, "--out", tmp_path / "m", *TINY]
    else:
        argv = [*use(command, seg_model, clf_model, tmp_path), *RUN]
    refused([*argv, option, value], needle)


def test_seeds_with_an_empty_entry_and_unsorted_steps_are_accepted(bad_input_log, request):
    assert run_options.parse_seeds("0,,1") == (0, 1) and run_options.parse_seeds("3,1,") == (3, 1)
    assert run_options.parse_steps("5,1") == (5, 1)
    accepted(bad_input_log, request, "python -m benchmarks.run --seeds 0,,1 --steps 5,1",
             "accepted: seeds (0, 1), steps (5, 1): an empty entry is a stray comma; the step counts in the order "
             "given")


def test_more_threads_than_cores_is_a_warning_and_runs(tmp_path, capsys, bad_input_log, request):
    cores, before = os.cpu_count() or 1, torch.get_num_threads()
    capsys.readouterr()
    _, options = run_options.options_from([*TABLE1, "--out", str(tmp_path / "out"), "--threads",
                                           str(cores + 1), "--dry-run"])
    assert options.threads == cores + 1 and torch.get_num_threads() == before  # set when the work starts
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: --threads") and "more than" in warning[0], warning
    accepted(bad_input_log, request, "python -m benchmarks.run --threads <cores + 1> --dry-run",
             warning[0].replace(str(cores + 1), "<cores + 1>").replace(f"{cores} cores", "<cores> cores"))
