"""A seeded random sample of accepted pairs, read straight from the shards by offset.

The seed is the job's fingerprint, so the same job always shows the same pairs.
"""

from __future__ import annotations

import io
import random
import tarfile
from collections import Counter
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from vlforge.images import png_bytes, to_rgb
from vlforge.report.collect import JobOutput, script_of
from vlforge.shards.reader import TEXT_MEMBERS, sample_image, sample_text, split_member_name

THUMBNAIL = 320  # the most pixels a side the page shows of an image
TEXT_SHOWN = 600
# An image of at most this many bytes is shown as the shard stores it, the browser scaling
# it to the <img>'s width and height: 24 of them are at most 1.5 MB beside the page, and
# under 64 kB an image (a chart, a screenshot) is about the size of the 320-pixel PNG that
# would be made of it (4-21 kB for the synthetic notebooks' 4-11 kB charts), so decoding,
# resizing and encoding it (~7 ms each) would save no bytes.
REUSE_BYTES = 64 * 1024
# ...and of at most this many pixels: a small file of a large flat page would still be
# decoded at full size by the browser (4 Mpx: 16 MB of pixels).
REUSE_PIXELS = 4_000_000
JPEG_QUALITY = 85


@dataclass(frozen=True)
class ShownImage:
    """A sample's image as the page shows it: a file beside the page and the size to draw it."""

    data: bytes  # the stored image's bytes when small, else a thumbnail (transparency flattened)
    ext: str  # the file's extension: the stored member's, or the thumbnail's format
    size: tuple[int, int]  # the stored image's pixels (width, height)
    shown: tuple[int, int]  # width, height on the page: at most THUMBNAIL a side


@dataclass(frozen=True)
class ShownPair:
    key: str
    source: str
    text_kind: str
    text: str  # the first TEXT_SHOWN characters
    text_chars: int
    image: ShownImage | None


def pick(output: JobOutput, n: int) -> list[dict]:
    """n index rows chosen at random (seeded by the job), in key order."""
    rng = random.Random(output.job.get("fingerprint", "") or str(output.root.name))
    rows = sorted(output.index, key=lambda r: r["key"])
    return sorted(rng.sample(rows, min(n, len(rows))), key=lambda r: r["key"])


def read_members(shard: Path, offset: int, key: str) -> dict:
    """One sample's members (extension -> bytes), starting at its first header's offset."""
    members: dict = {}
    with open(shard, "rb") as handle:
        handle.seek(offset)
        with tarfile.open(fileobj=handle, mode="r:") as tar:
            for member in tar:
                member_key, ext = split_member_name(member.name)
                if member_key != key:
                    break
                members[ext] = tar.extractfile(member).read()
    return members


def _members(output: JobOutput, row: dict) -> dict:
    """A sample's members (extension -> bytes): read at the places its index row gives, else
    (an index older than its `members` column) through the tar headers."""
    shard = output.root / "shards" / row["shard"]
    places = _places(row)
    if not places:
        return read_members(shard, row["offset"], row["key"])
    with open(shard, "rb") as handle:
        return {ext: _read_at(handle, place) for ext, place in places.items()}


def _places(row: dict) -> dict[str, dict]:
    """Where each member of a sample lies in its shard (extension -> offset and size);
    {} for an index older than that column."""
    return {place["ext"]: place for place in row.get("members") or ()}


def _read_at(handle: BinaryIO, place: dict) -> bytes:
    handle.seek(place["offset"])
    return handle.read(place["size"])


def shown_pair(output: JobOutput, row: dict) -> ShownPair:
    members = _members(output, row)
    kind, text = sample_text(members) or ("none", "")
    image = sample_image(members)
    shown = shown_image(*image, _indexed_size(row)) if image else None
    return ShownPair(row["key"], row["source"], kind, text[:TEXT_SHOWN], len(text), shown)


def shown_image(ext: str, data: bytes, size: tuple[int, int] | None = None) -> ShownImage:
    """The stored bytes when the image is small (REUSE_BYTES, REUSE_PIXELS), else a
    thumbnail: JPEG for a JPEG or WebP image (photos, whose PNG would outweigh the image),
    PNG for the rest (charts, diagrams: sharp edges). `size`: the image's pixels when the
    index says them; read from the image's header otherwise."""
    if size is None:
        with Image.open(io.BytesIO(data)) as img:
            size = img.size
    if len(data) <= REUSE_BYTES and size[0] * size[1] <= REUSE_PIXELS:
        return ShownImage(data, ext, size, _fitted(size))
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (THUMBNAIL, THUMBNAIL))  # a JPEG decodes at a fraction of its size
        rgb = to_rgb(img)
    rgb.thumbnail((THUMBNAIL, THUMBNAIL))
    if ext == "png":
        return ShownImage(png_bytes(rgb), "png", size, rgb.size)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return ShownImage(out.getvalue(), "jpg", size, rgb.size)


def _indexed_size(row: dict) -> tuple[int, int] | None:
    return (row["width"], row["height"]) if row.get("width") and row.get("height") else None


def _fitted(size: tuple[int, int]) -> tuple[int, int]:
    """The size PIL's thumbnail((THUMBNAIL, THUMBNAIL)) gives: no side above THUMBNAIL,
    the aspect ratio kept, never enlarged."""
    width, height = size
    scale = min(1.0, THUMBNAIL / width, THUMBNAIL / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def script_mix(output: JobOutput, n: int) -> tuple[dict[str, int], int]:
    """Counts of the script each text is written in, over a seeded sample of n samples."""
    rows = pick(output, n)
    counts = Counter(script_of(text) if text is not None else "none" for text in _texts(output, rows))
    return dict(counts.most_common()), len(rows)


def _texts(output: JobOutput, rows: list[dict]) -> list[str | None]:
    """The rows' texts, in the rows' order, read shard by shard (each opened once)."""
    texts = {}
    in_shard_order = sorted(rows, key=itemgetter("shard", "offset"))
    for shard, group in groupby(in_shard_order, key=itemgetter("shard")):
        with open(output.root / "shards" / shard, "rb") as handle:
            texts.update((row["key"], _text(output, row, handle)) for row in group)
    return [texts[row["key"]] for row in rows]


def _text(output: JobOutput, row: dict, handle: BinaryIO) -> str | None:
    """A sample's text: read alone where its index says where the text member lies (not its
    image, nor the tar headers), else from all its members (indexes older than that column)."""
    places = _places(row)
    member = next((m for m in TEXT_MEMBERS if m in places), None)
    if member is None:
        found = sample_text(_members(output, row))
        return found[1] if found else None
    return _read_at(handle, places[member]).decode("utf-8", errors="replace")
