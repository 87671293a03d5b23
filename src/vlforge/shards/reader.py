"""Reading our shards back with nothing but `tarfile`: the reference reader for inspect/lint."""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

from vlforge.errors import VlforgeError
from vlforge.schemas import IMAGE_EXTENSIONS, LEGACY_TEXT_MEMBERS, METADATA_MEMBER, TEXT_MEMBER


def find_shards(path: str | os.PathLike) -> list[Path]:
    """A shard file, or every committed `*.tar` below a directory, sorted by path."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise VlforgeError(f"{path}: no such shard or directory")
    return sorted(p for p in path.rglob("*.tar") if p.is_file())


def split_member_name(name: str) -> tuple[str, str]:
    """`dir/KEY.ext.more` -> (`dir/KEY`, `ext.more`), the way WebDataset groups members."""
    directory, _, base = name.rpartition("/")
    key, _, ext = base.partition(".")
    return (f"{directory}/{key}" if directory else key), ext


def iter_samples(shard: str | os.PathLike) -> Iterator[dict]:
    """Yields one dict per sample: `__key__`, `__shard__`, and extension -> raw bytes."""
    current: dict | None = None
    with tarfile.open(shard, mode="r:") as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, ext = split_member_name(member.name)
            if current is not None and current["__key__"] != key:
                yield current
                current = None
            if current is None:
                current = {"__key__": key, "__shard__": str(shard)}
            current[ext] = tar.extractfile(member).read()
    if current is not None:
        yield current


# Where a sample's text is: the text member, then schema version 1's members by kind.
TEXT_MEMBERS = (TEXT_MEMBER, *sorted(set(LEGACY_TEXT_MEMBERS) - {TEXT_MEMBER}))
IMAGE_MEMBERS = tuple(IMAGE_EXTENSIONS.values())


def sample_metadata(sample: dict) -> dict:
    """KEY.json of a sample from iter_samples ({} when it has none)."""
    return json.loads(sample[METADATA_MEMBER]) if METADATA_MEMBER in sample else {}


def sample_text(sample: dict) -> tuple[str, str] | None:
    """(text kind, text) of a sample from iter_samples, whichever schema version wrote it."""
    member = next((m for m in TEXT_MEMBERS if m in sample), None)
    if member is None:
        return None
    kind = sample_metadata(sample).get("text_kind") or LEGACY_TEXT_MEMBERS[member]
    return kind, sample[member].decode("utf-8", errors="replace")


def sample_image(sample: dict) -> tuple[str, bytes] | None:
    """(extension, bytes) of a sample's image member, or None."""
    member = next((m for m in IMAGE_MEMBERS if m in sample), None)
    return (member, sample[member]) if member else None


def free_form(value: dict | str | None) -> dict:
    """A KEY.json `metadata` (or `tools`) field: a JSON string since schema version 2."""
    if isinstance(value, str):
        return json.loads(value) if value else {}
    return value or {}
