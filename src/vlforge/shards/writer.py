"""WebDataset tar shards with deterministic bytes, atomic renames and a parquet index each.

A shard is a plain tar: for every sample, its members `KEY.json`, `KEY.<image ext>` (when
it has an image; one extension per corpus) and `KEY.txt` in sorted order, every header with
the same mtime, owner and mode, so the same samples always give the same bytes. A shard is written as `NAME.tar.tmp` and renamed
to `NAME.tar` once complete; its index `NAME.parquet` is renamed into place just before
(vlforge.atomic: the tar's temporary file lives as long as the shard is open, the index's
only while it is written).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from vlforge.atomic import atomic_path, temporary_path
from vlforge.schemas import INDEX_SCHEMA, METADATA_MEMBER, TEXT_MEMBER, Sample, to_json
from vlforge.shards.reader import iter_samples, split_member_name

# Fixed header fields: nothing about the machine, the user or the clock gets into a shard.
FIXED_MTIME = 0
FIXED_MODE = 0o444
TAR_FORMAT = tarfile.GNU_FORMAT
NUL = b"\0"

DEFAULT_MAX_COUNT = 10_000
DEFAULT_MAX_BYTES = 1 << 30


@dataclass(frozen=True)
class ShardInfo:
    path: str  # final path of the .tar
    samples: int
    bytes: int


def sample_members(sample: Sample, record: dict | None = None) -> list[tuple[str, bytes]]:
    """The (member name, payload) pairs of one sample, in the order they go into the tar;
    `record`: its metadata_record() when the caller has made it already."""
    members = [
        (f"{sample.key}.{METADATA_MEMBER}", to_json(record or sample.metadata_record()).encode()),
        (f"{sample.key}.{TEXT_MEMBER}", sample.text.encode("utf-8")),
    ]
    if sample.image is not None:
        members.append((f"{sample.key}.{sample.image_extension}", sample.image))
    return sorted(members)


# A GNU header of ours with the name, size and checksum fields left out: what follows the
# size (mtime 0, the checksum's blanks, a regular file, no link, GNU magic, no owner names,
# no device, no prefix), padded to a block.
_AFTER_SIZE = (b"%011o\0" % FIXED_MTIME + b" " * 8 + tarfile.REGTYPE + NUL * 100 + tarfile.GNU_MAGIC
               + NUL * (32 + 32 + 8 + 8 + 155)).ljust(tarfile.BLOCKSIZE - 100 - 24 - 12, NUL)
_MODE_OWNER = b"%07o\0" % FIXED_MODE + b"%07o\0" % 0 * 2
_FIXED_SUM = sum(_AFTER_SIZE)  # its checksum field counts as blanks


def header_bytes(name: str, size: int) -> bytes:
    """tar_header(name, size).tobuf(GNU): built directly for the names and sizes a plain
    header holds (100 bytes, < 8 GiB), through tarfile for the others (long-name records)."""
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) > tarfile.LENGTH_NAME or size >= 8 ** 11:
        return tar_header(name, size).tobuf(TAR_FORMAT, "utf-8", "surrogateescape")
    head = encoded.ljust(tarfile.LENGTH_NAME, NUL) + _MODE_OWNER + b"%011o\0" % size
    checksum = sum(head) + _FIXED_SUM
    return head + _AFTER_SIZE[:12] + b"%06o\0" % checksum + _AFTER_SIZE[19:]


def tar_header(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = FIXED_MTIME
    info.mode = FIXED_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _index_row(sample: Sample, shard_name: str, text_bytes: int, metadata_json: str) -> dict:
    width, height = sample.image_size or (None, None)
    return {
        "key": sample.key,
        "shard": shard_name,
        "offset": 0,  # set, with the members' places, as the sample is appended
        "corpus": sample.corpus,
        "text_kind": sample.text_kind,
        "text_chars": len(sample.text),
        "text_bytes": text_bytes,
        "image_format": sample.image_format,
        "image_bytes": len(sample.image) if sample.image is not None else 0,
        "width": width,
        "height": height,
        "source": sample.provenance.source,
        "metadata": metadata_json,
    }


class _OpenShard:
    """One shard being written: its temporary tar and the index rows collected so far."""

    def __init__(self, final_path: Path):
        self.final_path = final_path
        self.tmp_path = temporary_path(final_path)
        self.file = open(self.tmp_path, "wb")
        self.rows: list[dict] = []

    def _append_member(self, name: str, payload: bytes) -> dict:
        """Writes what tarfile.addfile writes (minus its copy of the payload through a file
        object); returns the member's index entry."""
        self.file.write(header_bytes(name, len(payload)))
        place = {"ext": split_member_name(name)[1], "offset": self.file.tell(), "size": len(payload)}
        self.file.write(payload)
        padding = -len(payload) % tarfile.BLOCKSIZE
        if padding:
            self.file.write(NUL * padding)
        return place

    def _finish_archive(self) -> None:
        # End-of-archive marker and record padding, byte for byte as tarfile.close() does.
        self.file.write(NUL * (2 * tarfile.BLOCKSIZE))
        padding = -self.file.tell() % tarfile.RECORDSIZE
        if padding:
            self.file.write(NUL * padding)

    def add(self, sample: Sample, members: list[tuple[str, bytes]], metadata_json: str) -> None:
        text_name = f"{sample.key}.{TEXT_MEMBER}"
        text_bytes = next(len(payload) for name, payload in members if name == text_name)
        self.add_members(members, _index_row(sample, self.final_path.name, text_bytes, metadata_json))

    def add_members(self, members: list[tuple[str, bytes]], row: dict) -> None:
        """Appends one sample's members; its index row gets the offset where they start and
        where each member's bytes lie."""
        row = {**row, "offset": self.file.tell()}
        row["members"] = [self._append_member(name, payload) for name, payload in members]
        self.rows.append(row)

    @property
    def bytes_written(self) -> int:
        return self.file.tell()

    def commit(self) -> ShardInfo:
        self._finish_archive()
        self.file.close()
        with atomic_path(self.final_path.with_suffix(".parquet")) as index_tmp:
            pq.write_table(table_from_rows(self.rows, INDEX_SCHEMA), index_tmp)
        os.replace(self.tmp_path, self.final_path)
        return ShardInfo(str(self.final_path), len(self.rows), self.final_path.stat().st_size)

    def abandon(self) -> None:
        self.file.close()
        self.tmp_path.unlink(missing_ok=True)


