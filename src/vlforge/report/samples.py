"""A seeded random sample of accepted pairs, read straight from the shards by offset.

The seed is the job's fingerprint, so the same job always shows the same pairs.
"""

from __future__ import annotations

import io
import random
import tarfile
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PIL import Image

from vlforge.images import png_bytes, to_rgb
from vlforge.report.collect import JobOutput, script_of
from vlforge.shards.reader import TEXT_MEMBERS, sample_image, sample_text, split_member_name

THUMBNAIL = 320
TEXT_SHOWN = 600


@dataclass(frozen=True)
class ShownPair:
    key: str
    source: str
    text_kind: str
    text: str  # the first TEXT_SHOWN characters
    text_chars: int
    thumbnail: bytes | None  # PNG, at most THUMBNAIL pixels a side, transparency flattened
    size: tuple[int, int] | None


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
    return read_members(output.root / "shards" / row["shard"], row["offset"], row["key"])


def shown_pair(output: JobOutput, row: dict) -> ShownPair:
    members = _members(output, row)
    kind, text = sample_text(members) or ("none", "")
    image = sample_image(members)
    thumbnail, size = (_thumbnail(image[1]) if image else (None, None))
    return ShownPair(row["key"], row["source"], kind, text[:TEXT_SHOWN], len(text), thumbnail, size)


def _thumbnail(data: bytes) -> tuple[bytes, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as img:
        size = img.size
        rgb = to_rgb(img)
    rgb.thumbnail((THUMBNAIL, THUMBNAIL))
    return png_bytes(rgb), size


def script_mix(output: JobOutput, n: int) -> tuple[dict[str, int], int]:
    """Counts of the script each text is written in, over a seeded sample of n samples."""
    rows = pick(output, n)
    counts = Counter(script_of(text) if text is not None else "none" for text in map(partial(_text, output), rows))
    return dict(counts.most_common()), len(rows)


def _text(output: JobOutput, row: dict) -> str | None:
    """A sample's text: read alone where its index says where the text member lies (not its
    image, nor the tar headers), else from all its members (indexes older than that column)."""
    places = {place["ext"]: place for place in row.get("members") or ()}
    member = next((m for m in TEXT_MEMBERS if m in places), None)
    if member is None:
        found = sample_text(_members(output, row))
        return found[1] if found else None
    with open(output.root / "shards" / row["shard"], "rb") as handle:
        handle.seek(places[member]["offset"])
        return handle.read(places[member]["size"]).decode("utf-8", errors="replace")
