"""Image preprocessing as the spec gives it: one float tensor [3, S, S] in [0, 1] per image.

    bytes -> RGB (alpha composited on white) -> resize so the longest side is S (bicubic,
    antialiased) -> pad symmetrically to S x S with the mean colour -> float / 255

S is the model's `image_size` (1024 for the hybrid model: the SAM input; the model makes
its 384 SigLIP copy itself; 384 for SigLIP-only). Normalisation happens inside the towers,
so the padding colour is the tower's mean: it becomes ~0 after normalisation.
As in DeepSeek-VL's `expand2square`, an odd margin puts the extra pixel after the image
(bottom or right).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

# Transparent pixels become white: notebook plots are saved with transparent backgrounds
# and are read on white; plain convert("RGB") would show whatever colour lies under alpha 0.
ALPHA_BACKGROUND = (255, 255, 255)


def open_rgb(data: bytes | Image.Image) -> Image.Image:
    """An RGB image from encoded bytes (png, jpeg, webp) or a PIL image."""
    image = Image.open(io.BytesIO(data)) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, ALPHA_BACKGROUND)
        background.paste(image, mask=image.getchannel("A"))
        return background
    if image.mode == "RGB":  # convert() would copy the decoded pixels for nothing
        image.load()
        return image
    return image.convert("RGB")


def resize_longest(image: Image.Image, size: int) -> Image.Image:
    """Longest side -> size, aspect kept; PIL's bicubic filter widens its support when
    shrinking, which is the antialiasing the spec asks for."""
    width, height = image.size
    scale = size / max(width, height)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if target == image.size:
        return image
    return image.resize(target, Image.Resampling.BICUBIC)


def pad_to_square(image: Image.Image, size: int, colour: tuple[int, int, int]) -> Image.Image:
    """The image centred on a size x size canvas of the mean colour."""
    width, height = image.size
    if (width, height) == (size, size):
        return image
    canvas = Image.new("RGB", (size, size), tuple(colour))
    canvas.paste(image, ((size - width) // 2, (size - height) // 2))
    return canvas


def to_tensor(image: Image.Image) -> torch.Tensor:
    """[3, H, W] float32 in [0, 1]."""
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


def preprocess_image(data: bytes | Image.Image, image_size: int,
                     mean_colour: tuple[int, int, int]) -> torch.Tensor:
    """Encoded image (or PIL image) -> [3, image_size, image_size] float in [0, 1]."""
    image = open_rgb(data)
    return to_tensor(pad_to_square(resize_longest(image, image_size), image_size, mean_colour))
