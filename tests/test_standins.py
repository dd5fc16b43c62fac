"""The stand-ins of the paper profile's inputs and its latent training step, at toy size on the CPU
(the same commands run at full size on a GPU: benchmarks/gpu_session.sh)."""

import json
import os
import subprocess
from pathlib import Path

from studies import latent_throughput, standins
from symmflow.data import celebamask, cocostuff


def test_standin_data_open_with_the_papers_readers(tmp_path):
    standins.write_celebamask(tmp_path, count=10, size=16)
    standins.write_cocostuff(tmp_path, count=10, size=16)
    image, mask = celebamask.dataset(tmp_path, "train", size=None)[0]
    assert image.shape == (3, 16, 16) and 0 <= mask.min() and mask.max() <= 18
    assert len(celebamask.dataset(tmp_path, "train", size=None)) == 8  # the split files: 8 / 1 / 1
    image, mask = cocostuff.dataset(tmp_path, "train", size=None)[0]
    assert set(mask.unique().tolist()) <= set(range(171)) | {255}


def test_the_latent_step_is_measured_on_the_standins(tmp_path, capsys):
    standins.write_sd_folder(tmp_path / "sd", "tiny")
    standins.write_celebamask(tmp_path / "data", count=10, size=16)
    out = tmp_path / "out"
    assert latent_throughput.main(["--pretrained", str(tmp_path / "sd"), "--data-root", str(tmp_path / "data"),
                                   "--device", "cpu", "--batch", "2", "--steps", "2", "--warmup", "1",
                                   "--datasets", "CelebAMask-HQ", "--resolution", "16", "--out", str(out)]) == 0
    (row,) = json.loads((out / "latent-throughput.json").read_text())["rows"]
    assert row["samples_per_s"] > 0 and row["loss_finite"] and row["bf16"] is False  # bf16 only on a GPU
    assert row["projected_gpu_hours"] == 200 * 24_183 / row["samples_per_s"] / 3600
    assert "| CelebAMask-HQ | 16 | 2 |" in (out / "latent-throughput.md").read_text()


def test_bad_standin_options_are_one_line(tmp_path, capsys):
    assert standins.main(["--out", str(tmp_path), "--scale", "huge"]) == 2
    assert latent_throughput.main(["--pretrained", str(tmp_path / "none"), "--data-root", str(tmp_path),
                                   "--datasets", "Cityscapes"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error:") for line in err)


def test_the_gpu_session_checks_the_released_weights_inputs_before_any_gpu_work(tmp_path):
    """Each missing input of the released-weights step is one line and exit 2 on any machine, before
    the GPUs are counted and before anything is written."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_session.sh"
    released = tmp_path / "released"
    released.mkdir()
    env = {**os.environ, "RELEASED": str(released), "CUDA_VISIBLE_DEVICES": ""}
    for name in ("SD21", "DATA"):
        env.pop(name, None)

    def session():
        return subprocess.run(["bash", str(script), str(tmp_path / "out")], env=env, capture_output=True, text=True)

    done = session()
    assert done.returncode == 2 and "DATA" in done.stdout and not (tmp_path / "out").exists()
    (tmp_path / "data").mkdir()
    env["DATA"] = str(tmp_path / "data")
    done = session()
    assert done.returncode == 2 and "no .pt, .pth, .bin or .safetensors file" in done.stdout
    (released / "LatFM_coco_beta6.0.pt").write_bytes(b"")
    done = session()
    assert done.returncode == 2 and "SD21" in done.stdout and not (tmp_path / "out").exists()
    (tmp_path / "sd").mkdir()
    env["SD21"] = str(tmp_path / "sd")
    done = session()  # every input there: now the missing GPU is what stops it
    assert done.returncode == 2 and "no GPU visible" in done.stdout and not (tmp_path / "out").exists()