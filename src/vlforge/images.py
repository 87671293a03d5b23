"""Pixels as people see them: one way to turn any stored image into what a viewer shows.

A PNG with an alpha channel shows its page's background through the transparent parts
(white, for a notebook in Jupyter); a reader that converts to RGB without compositing shows
black there instead. Everything that turns images into RGB (contact sheets, the report,
flattening a corpus's images, the trainer) goes through `to_rgb`.
"""

from __future__ import annotations

import io

from PIL import Image

WHITE = (255, 255, 255)


def has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)


def alpha_range(img: Image.Image) -> tuple[int, int] | None:
    """(lowest, highest) alpha of the image; None when it has no transparency at all."""
    if not has_alpha(img):
        return None
    if img.mode == "RGBA":
        in_place = _rgba_alpha_range(img)
        if in_place is not None:
            return in_place
    # An alpha band is read as it is; only a palette's transparency needs converting.
    alpha = img.getchannel("A") if "A" in img.getbands() else img.convert("RGBA").getchannel("A")
    return alpha.getextrema()


def _rgba_alpha_range(img: Image.Image) -> tuple[int, int] | None:
    """alpha_range of a decoded RGBA image, read in place instead of copying its alpha band
    out (5x faster on a notebook chart, where every matplotlib figure is RGBA). Pillow
    exports the pixels without a copy (the Arrow C data interface, Pillow >= 11.2) as R, G,
    B, A bytes; read as little-endian 32-bit words, alpha is each word's top byte, so the
    words' min and max carry alpha's. None where Pillow cannot export without a copy (an
    older Pillow, or a large image held in several memory blocks): the caller copies."""
    import numpy as np
    import pyarrow as pa

    try:
        values = pa.array(img).values  # fixed_size_list<uint8>[4] per pixel -> its bytes
    except (AttributeError, TypeError, ValueError, pa.ArrowException):
        return None
    words = np.frombuffer(values.buffers()[1], dtype="<u4", count=len(values) // 4, offset=values.offset)
    return int(words.min()) >> 24, int(words.max()) >> 24


def shows_through(img: Image.Image, alpha: tuple[int, int] | None = None) -> bool:
    """True when some pixel is not fully opaque: only then does the background matter. An
    alpha channel that is 255 everywhere (matplotlib's default white figure) shows the same
    in every reader. `alpha`: the image's alpha_range when it is already known."""
    alpha = alpha or alpha_range(img)
    return alpha is not None and alpha[0] < 255


def to_rgb(img: Image.Image, background: tuple[int, int, int] = WHITE) -> Image.Image:
    """The image composited onto `background` (when it has transparency), as RGB."""
    if not has_alpha(img):
        return img.convert("RGB")
    rgba = img if img.mode == "RGBA" else img.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (*background, 255))
    canvas.alpha_composite(rgba)
    return canvas.convert("RGB")


def png_bytes(img: Image.Image) -> bytes:
    """Lossless PNG bytes of an image; the same pixels always give the same bytes."""
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False)
    return out.getvalue()


def as_png(data: bytes, background: tuple[int, int, int] = WHITE) -> tuple[bytes, str] | None:
    """PNG bytes of what a viewer shows for an image (transparency on `background`), and
    what it was ("jpeg RGB", "png RGBA"); None when the bytes are a PNG with nothing
    see-through and are kept unchanged. JPEG pixels are stored as decoded: lossless from
    here on."""
    with Image.open(io.BytesIO(data)) as img:
        return image_as_png(img, background)


def image_as_png(img: Image.Image, background: tuple[int, int, int] = WHITE,
                 alpha: tuple[int, int] | None = None) -> tuple[bytes, str] | None:
    """`as_png` of an image already opened (and maybe decoded: its pixels are reused);
    `alpha`: its alpha_range when already known."""
    if img.format == "PNG" and not shows_through(img, alpha):
        return None
    was = f"{(img.format or '?').lower()} {img.mode}"
    return png_bytes(to_rgb(img, background)), was
