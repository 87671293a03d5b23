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


def test_alpha_range_read_in_place_equals_the_alpha_band_s_extrema():
    """The in-place read (every pixel's 4 bytes as one word) must give what copying the
    alpha band out gives, whatever the colour bytes hold: one half-transparent pixel in an
    opaque image, colours at 255 with alpha 0, a fully transparent and an opaque image. A
    large image that Pillow holds in several memory blocks falls back to the copy."""
    import random

    from vlforge.images import _rgba_alpha_range, alpha_range

    rng = random.Random(7)
    noise = Image.frombytes("RGBA", (64, 48), bytes(rng.randrange(256) for _ in range(64 * 48 * 4)))
    one_pixel = Image.new("RGBA", (640, 288), (255, 255, 255, 255))
    one_pixel.putpixel((639, 287), (255, 255, 255, 254))
    white_clear = Image.new("RGBA", (5, 3), (255, 255, 255, 0))
    cases = [noise, one_pixel, white_clear, Image.new("RGBA", (7, 7), (0, 0, 0, 255))]
    for img in cases:
        assert _rgba_alpha_range(img) is not None  # the fast path is taken, not the fallback
        assert alpha_range(img) == img.getchannel("A").getextrema()
    assert alpha_range(one_pixel) == (254, 255)
    big = Image.new("RGBA", (4200, 4200), (1, 2, 3, 255))
    big.putpixel((4199, 4199), (1, 2, 3, 9))
    assert alpha_range(big) == (9, 255)
