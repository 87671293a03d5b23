"""Perceptual hash: re-encoded and resized copies are near, other pictures are far; the
within-task stage rejects exact and near duplicates with their own reasons."""

import io
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vlforge.config import plain
from vlforge.contract import Part, Task, TaskContext
from vlforge.filters.phash import (
    DEFAULTS,
    DedupIndex,
    NearIndex,
    hamming,
    near_dedup,
    perceptual_hash,
)
from vlforge.schemas import Provenance, Reject, Sample


def picture(seed: int, size=(320, 240)) -> Image.Image:
    """Shapes at random places on a random background: every seed another picture."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        box = (x0, y0, x0 + rng.randrange(20, 160), y0 + rng.randrange(20, 120))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return image


def encoded(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def reopened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def copies(image: Image.Image) -> list[Image.Image]:
    """What the same picture becomes on the web: JPEG at several qualities, smaller, larger."""
    w, h = image.size
    return [reopened(encoded(image, "JPEG", quality=q)) for q in (95, 75, 40)] + [
        image.resize((w // 2, h // 2), Image.Resampling.BILINEAR),
        image.resize((w * 3 // 2, h * 3 // 2), Image.Resampling.BICUBIC),
        reopened(encoded(image.resize((w * 2 // 3, h * 2 // 3)), "JPEG", quality=60)),
    ]


def test_reencoded_and_resized_copies_are_near_and_other_pictures_far():
    max_distance = DEFAULTS["max_distance"].default
    near, far = [], []
    for seed in range(20):
        original = perceptual_hash(picture(seed))
        near += [hamming(original, perceptual_hash(c)) for c in copies(picture(seed))]
        far += [hamming(original, perceptual_hash(picture(other))) for other in range(20) if other != seed]
    assert max(near) <= max_distance, sorted(near)[-5:]
    assert min(far) > max_distance and np.mean(far) > 20


def test_near_index_finds_the_earliest_hash_within_the_distance():
    index = NearIndex(4)
    index.add(0b1111, "a")
    index.add(0b1111 << 40, "b")
    assert index.nearest_first(0b1111 ^ 0b1000_0000_0001) == "a"  # 2 bits away
    assert index.nearest_first((0b1111 << 40) ^ 1) == "b"  # 9 bits from a, 1 from b
    assert index.nearest_first((1 << 64) - 1) is None
    with pytest.raises(ValueError):
        NearIndex(64)


def test_dedup_index_says_exact_before_near():
    index = DedupIndex()
    assert index.first("aa:00000000000000ff:6", "k1") is None
    assert index.first("aa:ffffffffffffffff:6", "k2") == ("k1", "duplicate_image")
    assert index.first("bb:00000000000000fe:6", "k3") == ("k1", "near_duplicate_image")
    assert index.first("cc:ffffffffffff0000:6", "k4") is None
    assert index.first("dd:00000000000000fe:-1", "k5") is None  # near matching off


def _sample(key: str, data: bytes) -> Sample:
    return Sample(key, "captions", "a caption", "plain", Provenance("src"), image=data, image_format="png")


def test_stage_rejects_exact_and_near_duplicates_with_their_reasons():
    base = picture(1)
    samples = [_sample("a", encoded(base)), _sample("b", encoded(picture(2))), _sample("c", encoded(base)),
               _sample("d", encoded(base.resize((160, 120)))), _sample("e", encoded(picture(3)))]
    ctx = TaskContext("captions", {"dedup": plain(DEFAULTS)}, Task(0, (Part("x"),)), "out")
    out = list(near_dedup("dedup")(iter(samples), ctx))
    kept = [o.key for o in out if isinstance(o, Sample)]
    rejects = {o.item: (o.reason, o.detail) for o in out if isinstance(o, Reject)}
    assert kept == ["a", "b", "e"]
    assert rejects == {"c": ("duplicate_image", "same picture as a"), "d": ("near_duplicate_image", "same picture as a")}
    assert len(out[0].metadata["image_phash"]) == 16 and out[0].metadata["image_dedup"].endswith(":6")
