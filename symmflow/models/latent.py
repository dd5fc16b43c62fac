"""Latent SymmFlow on Stable Diffusion 2.1 (notes section 6), built from a local diffusers folder.

``--pretrained DIR`` is a Stable Diffusion 2.1 folder in diffusers layout (``unet/``, ``vae/``,
``text_encoder/``, ``tokenizer/``).  From it:

* the U-Net's ``conv_in`` and ``conv_out`` are widened from 4 to 8 channels (image latent +
  mask latent) by duplicating the pretrained weights, and ``conv_out``'s bias
  (:func:`widen_conv_io`);
* the text condition is the empty prompt, encoded once by the folder's text encoder and
  cached (:func:`empty_prompt_embedding`), repeated per batch;
* the VAE (the folder's own, or another given on its own: :func:`load_space`) maps images to
  latents (a sample of the posterior) and palette masks -- dequantised in pixel space -- to
  latents (the posterior's mode), both times the VAE config's scaling factor; decoding goes
  VAE -> RGB, and for masks -> nearest palette colour -> class map
  (:class:`LatentSpace`).

t is fed to the U-Net unscaled, as the authors do (``time_scale`` 1.0, recorded).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from symmflow.codecs import PaletteCodec
from symmflow.errors import UsageError
from symmflow.models.pixel_unet import ConcatVelocity

SUBFOLDERS = ("unet", "vae", "text_encoder", "tokenizer")


def check_folder(folder: Path | None) -> Path:
    """The pretrained folder, or a one-line error saying what is missing where."""
    if folder is None:
        raise UsageError("no pretrained folder given; pass --pretrained DIR, a Stable Diffusion 2.1 "
                         "folder in diffusers layout (unet/, vae/, text_encoder/, tokenizer/)")
    folder = Path(folder)
    missing = [s for s in SUBFOLDERS if not (folder / s).is_dir()]
    if missing:
        raise UsageError(f"{folder} is not a Stable Diffusion folder in diffusers layout: "
                         f"{', '.join(s + '/' for s in missing)} missing")
    return folder


def weights_problem(file: Path) -> str | None:
    """Why the weights file ``file`` cannot be read in full, or None: a safetensors file's header
    must parse and its tensors' data end within the file (read from the header alone, so a
    truncated download is found without loading gigabytes); any other weights file must not be empty."""
    import json
    import struct

    size = file.stat().st_size
    if file.suffix != ".safetensors":
        return None if size else f"{file} is empty (0 bytes)"
    with open(file, "rb") as f:
        head = f.read(8)
        length = struct.unpack("<Q", head)[0] if len(head) == 8 else None
        if length is None or 8 + length > size:
            return f"{file} is truncated ({size:,} bytes, not even its header)"
        try:
            header = json.loads(f.read(length))
        except ValueError:
            return f"{file} has a damaged header"
    end = max((entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"), default=0)
    if 8 + length + end > size:
        return f"{file} is truncated ({size:,} of {8 + length + end:,} bytes)"
    return None


def folder_problems(folder: Path, vae: Path | None = None) -> list[str]:
    """Everything that would stop the Stable Diffusion ``folder`` (and the VAE folder ``vae``,
    when given on its own) from loading or from fitting latent SymmFlow, each in one line with
    its remedy -- read from the folders' configs and weights headers, before anything is built:
    the layout, every weights file whole (:func:`weights_problem`), and the VAE's latent width
    equal to the U-Net's input width (SD's 4, widened to image + mask latents, :func:`widen_conv_io`)."""
    import json

    try:
        folder = check_folder(folder)
        found_vae = check_vae(vae) if vae is not None else folder / "vae"
    except UsageError as error:
        return [str(error)]
    problems = []
    pretrained, own = f"--pretrained {folder}", f"--vae {vae}" if vae is not None else f"--pretrained {folder}"
    for typed, sub, wanted in ((pretrained, folder / "unet", "UNet2DConditionModel"),
                               (own, found_vae, "AutoencoderKL")):
        try:
            named = json.loads((sub / "config.json").read_text()).get("_class_name", wanted)
        except (OSError, ValueError, AttributeError):
            continue  # a config that does not read: named below
        if named != wanted:
            problems.append(f"{typed}: {sub / 'config.json'} describes a {named}, not the {wanted} it must be")
    for typed, sub in ((pretrained, folder / "unet"), (own, found_vae), (pretrained, folder / "text_encoder")):
        files = [f for f in sub.iterdir() if f.suffix in (".safetensors", ".bin")]
        if not files:
            problems.append(f"{typed}: {sub} holds no weights file (.safetensors or .bin)")
        problems += [f"{typed}: {why}" for why in map(weights_problem, files) if why]
    try:
        width = json.loads((found_vae / "config.json").read_text()).get("latent_channels", 4)
        takes = json.loads((folder / "unet" / "config.json").read_text()).get("in_channels", 4)
    except (OSError, ValueError, AttributeError) as error:
        return problems + [f"a config.json of {folder} or its VAE does not read ({error})"]
    if width != takes:
        problems.append(f"{own}: the VAE makes latents of {width} channels, the U-Net of {folder} takes {takes}")
    remedy = ("download the damaged files again, or pass an undamaged Stable Diffusion 2.1 folder "
              "(and a VAE of 4 latent channels, e.g. sd-vae-ft-mse)")
    return [f"{why}; {remedy}" for why in problems]


def read_pretrained(what: str, load):
    """``load()``, a diffusers or transformers ``from_pretrained`` of ``what``; a file that does
    not read (truncated, empty, damaged) is a one-line :class:`UsageError` naming it -- a failure
    to read an input, never reported as one to write."""
    try:
        return load()
    except UsageError:
        raise
    except Exception as error:  # safetensors, OSError, a shape mismatch: whatever the library raises
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"{what} does not load ({first[:200]}); download the damaged file again or pass an "
                         "undamaged folder") from None


def widen_conv_io(unet: nn.Module, copies: int = 2) -> nn.Module:
    """Widen a 4-channel U-Net to ``4 * copies`` channels in and out, duplicating the weights."""
    c_in, c_out = unet.conv_in.in_channels, unet.conv_out.out_channels
    if c_in != 4 or c_out != 4:
        raise UsageError(f"the pretrained U-Net has {c_in} input and {c_out} output channels, not "
                         "Stable Diffusion's 4; pass an unmodified Stable Diffusion 2.1 folder")
    old_in, old_out = unet.conv_in, unet.conv_out
    new_in = nn.Conv2d(c_in * copies, old_in.out_channels, old_in.kernel_size, old_in.stride, old_in.padding)
    new_out = nn.Conv2d(old_out.in_channels, c_out * copies, old_out.kernel_size, old_out.stride, old_out.padding)
    with torch.no_grad():
        new_in.weight.copy_(old_in.weight.repeat(1, copies, 1, 1))
        new_in.bias.copy_(old_in.bias)
        new_out.weight.copy_(old_out.weight.repeat(copies, 1, 1, 1))
        new_out.bias.copy_(old_out.bias.repeat(copies))
    unet.conv_in, unet.conv_out = new_in, new_out
    unet.register_to_config(in_channels=c_in * copies, out_channels=c_out * copies)
    return unet


@torch.no_grad()
def empty_prompt_embedding(folder: Path, cache: Path | None = None) -> Tensor:
    """The text encoder's hidden states of the empty prompt (1, L, D), cached to ``cache``."""
    from safetensors.torch import load_file, save_file

    if cache is not None and cache.is_file():
        return load_file(str(cache))["embedding"]
    from transformers import CLIPTextModel, CLIPTokenizer

    tokenizer = read_pretrained(f"the tokenizer of {folder}",
                                lambda: CLIPTokenizer.from_pretrained(str(folder), subfolder="tokenizer"))
    encoder = read_pretrained(f"the text encoder of {folder}",
                              lambda: CLIPTextModel.from_pretrained(str(folder), subfolder="text_encoder")).eval()
    length = min(tokenizer.model_max_length, encoder.config.max_position_embeddings)
    ids = tokenizer([""], padding="max_length", max_length=length,
                    truncation=True, return_tensors="pt").input_ids
    embedding = encoder(ids)[0].float().contiguous()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.tmp")
        save_file({"embedding": embedding}, str(tmp))
        tmp.replace(cache)
    return embedding


