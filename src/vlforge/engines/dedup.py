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
from pathlib import Path

import pyarrow.parquet as pq

from vlforge.contract import JobDedup
from vlforge.engines.executor import OutputLayout, write_atomic
from vlforge.schemas import Reject
from vlforge.shards.writer import rewrite_shard_without


def _dedup_file(layout: OutputLayout) -> Path:
    return layout.tasks_dir / "_dedup.json"


def find_duplicates(layout: OutputLayout, field: str) -> list[dict]:
    """Every sample whose `field` an earlier sample of the job had, with the key it repeats."""
    first: dict[str, str] = {}
    duplicates = []
    for index in sorted(layout.shards_dir.glob("*.parquet")):
        for row in pq.read_table(index, columns=["key", "shard", "source", "metadata"]).to_pylist():
            digest = json.loads(row["metadata"]).get(field)
            if digest is None:
                continue
            if digest in first:
                duplicates.append({"key": row["key"], "shard": row["shard"], "source": row["source"],
                                   "duplicate_of": first[digest]})
            else:
                first[digest] = row["key"]
    return duplicates


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
        duplicates = find_duplicates(layout, dedup.field)
        write_atomic(record, json.dumps({"field": dedup.field, "duplicates": duplicates},
                                        indent=1).encode())
    _remove_from_shards(layout, duplicates)
    return [(_task_of_shard(layout, d["shard"]),
             Reject(d["source"], d["key"], "dedup_job", dedup.reason, f"same content as {d['duplicate_of']}"))
            for d in duplicates]
