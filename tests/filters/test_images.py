"""filters.images: decode, size, pixel count and blank checks on real image bytes."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageDraw

from vlforge.config import plain
from vlforge.filters.images import DEFAULTS, check_image, is_blank
from vlforge.schemas import Provenance, Reject, Sample


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def drawing(size=(120, 80), mode="RGB") -> Image.Image:
    image = Image.new(mode, size, "white")
    ImageDraw.Draw(image).line([(5, 5), (size[0] - 5, size[1] - 5)], fill="black", width=3)
    return image


def sample(data: bytes | None, fmt: str | None = "png") -> Sample:
    return Sample("k_1", "test", "code", "code", Provenance("src"), data, fmt if data is not None else None)


def check(data: bytes | None, fmt: str | None = "png", **overrides):
    return check_image(sample(data, fmt), {**plain(DEFAULTS), **overrides})


def reason(outcome) -> str:
    assert isinstance(outcome, Reject), outcome
    return outcome.reason


def header_claiming(width: int, height: int) -> bytes:
    png = bytearray(encoded(Image.new("L", (1, 1))))
    ihdr = struct.pack(">II", width, height) + png[24:29]
    png[16:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(png)


def test_good_png_and_jpeg_keep_their_bytes_and_get_a_size():
    for fmt, name in (("PNG", "png"), ("JPEG", "jpeg")):
        data = encoded(drawing(), fmt)
        outcome = check(data, name)
        assert isinstance(outcome, Sample) and outcome.image == data and outcome.image_size == (120, 80)


def test_corrupt_truncated_and_unknown_bytes():
    png = encoded(drawing((400, 300)))
    assert reason(check(b"not an image at all")) == "corrupt_image"
    assert reason(check(png[: len(png) // 2])) == "corrupt_image"
    jpeg = encoded(drawing((400, 300)), "JPEG")
    assert reason(check(jpeg[: len(jpeg) // 2], "jpeg")) == "corrupt_image"
    assert reason(check(None)) == "no_image"


def test_format_rules():
    assert reason(check(encoded(drawing(), "GIF"))) == "unsupported_image_format"
    assert reason(check(encoded(drawing(), "JPEG"), "png")) == "format_mismatch"
    assert reason(check(encoded(drawing()), formats=["jpeg"])) == "unsupported_image_format"


def test_size_limits_come_from_the_header():
    assert reason(check(encoded(drawing((40, 20))))) == "image_too_small"
    assert isinstance(check(encoded(drawing((40, 20))), min_side=10), Sample)
    bomb = header_claiming(30_000, 30_000)  # 900 Mpx claimed by a ~70 byte file
    assert reason(check(bomb)) == "too_many_pixels"
    assert reason(check(header_claiming(6000, 5000))) == "too_many_pixels"  # under PIL's own limit
    assert reason(check(encoded(drawing((200, 100))), max_pixels=10_000)) == "too_many_pixels"


@pytest.mark.parametrize("mode, colour", [("RGB", "white"), ("L", 0), ("RGBA", (10, 20, 30, 255)), ("P", 3)])
def test_one_colour_images_are_blank(mode, colour):
    image = Image.new(mode, (64, 64), colour)
    assert is_blank(image)
    assert reason(check(encoded(image))) == "blank_image"
    assert isinstance(check(encoded(image), reject_blank=False), Sample)


def test_transparent_and_tolerance():
    transparent = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(transparent).line([(0, 0), (63, 63)], fill=(255, 0, 0, 0))  # colour, no alpha
    assert is_blank(transparent)
    ink = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(ink).line([(0, 0), (63, 63)], fill=(0, 0, 0, 255))  # alpha carries the line
    assert not is_blank(ink)
    faint = Image.new("L", (64, 64), 200)
    faint.putpixel((3, 3), 202)
    assert not is_blank(faint) and is_blank(faint, tolerance=2)
