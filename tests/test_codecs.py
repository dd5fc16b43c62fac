"""Label codecs: dequantisation ranges and round trips (notes section 2)."""

import pytest
import torch

from symmflow.codecs import (CELEBAMASK_COLOURS, COCOSTUFF_IGNORE_COLOUR, ClassImageCodec,
                             PaletteCodec, ToyScalarCodec, VectorClassCodec, cocostuff_colours)


def test_toy_codec_ranges_and_round_trip():
    labels = torch.randint(0, 2, (10_000,))
    y = ToyScalarCodec().encode(labels)
    a, b = y[labels == 0], y[labels == 1]
    assert a.min() >= -1.5 and a.max() <= -0.5 and b.min() >= 0.5 and b.max() <= 1.5
    assert a.max() - a.min() > 0.95  # the noise spans the whole interval
    assert torch.equal(ToyScalarCodec().decode(y), labels)


def test_class_image_centres_follow_beta():
    codec = ClassImageCodec(10, (4, 4), beta=4.0)
    centres = codec.centres()
    assert centres[0].item() == pytest.approx(-2.0) and centres[-1].item() == pytest.approx(2.0)
    torch.testing.assert_close(centres.diff(), torch.full((9,), 4 / 9))
    assert codec.half_width == pytest.approx(1 / 9)  # the authors': interval (beta/2)/(n-1) times U(-0.5, 0.5)
    assert ClassImageCodec(10, (4, 4), beta=4.0, noise="per-image").half_width == pytest.approx(2 / 9)


def authors_dequantize_class(labels, n, beta, size, uniform):
    """The authors' ``dequantize_class`` (reference notes section 2), written out from its formula."""
    interval = (beta / 2) / (n - 1)
    centre = (beta / 2) * (labels.float() / (n - 1) * 2.0 - 1.0)
    mask = centre[:, None, None, None] * torch.ones(len(labels), 1, size, size)
    return mask + interval * (uniform - 0.5)


