"""Image sanity filters: the image decodes, is not too small, too large or blank.

Checks, in order, each with its own reject reason:

    no_image                  the sample carries no image
    corrupt_image             PIL cannot identify or decode the bytes (truncated, garbage)
    unsupported_image_format  it decodes, but is not one of `formats`
    format_mismatch           the sample says png and the bytes are jpeg, or the reverse
    too_many_pixels           width x height > max_pixels, decided from the header before
                              any pixel is decoded (decompression-bomb guard)
    image_too_small           the shorter side < min_side
    blank_image               every band spans at most uniform_tolerance levels (one colour),
                              or the alpha band is 0 everywhere (fully transparent)

The image bytes are never changed. A kept sample gets `image_size` (width, height).
JPEG is decoded through PIL's draft mode at 1/8 scale (all entropy-coded data is still
read, so truncation is caught, but the inverse DCT runs on 8x fewer pixels): the blank test
then sees block averages, which is what "one colour" means for a lossy format anyway.
PNG is always decoded in full; `checked_image` hands that decode on (flattening reuses it).
A one-colour test counts colours and stops at the second one (tolerance 0).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from PIL import Image, UnidentifiedImageError

from vlforge.config import opt
from vlforge.contract import Outcome, Stage, TaskContext, per_sample, reject_sample
from vlforge.errors import Rejected
from vlforge.schemas import Sample

# PIL format name -> Sample.image_format
PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}

DEFAULTS: dict[str, Any] = {
    "formats": opt(["png", "jpeg"], "image formats kept (Sample.image_format names): png, jpeg, webp"),
    "min_side": opt(32, "shorter side, in pixels, below which an image is image_too_small"),
    # Read from the header before decoding (a 100 kB PNG can claim 50000 x 50000 pixels).
    "max_pixels": opt(25_000_000, "width x height above which an image is too_many_pixels (checked before decoding)"),
    "reject_blank": opt(True, "reject images of one colour (blank_image)"),
    "uniform_tolerance": opt(0, "per-band spread (0-255 levels) up to which an image still counts as one colour"),
    "jpeg_draft": opt(True, "decode JPEG at 1/8 scale for the checks; false: full decode"),
}


# Modes whose pixels PIL can count (getcolors): one value in every band is "one colour".
_COUNTED_MODES = ("1", "L", "P", "LA", "PA", "RGB", "RGBA")


def is_blank(image: Image.Image, tolerance: int = 0) -> bool:
    """True when every band spans <= tolerance levels, or the image is fully transparent."""
    if tolerance == 0 and image.mode in _COUNTED_MODES:
        # Counting stops at the second colour, where a chart is told from a blank image;
        # per-band extrema would copy and scan every band in full.
        if image.getcolors(1) is not None:
            return True
        # Fully transparent: no pixel with alpha above 0, found at the first one there is.
        return "A" in image.getbands() and image.getbbox(alpha_only=True) is None
    extrema = image.getextrema()
    if not isinstance(extrema[0], tuple):  # single band: (min, max)
        extrema = (extrema,)
    if "A" in image.getbands() and extrema[image.getbands().index("A")][1] == 0:
        return True
    return all(high - low <= tolerance for low, high in extrema)


def _open(data: bytes) -> Image.Image:
    """Opens (header only); raises what PIL raises, DecompressionBombError included."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data))


def _decode(image: Image.Image, draft: bool) -> Image.Image:
    if draft and image.format == "JPEG":
        width, height = image.size
        image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
    image.load()
    return image


def _check_header(image: Image.Image, sample: Sample, options: dict[str, Any]) -> None:
    fmt = PIL_FORMATS.get(image.format or "")
    if fmt is None or fmt not in options["formats"]:
        raise Rejected("unsupported_image_format", f"{image.format} is not one of {options['formats']}")
    if fmt != sample.image_format:
        raise Rejected("format_mismatch", f"the sample says {sample.image_format}, the bytes are {fmt}")
    width, height = image.size
    if width * height > options["max_pixels"]:
        raise Rejected("too_many_pixels", f"{width}x{height} > max_pixels={options['max_pixels']}")
    if min(width, height) < options["min_side"]:
        raise Rejected("image_too_small", f"{width}x{height}: shorter side < min_side={options['min_side']}")


def _check_pixels(image: Image.Image, options: dict[str, Any]) -> None:
    try:
        _decode(image, options["jpeg_draft"])
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise Rejected("corrupt_image", f"does not decode: {type(exc).__name__}: {exc}") from None
    if options["reject_blank"] and is_blank(image, options["uniform_tolerance"]):
        raise Rejected("blank_image", f"{image.size[0]}x{image.size[1]} image of one colour")


def checked_size(sample: Sample, options: dict[str, Any]) -> tuple[int, int]:
    """(width, height) of the sample's image; raises Rejected with the first check it failed."""
    size, image = checked_image(sample, options)
    if image is not None:
        image.close()
    return size


def checked_image(sample: Sample, options: dict[str, Any]) -> tuple[tuple[int, int], Image.Image | None]:
    """(width, height) and the image decoded at full size, for a later stage to reuse its
    pixels (None when it was decoded in JPEG draft mode, at reduced size); raises Rejected
    with the first check it failed."""
    if sample.image is None:
        raise Rejected("no_image", "the sample has no image")
    try:
        image = _open(sample.image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Rejected("corrupt_image", f"not a readable image: {type(exc).__name__}: {exc}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected("too_many_pixels", str(exc)) from None
    size = image.size  # before decoding: JPEG draft mode shrinks it
    try:
        _check_header(image, sample, options)
        _check_pixels(image, options)
    except BaseException:
        image.close()
        raise
    if image.size != size:
        image.close()
        return size, None
    return size, image


def check_image(sample: Sample, options: dict[str, Any], stage: str = "image") -> Outcome:
    """The sample with image_size set, or a Reject with the first check it failed."""
    try:
        sample.image_size = checked_size(sample, options)
    except Rejected as error:
        return reject_sample(sample, stage, error)
    return sample


def image_filter(section: str = "filters.images", name: str = "image") -> Stage:
    """A stage applying check_image with the options under `section`."""

    def check(sample: Sample, ctx: TaskContext) -> Outcome:
        return check_image(sample, ctx.option(section), name)

    return per_sample(check, name)
