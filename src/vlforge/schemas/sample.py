"""The Sample record every corpus job produces, and the Reject record for what it drops.

A stage stream carries both kinds: readers and filters yield a Sample when an item goes on
and a Reject (with a snake_case reason) when it stops. The executor writes Samples to shards
and Rejects to the ledger, so every item read ends in exactly one of the two places.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

# Bumped whenever the shard layout changes incompatibly.
# 1: text members by kind (txt/md/py/conv.json), nested KEY.json with per-sample types.
# 2: every sample the same members: KEY.json (one flat schema for every corpus), KEY.txt
#    (the text, whatever its kind), and one image member whose extension is fixed per corpus.
SCHEMA_VERSION = 2

# The text kinds; the kind is a field of KEY.json, never a member extension, so that readers
# that build their columns from the first samples (Hugging Face `datasets`) see every text.
TEXT_KINDS = ("plain", "markdown", "code", "conversation")
TEXT_MEMBER = "txt"
METADATA_MEMBER = "json"

# Image formats we store, by the extension their member is written under.
IMAGE_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}

# Schema version 1's text members, which readers still understand.
LEGACY_TEXT_MEMBERS = {"txt": "plain", "md": "markdown", "py": "code", "conv.json": "conversation"}

# WebDataset (and the HF webdataset builder) split a member name at the first dot, so a key
# must not contain one; slashes would make sub-directories inside the tar.
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")


def source_digest(source: str) -> str:
    """A short, stable digest of a source identifier (path or uri) for use in keys."""
    return hashlib.sha1(source.encode("utf-8")).hexdigest()[:16]


def make_key(corpus: str, source: str, *position: int | str) -> str:
    """Stable sample key: corpus, digest of the source, then the position inside it.

    Never derived from a counter or the clock, so the same item always gets the same key,
    whichever task, worker or engine produced it.
    """
    parts = [corpus, source_digest(source)]
    parts += [f"{p:06d}" if isinstance(p, int) else str(p) for p in position]
    key = "_".join(parts)
    if not _KEY_PATTERN.match(key):
        raise ValueError(f"sample key {key!r} may hold only letters, digits, '_' and '-'")
    return key


def checksum(data: bytes) -> str:
    """Provenance checksum of some bytes: "sha256:<hex>"."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_checksum(path: str | os.PathLike) -> str:
    """checksum() of a file's bytes, read in blocks so a large PDF is never held whole."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


@dataclass
class Provenance:
    source: str  # path or uri of the input the item came from
    checksum: str = ""  # "sha256:..." of the source file (or record) when known
    licence: str | None = None
    tools: dict[str, str] = field(default_factory=dict)  # tool name -> version

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "checksum": self.checksum,
            "licence": self.licence,
            "tools": dict(sorted(self.tools.items())),
        }


@dataclass
class Sample:
    key: str
    corpus: str
    text: str
    text_kind: str
    provenance: Provenance
    image: bytes | None = None
    image_format: str | None = None  # one of IMAGE_EXTENSIONS
    image_size: tuple[int, int] | None = None  # (width, height) when known
    metadata: dict[str, Any] = field(default_factory=dict)
    # Working data one stage leaves for a later one (an output still to render, a question
    # still to tag). Never written: only `metadata` reaches the shard.
    scratch: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.text_kind not in TEXT_KINDS:
            raise ValueError(f"text_kind {self.text_kind!r} is not one of {TEXT_KINDS}")
        if (self.image is None) != (self.image_format is None):
            raise ValueError("image and image_format go together")
        if self.image_format is not None and self.image_format not in IMAGE_EXTENSIONS:
            raise ValueError(f"image_format {self.image_format!r} is not one of {sorted(IMAGE_EXTENSIONS)}")
        if not _KEY_PATTERN.match(self.key):
            raise ValueError(f"sample key {self.key!r} may hold only letters, digits, '_' and '-'")

    @property
    def image_extension(self) -> str | None:
        return IMAGE_EXTENSIONS[self.image_format] if self.image_format else None

    def metadata_record(self) -> dict[str, Any]:
        """What goes into the `KEY.json` member (schema version SCHEMA_VERSION).

        The same fields with the same types for every sample of every corpus: absent values
        are "" or 0, never null, and the free-form parts (tool versions, the corpus's own
        metadata) are JSON strings, so any number of corpora load as one table.
        """
        width, height = self.image_size or (0, 0)
        return {
            "schema_version": SCHEMA_VERSION,
            "key": self.key,
            "corpus": self.corpus,
            "text_kind": self.text_kind,
            "text_chars": len(self.text),
            "image_format": self.image_format or "",
            "image_width": width,
            "image_height": height,
            "image_bytes": len(self.image) if self.image is not None else 0,
            "source": self.provenance.source,
            "checksum": self.provenance.checksum,
            "licence": self.provenance.licence or "",
            "tools": to_json(dict(sorted(self.provenance.tools.items()))),
            "metadata": to_json(self.metadata),
        }


def to_json(value: Any) -> str:
    """The one JSON spelling of metadata in shards and indexes: sorted keys, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Reject:
    """One item that did not become a sample, and why. One row of the reject ledger."""

    source: str  # the input the item came from
    item: str  # where in the source: a line offset, a cell index, a page, or the key
    stage: str  # the stage that rejected it: read, parse, filter name, render, ...
    reason: str  # snake_case, stable: counted in stats.json under rejected_by_reason
    detail: str = ""  # human readable: what exactly was wrong

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z0-9_]+$", self.reason):
            raise ValueError(f"reject reason {self.reason!r} must be snake_case")
