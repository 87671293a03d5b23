"""Image preprocessing: transformers' DeepSeek-VL image processors, with the release's arithmetic.

One implementation for training, evaluation and export: `image_processor(cfg)` is the
transformers image processor of the model (PIL backend, the one the released code's PIL
resize matches byte for byte), `preprocess_image(data, processor)` gives what the model
takes, already normalised:

    SigLIP-only (1.3B, tiny-siglip):  {"pixel_values": [3, S, S]}
    hybrid (7B, tiny):                {"pixel_values": [3, S, S], "high_res_pixel_values": [3, H, H]}

The steps, as the released VLMImageProcessor (deepseek_vl/models/image_processing_vlm.py)
and HybridVisionTower (clip_encoder.py) do them:

    RGB -> resize so the longest side is the input size (PIL bicubic, antialiased), the other
    side int(side / longest * size) (floor), at least 14 px -> pad symmetrically to a square
    with int(255 * mean) -> / 255 -> (x - mean) / std

S uses SigLIP's normalisation (mean = std = 0.5, padding (127, 127, 127)); the hybrid's H
(SAM) uses CLIP's (padding (122, 116, 104)), and its S copy is the [0, 1] H square resized
bilinear with antialias in float (torchvision's Resize, which the released tower applies),
then normalised with 0.5.

Where transformers' processor differs from the release, training follows the release:
- transformers rounds the short side (round(side * size / longest)); the release floors it.
  An image whose scaled side ends in a fraction >= .5 is 1 px taller/wider in transformers.
- transformers' hybrid makes the S copy with PIL from the uint8 H square (quantised to 1/255);
  the release resizes the float square.
An export folder holds the stock transformers processor (`image_processor(cfg, stock=True)`):
no code of ours is needed to load it, at the cost of those two differences.

The PIL-backend classes are imported by their own names. `transformers.DeepseekVLImageProcessor`
is the torchvision backend, which vlforge does not install: without torchvision transformers
hands out the PIL class in its place and logs a fallback warning on every run. Saving is
backend-neutral either way: the PIL class writes `image_processor_type: DeepseekVLImageProcessor`
(transformers drops the "Pil" suffix), so `AutoProcessor.from_pretrained` on an export folder
picks torchvision where it is installed and PIL where it is not.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from transformers.image_processing_backends import PilBackend
from transformers.image_utils import (
    IMAGENET_STANDARD_MEAN,
    IMAGENET_STANDARD_STD,
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    PILImageResampling,
    SizeDict,
)
from transformers.models.deepseek_vl.image_processing_pil_deepseek_vl import (
    DeepseekVLImageProcessorPil,
)
from transformers.models.deepseek_vl_hybrid.image_processing_pil_deepseek_vl_hybrid import (
    DeepseekVLHybridImageProcessorPil,
)

from vlforge.errors import VlforgeError
from vlforge.images import to_rgb

# The released processor's smallest side after resizing (VLMImageProcessor's min_size).
MIN_SIZE = 14
# SigLIP's normalisation (the release's IMAGENET_INCEPTION_MEAN/STD) and SAM's (CLIP's).
SIGLIP_MEAN, SIGLIP_STD = tuple(IMAGENET_STANDARD_MEAN), tuple(IMAGENET_STANDARD_STD)
CLIP_MEAN, CLIP_STD = tuple(OPENAI_CLIP_MEAN), tuple(OPENAI_CLIP_STD)


class ImageError(VlforgeError):
    """An image the processor cannot take (undecodable bytes, a side of 0 px)."""


@dataclass(frozen=True)
class ImageSizes:
    """The square inputs of a model: SigLIP's side, and SAM's for the hybrid (else None)."""

    low: int
    high: int | None = None

    @property
    def hybrid(self) -> bool:
        return self.high is not None


def image_sizes(cfg) -> ImageSizes:
    """Input sizes from a preset `ModelConfig` or a transformers DeepseekVL(Hybrid)Config."""
    if hasattr(cfg, "vision_config"):  # transformers config
        high = getattr(cfg, "high_res_vision_config", None)
        return ImageSizes(int(cfg.vision_config.image_size), int(high.image_size) if high is not None else None)
    if cfg.vision == "hybrid":
        return ImageSizes(int(cfg.low_res_size), int(cfg.image_size))
    return ImageSizes(int(cfg.image_size))


def release_size(height: int, width: int, size: int, min_size: int = MIN_SIZE) -> tuple[int, int]:
    """(height, width) after the released resize: longest side -> size, the other floored, >= min_size."""
    if height <= 0 or width <= 0:
        raise ImageError(f"an image of {width}x{height} px has no pixels to resize")
    longest = max(height, width)
    # The release's own expression (side / longest * size, then int): the same float rounding.
    return max(int(height / longest * size), min_size), max(int(width / longest * size), min_size)


class _ReleaseResize:
    """The released resize arithmetic (floor) on top of a transformers PIL-backend processor."""

    def resize(self, image, size: SizeDict, min_size: int, resample=None, **kwargs):
        if size.height != size.width:
            raise ImageError(f"DeepSeek-VL resizes to a square, got {size.height}x{size.width}")
        height, width = image.shape[-2:]
        target_height, target_width = release_size(height, width, size.height, min_size)
        return PilBackend.resize(self, image, SizeDict(height=target_height, width=target_width),
                                 resample=resample or self.resample)


class ReleaseImageProcessor(_ReleaseResize, DeepseekVLImageProcessorPil):
    """DeepseekVLImageProcessor (PIL backend) with the release's floor when scaling."""


