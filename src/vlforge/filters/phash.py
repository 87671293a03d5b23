"""Exact and near-duplicate images: sha256 of the bytes and a 64-bit perceptual hash.

    perceptual hash   grey levels, resized to 32x32, 2-D DCT; bit i of the 8x8 lowest
                      frequencies is 1 where the coefficient is above their median. Re-encoding
                      (JPEG quality) and resizing move a few bits at most; another picture
                      differs in about half of them.
    near duplicate    Hamming distance <= max_distance between two hashes.

Lookup is multi-index hashing: the 64 bits are cut into max_distance + 1 bands, and two hashes
within the distance agree exactly on at least one band (pigeonhole), so candidates come from
max_distance + 1 dictionary lookups instead of a scan of every earlier image.

The stage (first occurrence in stream order wins, as filters.dedup):
    duplicate_image        the same bytes as an earlier image
    near_duplicate_image   a perceptual hash within max_distance of an earlier image's
Every kept sample records `image_sha256`, `image_phash` (16 hex digits) and `image_dedup`
("SHA:PHASH:DISTANCE"), the field the job-level pass (engines.dedup with `DedupIndex`) reads
to find the same across tasks.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

from vlforge.config import opt
from vlforge.contract import Outcome, Stage, TaskContext, reject_sample
from vlforge.errors import Rejected
from vlforge.schemas import Sample

HASH_BITS = 64
_SIDE, _LOW = 32, 8  # DCT input side, low-frequency block side

DEFAULTS: dict[str, Any] = {
    "exact": opt(True, "drop images whose bytes equal an earlier image's (duplicate_image)"),
    "near": opt(True, "drop images whose perceptual hash is within max_distance of an earlier one's"),
    "max_distance": opt(6, "Hamming distance (of 64 bits) up to which two images are near duplicates"),
}


@functools.lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """Orthonormal DCT-II matrix of size _SIDE (rows: frequencies)."""
    n = np.arange(_SIDE)
    matrix = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * _SIDE)) * np.sqrt(2 / _SIDE)
    matrix[0] /= np.sqrt(2)
    return matrix


def perceptual_hash(image: Image.Image) -> int:
    """The 64-bit DCT hash of an image (any mode; transparency is ignored)."""
    grey = image.convert("L").resize((_SIDE, _SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    dct = _dct_matrix()
    low = (dct @ pixels @ dct.T)[:_LOW, :_LOW].ravel()
    bits = low > np.median(low)
    return int("".join("1" if bit else "0" for bit in bits), 2)


def phash_hex(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        return f"{perceptual_hash(image):016x}"


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


class NearIndex:
    """Hashes seen so far; `nearest_first(h)` is the earliest one within max_distance."""

    def __init__(self, max_distance: int):
        if not 0 <= max_distance < HASH_BITS:
            raise ValueError(f"max_distance must be in [0, {HASH_BITS - 1}], got {max_distance}")
        self.max_distance = max_distance
        bands = max_distance + 1
        edges = [round(i * HASH_BITS / bands) for i in range(bands + 1)]
        self._bands = [(lo, hi - lo) for lo, hi in zip(edges, edges[1:], strict=False)]
        self._tables: list[dict[int, list[int]]] = [{} for _ in self._bands]
        self._entries: list[tuple[int, str]] = []  # (hash, key) in insertion order

    def _band_values(self, value: int) -> Iterator[tuple[int, int]]:
        for band, (shift, width) in enumerate(self._bands):
            yield band, (value >> shift) & ((1 << width) - 1)

    def nearest_first(self, value: int) -> str | None:
        """The key of the earliest added hash within max_distance of `value`, or None."""
        candidates = {position for band, part in self._band_values(value)
                      for position in self._tables[band].get(part, ())}
        for position in sorted(candidates):
            other, key = self._entries[position]
            if hamming(other, value) <= self.max_distance:
                return key
        return None

    def add(self, value: int, key: str) -> None:
        position = len(self._entries)
        self._entries.append((value, key))
        for band, part in self._band_values(value):
            self._tables[band].setdefault(part, []).append(position)


class DedupIndex:
    """Exact and near matching of `image_dedup` values ("SHA:PHASH:DISTANCE"), for the
    job-level pass: `first(value, key)` returns (first key, reason) for a duplicate, else
    records the value and returns None."""

    def __init__(self) -> None:
        self._exact: dict[str, str] = {}
        self._near: dict[int, NearIndex] = {}

    def first(self, value: str, key: str) -> tuple[str, str] | None:
        sha, phash, distance = value.split(":")
        if sha in self._exact:
            return self._exact[sha], "duplicate_image"
        near = self._near.setdefault(int(distance), NearIndex(int(distance))) if int(distance) >= 0 else None
        match = near.nearest_first(int(phash, 16)) if near is not None else None
        if match is not None:
            return match, "near_duplicate_image"
        self._exact[sha] = key
        if near is not None:
            near.add(int(phash, 16), key)
        return None


def dedup_value(sample: Sample, options: dict) -> str:
    """Records the sample's digests in its metadata; returns its `image_dedup` value.
    A distance of -1 says near matching is off."""
    sha = hashlib.sha256(sample.image).hexdigest()
    phash = phash_hex(sample.image)
    distance = options["max_distance"] if options["near"] else -1
    value = f"{sha if options['exact'] else 'off-' + sample.key}:{phash}:{distance}"
    sample.metadata.update(image_sha256=sha, image_phash=phash, image_dedup=value)
    return value


def near_dedup(section: str, name: str = "dedup") -> Stage:
    """The within-task pass over samples with an image (see the module notes)."""

    def stage(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
        options = ctx.option(section)
        index = DedupIndex()
        for outcome in outcomes:
            if not isinstance(outcome, Sample) or outcome.image is None:
                yield outcome
                continue
            try:
                found = index.first(dedup_value(outcome, options), outcome.key)
            except (OSError, ValueError) as exc:  # an image that no longer decodes
                yield reject_sample(outcome, name, Rejected("corrupt_image", f"{type(exc).__name__}: {exc}"))
                continue
            if found is None:
                yield outcome
            else:
                first_key, reason = found
                yield reject_sample(outcome, name, Rejected(reason, f"same picture as {first_key}"))

    stage.__name__ = name
    return stage
