"""Exact de-duplication across tasks, once every task of the job has committed.

Tasks run in parallel, so a stage only sees duplicates inside its own task. This pass sees
the whole job through the shard indexes:

    indexes in shard-name order (task, then shard, then offset) -> the first sample with a
    digest wins, every later one is a duplicate of it
    -> `_tasks/_dedup.json` lists the duplicates (written before any shard changes, so a
       killed pass is finished by the next run)
    -> each shard holding a duplicate is rewritten without it, byte for byte what the writer
       would have made had the sample never been there; a shard left empty is removed
    -> the duplicates become ledger rows (stage `dedup_job`) and leave `accepted`

The order is a function of the task plan alone, so every engine drops the same samples.
The digest comes from the sample's metadata (the corpus's dedup stage records it), so the
pass costs one read of the indexes and a rewrite of the affected shards only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from vlforge.contract import JobDedup
from vlforge.engines.executor import OutputLayout, read_marker, write_atomic
from vlforge.schemas import Reject
from vlforge.shards.writer import rewrite_shard_without


def _dedup_file(layout: OutputLayout) -> Path:
    return layout.tasks_dir / "_dedup.json"


def _index_digests(index: Path, field: str) -> Iterator[tuple[dict, str | None]]:
    """(row, digest) for every sample of one shard index; the digest is None where the
    sample has none (the pass keeps it)."""
    # ParquetFile, not pq.read_table: the latter imports pyarrow.dataset (and pandas with it)
    rows = pq.ParquetFile(index).read(columns=["key", "shard", "source", "metadata"]).to_pylist()
    for row in rows:
        yield row, json.loads(row["metadata"]).get(field)


class EqualDigests:
    """The default matching of JobDedup: a repeat is a digest equal to an earlier one's."""

    def __init__(self, reason: str):
        self.reason = reason
        self.first_key: dict[str, str] = {}

    def first(self, digest: str, key: str) -> tuple[str, str] | None:
        if digest in self.first_key:
            return self.first_key[digest], self.reason
        self.first_key[digest] = key
        return None


def digest_index(dedup: JobDedup):
    return dedup.index() if dedup.index is not None else EqualDigests(dedup.reason)


def find_duplicates(layout: OutputLayout, dedup: JobDedup) -> list[dict]:
    """Every sample whose digest repeats an earlier sample's, with the key it repeats and why."""
    index = digest_index(dedup)
    duplicates = []
    for shard_index in sorted(layout.shards_dir.glob("*.parquet")):
        for row, digest in _index_digests(shard_index, dedup.field):
            found = None if digest is None else index.first(digest, row["key"])
            if found is not None:
                duplicates.append({"key": row["key"], "shard": row["shard"], "source": row["source"],
                                   "duplicate_of": found[0], "reason": found[1]})
    return duplicates


class KeptCounter:
    """How many samples of each committed task the pass will keep, told as tasks commit.

    A sample is counted when its digest is new to the tasks counted so far (or it has
    none). Whatever order tasks arrive in, the count over a set of tasks is the number of
    distinct digests among them, which only grows as tasks are added: the running count
    never exceeds what the pass keeps of the whole job (with near matching, a corpus's own
    index, it is an estimate: which of two near images comes first can change). Samples an
    earlier run's pass already removed are absent from the indexes, so they are never
    counted either.
    """

    def __init__(self, layout: OutputLayout, dedup: JobDedup):
        self.layout = layout
        self.field = dedup.field
        self.index = digest_index(dedup)

    def kept(self, task_index: int) -> int:
        kept = 0
        for shard_index in self._task_indexes(task_index):
            for row, digest in _index_digests(shard_index, self.field):
                kept += digest is None or self.index.first(digest, row["key"]) is None
        return kept

    def _task_indexes(self, task_index: int) -> list[Path]:
        """The indexes of the task's shards, named by its marker: no listing of the shards
        directory, which holds every task's shards (a listing per task is quadratic in the
        job). A shard an earlier run's pass emptied is gone, with its index."""
        marker = read_marker(self.layout, task_index) or {"shards": []}
        indexes = [(self.layout.shards_dir / shard["name"]).with_suffix(".parquet") for shard in marker["shards"]]
        return [index for index in indexes if index.exists()]


def _task_of_shard(layout: OutputLayout, shard_name: str) -> int:
    return int(shard_name[len(layout.corpus) + 1:].split("-", 1)[0])


def _remove_from_shards(layout: OutputLayout, duplicates: list[dict]) -> None:
    by_shard: dict[str, set[str]] = {}
    for dup in duplicates:
        by_shard.setdefault(dup["shard"], set()).add(dup["key"])
    for shard_name, keys in sorted(by_shard.items()):
        shard = layout.shards_dir / shard_name
        if shard.exists():
            rewrite_shard_without(shard, keys)


def run_job_dedup(layout: OutputLayout, dedup: JobDedup) -> list[tuple[int, Reject]]:
    """Applies (or finishes applying) the job-level pass; returns its (task, ledger row)s."""
    record = _dedup_file(layout)
    if record.exists():
        duplicates = json.loads(record.read_text())["duplicates"]
    else:
        duplicates = find_duplicates(layout, dedup)
        write_atomic(record, json.dumps({"field": dedup.field, "duplicates": duplicates},
                                        indent=1).encode())
    _remove_from_shards(layout, duplicates)
    return [(_task_of_shard(layout, d["shard"]),
             Reject(d["source"], d["key"], "dedup_job", d.get("reason", dedup.reason),
                    f"same content as {d['duplicate_of']}"))
            for d in duplicates]
