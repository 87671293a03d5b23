"""The images beside the report: a small image is the shard's own bytes, drawn at a fitted
size; a large one is a thumbnail, smaller in pixels and in bytes."""

from __future__ import annotations

import io
import random

from PIL import Image

from vlforge.report import samples


def _encoded(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def _noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Random pixels: no encoder can make them small."""
    return Image.frombytes(mode, (width, height), random.Random(0).randbytes(width * height * len(mode)))


def test_a_small_image_is_its_stored_bytes_fitted_to_the_page():
    data = _encoded(_noise(100, 60), "PNG")
    assert len(data) <= samples.REUSE_BYTES
    shown = samples.shown_image("png", data)
    assert shown.data == data and shown.ext == "png"
    assert shown.size == (100, 60) and shown.shown == (100, 60)  # never enlarged


def test_a_small_wide_image_is_scaled_down_by_the_browser():
    data = _encoded(Image.new("RGB", (1200, 300), "white"), "PNG")  # a flat chart: few bytes
    shown = samples.shown_image("png", data, (1200, 300))
    assert shown.data == data
    assert shown.shown == (320, 80)  # as PIL's thumbnail would size it


def test_a_large_png_gets_a_smaller_png_thumbnail():
    data = _encoded(_noise(800, 600, "RGBA"), "PNG")
    assert len(data) > samples.REUSE_BYTES
    shown = samples.shown_image("png", data)
    assert shown.ext == "png" and len(shown.data) < len(data) and shown.size == (800, 600)
    with Image.open(io.BytesIO(shown.data)) as thumb:
        assert thumb.format == "PNG" and thumb.mode == "RGB"  # transparency flattened
        assert thumb.size == shown.shown == (320, 240)


def test_a_large_jpeg_gets_a_jpeg_thumbnail():
    data = _encoded(_noise(1000, 1400), "JPEG")
    shown = samples.shown_image("jpg", data, (1000, 1400))
    assert shown.ext == "jpg" and len(shown.data) < len(data) // 4
    with Image.open(io.BytesIO(shown.data)) as thumb:
        assert thumb.format == "JPEG" and thumb.size == shown.shown == (229, 320)


def test_a_small_file_of_many_pixels_is_still_thumbnailed():
    data = _encoded(Image.new("RGB", (3000, 2000), "white"), "PNG")  # a blank page: a few kB
    assert len(data) <= samples.REUSE_BYTES
    shown = samples.shown_image("png", data)
    assert shown.data != data and shown.shown == (320, 213)
    with Image.open(io.BytesIO(shown.data)) as thumb:
        assert thumb.size == (320, 213)


def test_a_thumbnail_is_the_same_bytes_every_time():
    data = _encoded(_noise(700, 500), "JPEG")
    assert samples.shown_image("jpg", data) == samples.shown_image("jpg", data)