def table_from_rows(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """pa.Table.from_pylist(rows, schema=schema), the same table, built by Arrow's JSON
    reader: pa.array on Python lists imports pandas (~0.2 s of CPU in every worker, for a
    check that never applies here). One block, so one chunk per column, as from_pylist
    makes; keys outside the schema are ignored and missing ones are null, as there."""
    if not rows:
        return pa.Table.from_batches([], schema=schema)  # schema.empty_table() imports pandas too
    data = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode()
    return pa_json.read_json(io.BytesIO(data),
                             read_options=pa_json.ReadOptions(block_size=len(data) + 1, use_threads=False),
                             parse_options=pa_json.ParseOptions(explicit_schema=schema,
                                                                unexpected_field_behavior="ignore"))


def rewrite_shard_without(shard: Path, drop_keys: set[str]) -> ShardInfo | None:
    """The shard (and its index) without the samples in drop_keys; removed if none is left.

    Members are copied as they are, so the result is byte for byte the shard the writer
    would have made without those samples. A shard holding none of the keys is left alone.
    """
    index_path = shard.with_suffix(".parquet")
    rows = {row["key"]: row for row in pq.read_table(index_path).to_pylist()}
    if not drop_keys & rows.keys():
        return None
    if not rows.keys() - drop_keys:
        index_path.unlink()
        shard.unlink()
        return None
    rewritten = _OpenShard(shard)
    for sample in iter_samples(shard):
        key = sample["__key__"]
        if key not in drop_keys:
            members = sorted((f"{key}.{ext}", payload) for ext, payload in sample.items()
                             if not ext.startswith("__"))
            rewritten.add_members(members, rows[key])
    return rewritten.commit()


def shard_name(prefix: str, number: int) -> str:
    """The name of a writer's shard `number` (from 0): readers and the task markers know
    shards by it."""
    return f"{prefix}-{number:04d}.tar"


def shard_files(directory: Path, prefix: str, number: int) -> tuple[Path, ...]:
    """Every file a writer's shard `number` can leave in `directory`, wherever its writer
    stopped: the tar and its index, each under its final or its temporary name."""
    tar = directory / shard_name(prefix, number)
    index = tar.with_suffix(".parquet")
    return tar, temporary_path(tar), index, temporary_path(index)


class ShardWriter:
    """Writes samples to `{directory}/{prefix}-{n:04d}.tar`, rotating by count and bytes.

    A shard is closed before a sample that would take it past `max_bytes`, so a shard only
    exceeds the limit when a single sample does. Shard n+1 is started only once shard n is
    committed, so whenever a writer stops, its files are those of shards 0..n (shard_files),
    with no gap: the executor finds a killed task's files by those names alone.
    """

    def __init__(self, directory: str | os.PathLike, prefix: str,
                 max_count: int = DEFAULT_MAX_COUNT, max_bytes: int = DEFAULT_MAX_BYTES):
        if max_count < 1 or max_bytes < 1:
            raise ValueError("max_count and max_bytes must be positive")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.shards: list[ShardInfo] = []
        self._open: _OpenShard | None = None

    def write(self, sample: Sample) -> None:
        record = sample.metadata_record()  # its "metadata" (JSON) goes into the index row too
        members = sample_members(sample, record)
        size = sum(512 + len(payload) for _, payload in members)
        if self._open is not None and self._is_full(size):
            self._commit_open()
        if self._open is None:
            self._open = _OpenShard(self.directory / shard_name(self.prefix, len(self.shards)))
        self._open.add(sample, members, record["metadata"])

    def _is_full(self, incoming_bytes: int) -> bool:
        shard = self._open
        return len(shard.rows) >= self.max_count or shard.bytes_written + incoming_bytes > self.max_bytes

    def _commit_open(self) -> None:
        self.shards.append(self._open.commit())
        self._open = None

    def close(self) -> list[ShardInfo]:
        """Commits the shard in progress and returns every shard this writer made."""
        if self._open is not None:
            self._commit_open()
        return self.shards

    def abandon(self) -> None:
        """Drops the shard in progress (the task failed): no partial .tar is left behind."""
        if self._open is not None:
            self._open.abandon()
            self._open = None

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abandon()
