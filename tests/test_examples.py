"""The committed examples run: examples/python_api.py trains a tiny model, loads its folder, segments a
batch and synthesises from its masks through the Python API."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_python_api_example_runs(tmp_path):
    spec = importlib.util.spec_from_file_location("python_api_example", ROOT / "examples" / "python_api.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    found = example.main(tmp_path, steps=10, size=16)
    assert [tuple(m.shape) for m in found["masks"]] == [(24, 24), (20, 36), (32, 16), (24, 24)]
    assert [tuple(x.shape) for x in found["images"]] == [(3, 24, 24), (3, 20, 36), (3, 32, 16), (3, 24, 24)]
    assert {"config.json", "diffusion_pytorch_model.safetensors", "README.md"} <= {
        p.name for p in (tmp_path / "model").iterdir()}
    assert "Held-out mIoU" in (tmp_path / "model" / "README.md").read_text()  # the model card states it
    assert (tmp_path / "synthesised-1.png").is_file()
