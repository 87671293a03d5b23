"""Transparent images become what a viewer shows: the page's background, not black."""

import io

from PIL import Image

from vlforge.images import has_alpha, png_bytes, to_rgb


def test_transparent_pixels_become_the_background_not_black():
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    img.putpixel((1, 1), (255, 0, 0, 255))
    img.putpixel((2, 2), (0, 0, 255, 128))
    flat = to_rgb(img)
    assert flat.mode == "RGB"
    assert flat.getpixel((0, 0)) == (255, 255, 255)
    assert flat.getpixel((1, 1)) == (255, 0, 0)
    assert flat.getpixel((2, 2)) == (127, 127, 255)
    assert img.convert("RGB").getpixel((0, 0)) == (0, 0, 0)  # what a plain convert shows


def test_palette_transparency_counts_as_alpha_and_opaque_images_are_untouched():
    palette = Image.new("P", (2, 2), 0)
    palette.info["transparency"] = 0
    assert has_alpha(palette) and to_rgb(palette).getpixel((0, 0)) == (255, 255, 255)
    opaque = Image.new("RGB", (2, 2), (10, 20, 30))
    assert not has_alpha(opaque) and to_rgb(opaque).getpixel((1, 1)) == (10, 20, 30)


def test_png_bytes_are_lossless_and_deterministic():
    img = Image.new("RGB", (3, 3), (1, 2, 3))
    assert png_bytes(img) == png_bytes(img)
    assert Image.open(io.BytesIO(png_bytes(img))).getpixel((2, 2)) == (1, 2, 3)


def test_an_opaque_png_with_an_alpha_channel_keeps_its_bytes():
    """matplotlib's default figure is RGBA with alpha 255 everywhere: nothing shows through,
    so re-encoding it would only cost time."""
    from vlforge.images import as_png

    opaque = Image.new("RGBA", (8, 8), (10, 20, 30, 255))
    see_through = Image.new("RGBA", (8, 8), (10, 20, 30, 0))
    assert as_png(png_bytes(opaque)) is None
    flat, was = as_png(png_bytes(see_through))
    assert was == "png RGBA" and Image.open(io.BytesIO(flat)).getpixel((0, 0)) == (255, 255, 255)