class ConditionedUNet(nn.Module):
    """A ``UNet2DConditionModel`` with its text condition fixed: ``forward(sample, t)``."""

    def __init__(self, unet: nn.Module, embedding: Tensor):
        super().__init__()
        self.unet = unet
        self.register_buffer("embedding", embedding, persistent=False)

    def forward(self, sample: Tensor, t: Tensor):
        condition = self.embedding.to(sample.dtype).expand(sample.shape[0], -1, -1)
        return self.unet(sample, t, encoder_hidden_states=condition)


class LatentMaskCodec:
    """Masks <-> VAE latents: palette colours, dequantised, encoded by the VAE's mode (scaled)."""

    def __init__(self, palette: PaletteCodec, space: "LatentSpace"):
        self.palette, self.space = palette, space

    def encode(self, masks: Tensor, generator=None) -> Tensor:
        rgb = self.palette.encode(masks.cpu(), generator=generator).to(masks.device)
        return self.space.encode(rgb, sample=False)

    def decode(self, z: Tensor) -> Tensor:
        return self.palette.decode(self.space.decode_image(z))


class LatentSpace:
    """Images and masks in the VAE's latent space, scaled by the VAE config's scaling factor."""

    def __init__(self, vae: nn.Module, palette: PaletteCodec):
        self.vae, self.palette = vae.eval().requires_grad_(False), palette
        self.scale = float(vae.config.scaling_factor)
        self.factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.channels = int(vae.config.latent_channels)
        self.mask_codec = LatentMaskCodec(palette, self)

    def to(self, device) -> "LatentSpace":
        self.vae.to(device)
        return self

    def with_palette(self, palette: PaletteCodec) -> "LatentSpace":
        return LatentSpace(self.vae, palette)

    def state_shape(self, height: int, width: int) -> tuple[int, int, int]:
        return (self.channels, height // self.factor, width // self.factor)

    def label_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """The mask's latent: the same shape as the image's."""
        return self.state_shape(height, width)

    @torch.no_grad()
    def encode(self, rgb: Tensor, sample: bool = True, generator=None, noise: Tensor | None = None) -> Tensor:
        """The posterior's mode, or a sample of it: mean + std * ``noise`` where given (its
        standard-normal draw), else drawn from ``generator`` (diffusers' ``DiagonalGaussianDistribution.sample``)."""
        dist = self.vae.encode(rgb.to(self.vae.dtype)).latent_dist
        if not sample:
            z = dist.mode()
        elif noise is not None:
            z = dist.mean + dist.std * noise.to(dist.mean.device, dist.mean.dtype)
        else:
            z = dist.sample(generator)
        return z.float() * self.scale

    def encode_image(self, images: Tensor, generator=None, noise: Tensor | None = None) -> Tensor:
        """RGB images -> latents by a sample of the posterior (its noise ``noise``, else drawn from
        ``generator``: :meth:`encode`); a batch that already holds latents (this space's channels:
        drawn from the training-latent cache, :mod:`symmflow.latent_cache`) passes through."""
        if images.shape[-3] == self.channels:
            return images
        return self.encode(images, sample=True, generator=generator, noise=noise)

    @torch.no_grad()
    def decode_image(self, z: Tensor) -> Tensor:
        return self.vae.decode((z / self.scale).to(self.vae.dtype)).sample.float().clamp(-1, 1)


def load_unet(folder: Path) -> nn.Module:
    from diffusers import UNet2DConditionModel

    folder = check_folder(folder)
    return read_pretrained(f"the U-Net of {folder}",
                           lambda: UNet2DConditionModel.from_pretrained(str(folder), subfolder="unet"))


def check_vae(folder: Path) -> Path:
    """The folder of a VAE given on its own (e.g. the fine-tuned ``sd-vae-ft-mse`` the authors
    use, reference notes section 6): a diffusers ``AutoencoderKL`` folder (``config.json`` and its
    weights), or a folder whose ``vae/`` is one; else a one-line error."""
    import json

    folder = Path(folder)
    found = next((f for f in (folder, folder / "vae") if (f / "config.json").is_file()), None)
    remedy = "pass a diffusers AutoencoderKL folder (config.json and diffusion_pytorch_model.safetensors)"
    if found is None:
        raise UsageError(f"--vae {folder}: no config.json there or in its vae/; {remedy}")
    try:
        kind = json.loads((found / "config.json").read_text()).get("_class_name")
    except (ValueError, AttributeError) as error:
        raise UsageError(f"--vae {folder}: its config.json does not parse ({error}); {remedy}") from None
    if kind != "AutoencoderKL":
        raise UsageError(f"--vae {folder}: its config.json describes a {kind}, not a VAE; {remedy}")
    if (not any(found.glob("diffusion_pytorch_model*.safetensors"))
            and not any(found.glob("diffusion_pytorch_model*.bin"))):
        raise UsageError(f"--vae {folder}: no weights (diffusion_pytorch_model.safetensors or .bin) beside its "
                         f"config.json; {remedy}")
    return found


def load_space(folder: Path, palette: PaletteCodec, vae: Path | None = None) -> LatentSpace:
    """The latent space of the Stable Diffusion ``folder``'s own VAE, or of the VAE folder ``vae``."""
    from diffusers import AutoencoderKL

    if vae is None:
        folder = check_folder(folder)
        return LatentSpace(read_pretrained(f"the VAE of {folder}", lambda: AutoencoderKL.from_pretrained(
            str(folder), subfolder="vae")), palette)
    found = check_vae(vae)
    return LatentSpace(read_pretrained(f"--vae {vae}", lambda: AutoencoderKL.from_pretrained(str(found))), palette)


def latent_backbone(folder: Path, cache: Path | None = None) -> ConditionedUNet:
    """The SD U-Net widened to 8 channels in and out, conditioned on the empty prompt: the
    backbone latent SymmFlow wraps (:meth:`symmflow.method.SymmFlow.velocity`)."""
    folder = check_folder(folder)
    return ConditionedUNet(widen_conv_io(load_unet(folder)), empty_prompt_embedding(folder, cache))


def latent_symmflow(folder: Path, palette: PaletteCodec, cache: Path | None = None,
                    symmflow=None) -> tuple[ConcatVelocity, LatentSpace]:
    """The velocity of ``symmflow`` (a :class:`~symmflow.method.SymmFlow`; the authors' by default)
    on the widened SD U-Net, and the latent space it runs in."""
    from symmflow.method import SymmFlow

    space = load_space(check_folder(folder), palette)
    return (symmflow or SymmFlow()).velocity(latent_backbone(folder, cache), space.channels), space
