"""Reading our shards back with nothing but `tarfile`: the reference reader for inspect/lint."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

from vlforge.errors import VlforgeError


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
