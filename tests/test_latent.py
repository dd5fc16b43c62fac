"""Latent SymmFlow from a tiny random-weight Stable Diffusion folder in diffusers layout."""

import pytest
import torch

from baselines.semflow import latent_semflow
from symmflow.codecs import PaletteCodec
from symmflow.errors import UsageError
from symmflow.models import latent
from symmflow.solver import NFECounter
from symmflow.tasks import generate, predict

PALETTE = PaletteCodec([(0, 0, 0), (255, 0, 0), (0, 0, 255)], beta=10)


def tiny_sd_folder(root, in_channels: int = 4):
    """A toy-size Stable Diffusion folder in diffusers layout (random weights)."""
    from studies.standins import write_sd_folder

    return write_sd_folder(root, "tiny", in_channels)


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    return tiny_sd_folder(tmp_path_factory.mktemp("sd"))


def test_widening_duplicates_the_pretrained_weights(sd_folder):
    original = latent.load_unet(sd_folder)
    w_in, w_out, b_out = (original.conv_in.weight.clone(), original.conv_out.weight.clone(),
                          original.conv_out.bias.clone())
    wide = latent.widen_conv_io(original)
    assert wide.conv_in.in_channels == 8 and wide.conv_out.out_channels == 8
    assert wide.config.in_channels == 8 and wide.config.out_channels == 8
    torch.testing.assert_close(wide.conv_in.weight[:, :4], w_in)
    torch.testing.assert_close(wide.conv_in.weight[:, 4:], w_in)
    torch.testing.assert_close(wide.conv_out.weight[4:], w_out)
    torch.testing.assert_close(wide.conv_out.bias, torch.cat([b_out, b_out]))


def test_empty_prompt_is_encoded_once_and_cached(sd_folder, tmp_path, monkeypatch):
    cache = tmp_path / "empty.safetensors"
    first = latent.empty_prompt_embedding(sd_folder, cache)
    assert first.shape == (1, 77, 32) and cache.is_file()
    import transformers

    monkeypatch.setattr(transformers.CLIPTextModel, "from_pretrained", lambda *a, **k: 1 / 0)
    torch.testing.assert_close(latent.empty_prompt_embedding(sd_folder, cache), first)


def test_latent_symmflow_segments_and_synthesises(sd_folder, tmp_path):
    velocity, space = latent.latent_symmflow(sd_folder, PALETTE, tmp_path / "e.safetensors")
    assert space.scale == pytest.approx(0.18215) and space.state_shape(16, 16) == (4, 8, 8)
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    masks = torch.randint(0, 3, (2, 16, 16))
    counter = NFECounter(velocity)
    pred = predict(counter, space.encode_image(images), space.mask_codec, space.state_shape(16, 16), steps=2)
    assert pred.shape == (2, 16, 16) and pred.max() < 3 and counter.evaluations == 4
    x = generate(counter, masks, space.mask_codec, space.state_shape(16, 16), steps=1)
    assert space.decode_image(x).shape == (2, 3, 16, 16)
    # mask latents use the posterior's mode: the same mask and noise give the same latent
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    torch.testing.assert_close(space.mask_codec.encode(masks, g1), space.mask_codec.encode(masks, g2))


def test_latent_semflow_keeps_four_channels(sd_folder, tmp_path):
    velocity, space = latent_semflow(sd_folder, PALETTE, tmp_path / "e.safetensors")
    z = torch.randn(2, 4, 8, 8)
    v, empty = velocity(z, z[:, :0], torch.rand(2))
    assert v.shape == z.shape and empty.shape[1] == 0


def test_bad_pretrained_folders(tmp_path):
    with pytest.raises(UsageError, match="missing"):
        latent.latent_symmflow(tmp_path, PALETTE)
    folder = tiny_sd_folder(tmp_path / "wide", in_channels=8)
    with pytest.raises(UsageError, match="8 input and 4 output channels"):
        latent.latent_symmflow(folder, PALETTE, tmp_path / "e.safetensors")