def test_class_image_default_is_the_authors_per_pixel_noise():
    """``ClassImageCodec(n, size, beta)`` with its defaults gives, for the same uniform draws, the
    authors' label image: independent noise per pixel of half-width (beta/2)/(n-1)/2."""
    codec, labels = ClassImageCodec(10, (8, 8)), torch.arange(10).repeat(50)
    y = codec.encode(labels, generator=torch.Generator().manual_seed(3))
    uniform = torch.rand((500, 1, 8, 8), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(y, authors_dequantize_class(labels, 10, 4.0, 8, uniform))
    assert y.shape == (500, 1, 8, 8) and bool((y.flatten(1).std(1) > 0).all())  # noise per pixel
    offset = y - codec.centres()[labels][:, None, None, None]
    assert offset.abs().max() <= 1 / 9 + 1e-6 and offset.abs().max() > 0.1
    margin = (4 / 9) - 2 * offset.abs().max()  # the gap left between neighbouring classes' ranges
    assert margin > 0.2
    assert torch.equal(codec.decode(y), labels)
    assert torch.equal(codec.scores(y).argmax(1), labels)


def test_class_image_per_image_variant_is_one_offset_per_image():
    codec = ClassImageCodec(10, (8, 8), noise="per-image")
    labels = torch.arange(10).repeat(50)
    y = codec.encode(labels)
    assert y.shape == (500, 1, 8, 8)
    assert torch.all(y.flatten(1).std(1) == 0)  # one noise draw per image
    offset = y[:, 0, 0, 0] - codec.centres()[labels]
    assert offset.abs().max() <= codec.half_width + 1e-6 and offset.abs().max() > 0.2
    assert torch.equal(codec.decode(y), labels)
    with pytest.raises(ValueError, match="noise"):
        ClassImageCodec(10, (8, 8), noise="per-row")


def test_class_image_decode_clamps_and_rejects_bad_labels():
    codec = ClassImageCodec(10, (2, 2))
    assert codec.decode(torch.full((1, 1, 2, 2), 9.0)).item() == 9
    assert codec.decode(torch.full((1, 1, 2, 2), -9.0)).item() == 0
    with pytest.raises(ValueError):
        codec.encode(torch.tensor([10]))


def test_palette_round_trip_celebamask():
    codec = PaletteCodec(CELEBAMASK_COLOURS, beta=10)
    mask = torch.randint(0, 19, (3, 16, 16))
    rgb = codec.encode(mask)
    assert rgb.shape == (3, 3, 16, 16) and rgb.min() >= -1.0 - 5 / 127.5 and rgb.max() <= 1.0 + 5 / 127.5
    noise = (rgb + 1) * 127.5 - codec.colourise(mask)
    assert noise.abs().max() <= 5.0 + 1e-3 and noise.abs().max() > 4.0
    assert torch.equal(codec.decode(rgb), mask)


def test_palette_cocostuff_with_ignore():
    colours = cocostuff_colours()
    assert len(colours) == 171 and colours[0] == (0, 0, 0) and colours[1] == (0, 0, 50)
    assert COCOSTUFF_IGNORE_COLOUR not in colours
    codec = PaletteCodec(colours, beta=6, ignore_index=255, ignore_colour=COCOSTUFF_IGNORE_COLOUR)
    mask = torch.randint(0, 171, (2, 8, 8))
    mask[0, :2] = 255
    assert torch.equal(codec.decode(codec.encode(mask)), mask)
    with pytest.raises(ValueError, match="outside"):
        codec.encode(torch.full((1, 2, 2), 171))


def test_per_class_code_of_masks_has_the_class_axis_second_and_round_trips():
    codec = VectorClassCodec(11)
    mask = torch.randint(0, 11, (2, 8, 8), generator=torch.Generator().manual_seed(0))
    y = codec.encode(mask)
    assert y.shape == (2, 11, 8, 8)
    assert torch.equal(codec.decode(y), mask)
    assert torch.equal((y > 0).long().argmax(1), mask) and (y > 0).sum(1).eq(1).all()


def test_per_class_code_decides_by_the_most_probable_class_where_a_palette_does_not():
    """An uncertain pixel -- class 1 with probability 0.40, class 2 0.35, class 3 0.25 -- has
    E[y | x] = the probability-weighted mean of the class codes.  The per-class code decodes
    it to the most probable class; the mean of the palette colours is nearest the grey."""
    colours = [(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (127, 127, 127)]
    palette, per_class = PaletteCodec(colours, beta=0), VectorClassCodec(5)
    share = {1: 0.40, 2: 0.35, 3: 0.25}
    pixel = lambda k: torch.full((1, 1, 1), k)  # noqa: E731
    palette_mean = sum(p * palette.encode(pixel(k)) for k, p in share.items())
    code_mean = sum(p * (2 * torch.eye(5)[k] - 1).reshape(1, 5, 1, 1) for k, p in share.items())
    assert per_class.decode(code_mean).item() == 1
    assert palette.decode(palette_mean).item() == 4


@pytest.mark.parametrize("colours", [cocostuff_colours(10), cocostuff_colours(171), CELEBAMASK_COLOURS],
                         ids=["10 colours", "171 colours", "CelebAMask-HQ"])
def test_palette_decode_is_the_exact_nearest_colour_inside_and_outside_the_rgb_cube(colours):
    """The candidate grid of NearestColour changes the work, not the answer: every pixel decodes
    to the colour a search over the whole palette finds, also where the prediction leaves [0, 255],
    sits on a box's edge or lies half-way between two colours (first index on ties), and far out
    in the unbounded boxes, where an untrained network's predictions land."""
    codec = PaletteCodec(colours, 0.0)
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(8, 3, 24, 24, generator=g) * 2.6 - 1.3  # about a quarter of the pixels outside
    table = torch.tensor(colours, dtype=torch.float32)
    edges = torch.tensor([[0.0, 16.0, 255.9], [128.0, 128.0, 128.0], [25.0, 0.0, 0.0],  # box edges; a tie
                          [256.0, -0.5, 300.0], [-1e4, 90.0, 2e4], [-600.0, -700.0, 900.0]])  # far outside
    far = torch.randn(2_000, 3, generator=g) * 400 + 127.5  # most of them outside [0, 255] in some channel
    pixels = torch.cat([((rgb + 1) * 127.5).permute(0, 2, 3, 1).reshape(-1, 3), edges, far])
    brute = ((pixels[:, None, :] - table[None]) ** 2).sum(-1).argmin(1)
    found = codec.decode((pixels / 127.5 - 1).T.reshape(1, 3, 1, -1)).flatten()
    assert torch.equal(found, brute)
    assert codec._nearest.candidates.shape[1] < 16  # a few candidates per box, whatever the palette's size