class ReleaseHybridImageProcessor(_ReleaseResize, DeepseekVLHybridImageProcessorPil):
    """DeepseekVLHybridImageProcessor (PIL backend) with the release's floor when scaling."""


def _square(side: int) -> dict[str, int]:
    return {"height": side, "width": side}


def image_processor(cfg, stock: bool = False):
    """The model's transformers image processor, set up as the released one.

    stock=False (training, evaluation): the release's arithmetic (see the module docstring).
    stock=True: the unmodified transformers class (PIL backend), for export folders.
    """
    sizes = image_sizes(cfg)
    if not sizes.hybrid:
        cls = DeepseekVLImageProcessorPil if stock else ReleaseImageProcessor
        return cls(size=_square(sizes.low), min_size=MIN_SIZE, image_mean=SIGLIP_MEAN, image_std=SIGLIP_STD,
                   resample=PILImageResampling.BICUBIC)
    cls = DeepseekVLHybridImageProcessorPil if stock else ReleaseHybridImageProcessor
    # resample is the S copy's filter: bilinear, as the released tower and transformers'
    # converted 7B checkpoint resize it; the H square is bicubic (high_res_resample).
    return cls(size=_square(sizes.low), high_res_size=_square(sizes.high), min_size=MIN_SIZE,
               image_mean=SIGLIP_MEAN, image_std=SIGLIP_STD, high_res_image_mean=CLIP_MEAN,
               high_res_image_std=CLIP_STD, resample=PILImageResampling.BILINEAR,
               high_res_resample=PILImageResampling.BICUBIC)


def open_rgb(data: bytes | Image.Image) -> Image.Image:
    """An RGB image from encoded bytes (png, jpeg, webp) or a PIL image; transparency on white."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = Image.open(io.BytesIO(data))
            data.load()
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageError(f"image bytes do not decode: {err}") from err
    return data if data.mode == "RGB" else to_rgb(data)


def _normalise(pixels: torch.Tensor, mean, std) -> torch.Tensor:
    mean = torch.tensor(mean, dtype=pixels.dtype).view(-1, 1, 1)
    std = torch.tensor(std, dtype=pixels.dtype).view(-1, 1, 1)
    return (pixels - mean) / std


def _hybrid_pixels(image: Image.Image, processor) -> dict[str, torch.Tensor]:
    """The H square from the processor, unnormalised; the S copy resized from it in float."""
    high = processor(image, do_normalize=False, return_tensors="pt")["high_res_pixel_values"][0]
    side = processor.size.height
    low = F.interpolate(high[None], size=(side, side), mode="bilinear", antialias=True, align_corners=False)[0]
    return {"pixel_values": _normalise(low, processor.image_mean, processor.image_std).contiguous(),
            "high_res_pixel_values": _normalise(high, processor.high_res_image_mean,
                                                processor.high_res_image_std).contiguous()}


def preprocess_image(data: bytes | Image.Image, processor) -> dict[str, torch.Tensor]:
    """One image as the model takes it: {"pixel_values"} ([3, S, S] float32, normalised),
    plus {"high_res_pixel_values"} ([3, H, H]) for a hybrid processor."""
    image = open_rgb(data)
    if hasattr(processor, "high_res_size"):  # either backend of the hybrid processor
        return _hybrid_pixels(image, processor)
    return {"pixel_values": processor(image, return_tensors="pt")["pixel_values"][0].contiguous()}
