"""The authors' pixel U-Net, written here, against facts about theirs: the state-dict names and
shapes of their MNIST model, and the output of a tiny configuration of their module on fixed
weights (tests/fixtures/README.md says how the fixtures were made)."""

import json
from pathlib import Path

import torch
from safetensors import safe_open

from symmflow.models.guided_unet import AUTHORS_MNIST, GuidedUNet, GuidedUNetConfig

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_the_mnist_network_has_the_authors_state_dict_names_and_shapes():
    reference = json.loads((FIXTURES / "guided_unet_mnist_keys.json").read_text())["state_dict"]
    mine = {k: list(v.shape) for k, v in GuidedUNet(AUTHORS_MNIST, 2, 2).state_dict().items()}
    assert mine == reference
    assert [k for k in mine if "qkv" in k] == ["middle_block.1.qkv.weight", "middle_block.1.qkv.bias"]  # attention
    # in the middle block only: the factors 1, 2, 4, 8 of a 32 px input never equal 16


def test_the_output_equals_the_reference_modules_on_fixed_weights():
    with safe_open(str(FIXTURES / "guided_unet_tiny.safetensors"), "pt") as f:
        config = json.loads(f.metadata()["config"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    net = GuidedUNet(GuidedUNetConfig(model_channels=config["model_channels"],
                                      num_res_blocks=config["num_res_blocks"],
                                      channel_mult=tuple(config["channel_mult"]),
                                      attention_resolutions=tuple(config["attention_resolutions"]),
                                      num_head_channels=config["num_head_channels"], num_heads=config["num_heads"]),
                     config["in_channels"], config["out_channels"]).eval()
    state = {k.removeprefix("weight."): v.float() for k, v in tensors.items() if k.startswith("weight.")}
    net.load_state_dict(state, strict=True)  # no renaming
    with torch.no_grad():
        out = net(tensors["input"], tensors["t"])
    assert torch.allclose(out, tensors["output"], atol=1e-5, rtol=0)
    assert "input_blocks.3.1.qkv.weight" in state  # the fixture exercises attention outside the middle block
