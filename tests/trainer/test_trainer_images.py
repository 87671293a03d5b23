"""Image preprocessing equals the released DeepSeek-VL processor, through transformers' classes.

`released_pixels` writes out the release's rules (deepseek_vl/models/image_processing_vlm.py
and the hybrid tower's Resize in clip_encoder.py) independently of vlforge: PIL bicubic resize
to int(side / longest * size) (>= 14 px), expand2square with int(255 * mean), /255, normalise.
"""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import DeepseekVLConfig, DeepseekVLHybridConfig

from vlforge.trainer.images import (
    ImageError,
    image_processor,
    image_sizes,
    preprocess_image,
    release_size,
)
from vlforge.trainer.presets import get_preset

HALF = (0.5, 0.5, 0.5)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def released_square(image, size, mean):
    """The release's resize + expand2square: uint8 [3, size, size] as a float tensor in [0, 1]."""
    width, height = image.size
    longest = max(width, height)
    target = (max(int(width / longest * size), 14), max(int(height / longest * size), 14))
    image = image.resize(target, Image.Resampling.BICUBIC)
    if target[0] != target[1]:
        side = max(target)
        canvas = Image.new("RGB", (side, side), tuple(int(x * 255) for x in mean))
        canvas.paste(image, ((side - target[0]) // 2, (side - target[1]) // 2))
        image = canvas
    return torch.from_numpy(np.asarray(image).transpose(2, 0, 1).astype(np.float32) / 255.0)


def normalised(pixels, mean, std):
    return (pixels - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def released_pixels(image, low, high=None):
    """What the released processor + tower feed SigLIP (and SAM, for the hybrid)."""
    if high is None:
        return {"pixel_values": normalised(released_square(image, low, HALF), HALF, HALF)}
    square = released_square(image, high, CLIP_MEAN)
    # torchvision.transforms.Resize(low, antialias=True) on the float square: bilinear.
    copy = F.interpolate(square[None], size=(low, low), mode="bilinear", antialias=True, align_corners=False)[0]
    return {"pixel_values": normalised(copy, HALF, HALF),
            "high_res_pixel_values": normalised(square, CLIP_MEAN, CLIP_STD)}


def noise_image(width, height, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def png(image):
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# (width, height): landscape, a short side that the release floors (77 * 3.84 = 295.68),
# a sliver (3 px -> the 14 px minimum), square, odd margins.
SHAPES = [(640, 480), (77, 100), (1000, 3), (300, 300), (499, 500)]


@pytest.mark.parametrize("shape", SHAPES)
def test_siglip_pixels_equal_the_released_processor(shape):
    image = noise_image(*shape)
    pixels = preprocess_image(png(image), image_processor(get_preset("deepseek-vl-1.3b")))
    assert set(pixels) == {"pixel_values"}
    expected = released_pixels(image, 384)["pixel_values"]
    assert pixels["pixel_values"].shape == (3, 384, 384) and pixels["pixel_values"].dtype == torch.float32
    assert torch.allclose(pixels["pixel_values"], expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("shape", [(640, 480), (77, 100), (1000, 3)])
def test_hybrid_pixels_equal_the_released_processor_and_tower_resize(shape):
    image = noise_image(*shape, seed=1)
    pixels = preprocess_image(image, image_processor(get_preset("deepseek-vl-7b")))
    expected = released_pixels(image, 384, 1024)
    assert pixels["high_res_pixel_values"].shape == (3, 1024, 1024)
    assert pixels["pixel_values"].shape == (3, 384, 384)
    for key in expected:
        assert torch.allclose(pixels[key], expected[key], atol=1e-5, rtol=0), key


def test_the_low_res_copy_is_bilinear_from_the_float_square_not_bicubic():
    """The issue's 7B mismatch: a bicubic (or uint8-quantised) 384 copy is measurably different."""
    image = noise_image(640, 480, seed=2)
    pixels = preprocess_image(image, image_processor(get_preset("deepseek-vl-7b")))["pixel_values"]
    square = released_square(image, 1024, CLIP_MEAN)
    bicubic = F.interpolate(square[None], size=(384, 384), mode="bicubic", antialias=True, align_corners=False)[0]
    assert (pixels - normalised(bicubic, HALF, HALF)).abs().max() > 0.01
    stock = image_processor(get_preset("deepseek-vl-7b"), stock=True)(image, return_tensors="pt")
    # transformers' own hybrid processor quantises the copy to 1/255 (x2 after normalising)
    assert 1e-3 < (stock["pixel_values"][0] - pixels).abs().max() <= 2.5 / 255


def test_release_floors_the_short_side_where_transformers_rounds():
    image = Image.new("RGB", (77, 100), (255, 0, 0))  # 77 * 3.84 = 295.68
    assert release_size(100, 77, 384) == (384, 295)
    ours = preprocess_image(image, image_processor(get_preset("deepseek-vl-1.3b")))["pixel_values"]
    stock = image_processor(get_preset("deepseek-vl-1.3b"), stock=True)(image, return_tensors="pt")["pixel_values"][0]
    red_columns = lambda pixels: int((pixels[0, 192] > 0.9).sum())  # noqa: E731
    assert red_columns(ours) == 295 and red_columns(stock) == 296


def test_padding_is_the_mean_colour_and_the_short_side_is_at_least_14_px():
    sliver = Image.new("RGB", (1000, 2), (0, 0, 0))
    pixels = preprocess_image(sliver, image_processor(get_preset("deepseek-vl-7b")))
    high, low = pixels["high_res_pixel_values"], pixels["pixel_values"]
    black_rows = (high[:, :, 500] < -1.4).all(dim=0)  # black after CLIP normalisation
    assert int(black_rows.sum()) == 14 and black_rows[(1024 - 14) // 2:(1024 + 14) // 2].all()
    clip_grey = torch.tensor([122, 116, 104], dtype=torch.float32)[:, None, None] / 255
    pad = normalised(clip_grey, CLIP_MEAN, CLIP_STD)
    assert torch.allclose(high[:, :100, :], pad.expand(3, 100, 1024), atol=1e-6)
    # the 384 copy of the border is the same grey, under SigLIP's normalisation
    assert torch.allclose(low[:, :30, :], normalised(clip_grey, HALF, HALF).expand(3, 30, 384), atol=1e-6)
    siglip = preprocess_image(sliver, image_processor(get_preset("tiny-siglip")))["pixel_values"]
    assert torch.allclose(siglip[:, 0, 0], torch.full((3,), (127 / 255 - 0.5) / 0.5), atol=1e-6)


def test_tiny_presets_give_the_tiny_models_sizes():
    image = noise_image(50, 30)
    tiny = preprocess_image(image, image_processor(get_preset("tiny")))
    assert tiny["pixel_values"].shape == (3, 32, 32) and tiny["high_res_pixel_values"].shape == (3, 64, 64)
    assert set(preprocess_image(image, image_processor(get_preset("tiny-siglip")))) == {"pixel_values"}
    expected = released_pixels(image, 32, 64)
    assert all(torch.allclose(tiny[key], expected[key], atol=1e-5) for key in expected)


def test_sizes_come_from_transformers_configs_too():
    hybrid = DeepseekVLHybridConfig(vision_config={"image_size": 32, "patch_size": 8},
                                    high_res_vision_config={"image_size": 64, "patch_size": 8})
    assert (image_sizes(hybrid).low, image_sizes(hybrid).high) == (32, 64)
    plain = DeepseekVLConfig(vision_config={"image_size": 384})
    assert (image_sizes(plain).low, image_sizes(plain).high) == (384, None)
    processor = image_processor(hybrid)
    assert (processor.size.height, processor.high_res_size.height) == (32, 64)


def test_transparent_pixels_are_white_and_bad_bytes_are_refused():
    clear = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    pixels = preprocess_image(png(clear), image_processor(get_preset("tiny-siglip")))["pixel_values"]
    assert torch.allclose(pixels, torch.ones(3, 32, 32))  # white under 0.5/0.5, not black
    with pytest.raises(ImageError, match="do not decode"):
        preprocess_image(b"not an image", image_processor(get_preset("tiny-siglip")))
