"""`vlforge taxonomy tag`: SFT record files in, the same records with a `taxonomy` field out.

    input files -> (item, record | RecordError)        records.iter_file_records
                -> batches of BATCH parsed records     user turns -> Tagger.tag_texts
                -> output JSONL: the record unchanged + "taxonomy": tag, in input order
                   reject JSONL: {"source", "item", "reason", "detail", "record"}

Every record read ends in exactly one of the two files: read = tagged + rejected. A record
the tagger cannot place (empty question, another language, low confidence) is still
written, with main `unassigned` and the reason in its tag: it is a valid record, only its
use case is unknown. Outputs are written to a temporary name and renamed at the end.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlforge.inputs import expand_inputs
from vlforge.taxonomy.records import RecordError, iter_file_records, parse_record
from vlforge.taxonomy.tagger import Tagger
from vlforge.taxonomy.tree import UNASSIGNED

BATCH = 1024


@dataclass
class TagStats:
    read: int = 0
    tagged: int = 0
    unassigned: int = 0
    rejected_by_reason: Counter = field(default_factory=Counter)
    unassigned_by_reason: Counter = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "tagged": self.tagged, "unassigned": self.unassigned,
                "rejected": self.rejected, "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
                "unassigned_by_reason": dict(sorted(self.unassigned_by_reason.items()))}


def reject_row(source: str, item: str, error: RecordError, record: Any) -> dict:
    """A reject line; `record` is the record, or the raw line when it was not JSON."""
    return {"source": source, "item": item, "reason": error.reason, "detail": error.detail,
            "record": record if record is not None else error.raw}


def iter_inputs(inputs: list[str]) -> Iterator[tuple[str, str, Any]]:
    """(source path, item, record or RecordError) over every input file, sorted by path."""
    for input_file in expand_inputs(inputs):
        for item, record in iter_file_records(input_file.path):
            yield input_file.path, item, record


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def tag_batch(tagger: Tagger, batch: list[tuple[str, str, Any]]) -> list[tuple[str, dict]]:
    """("tagged", record + taxonomy) or ("rejected", reject row) per input, in order."""
    parsed: list[tuple[str, str, Any, Any]] = []
    for source, item, record in batch:
        if isinstance(record, RecordError):
            parsed.append((source, item, None, record))
            continue
        try:
            parsed.append((source, item, record, parse_record(record)))
        except RecordError as error:
            parsed.append((source, item, record, error))
    questions = [p[3].question for p in parsed if not isinstance(p[3], RecordError)]
    tags = iter(tagger.tag_texts(questions))
    return [("rejected", reject_row(source, item, conv, record)) if isinstance(conv, RecordError)
            else ("tagged", {**record, "taxonomy": next(tags)})
            for source, item, record, conv in parsed]


def _count(stats: TagStats, kind: str, row: dict) -> None:
    stats.read += 1
    if kind == "rejected":
        stats.rejected_by_reason[row["reason"]] += 1
        return
    stats.tagged += 1
    if row["taxonomy"]["main"] == UNASSIGNED:
        stats.unassigned += 1
        stats.unassigned_by_reason[row["taxonomy"]["reason"]] += 1


def tag_records(tagger: Tagger, rows: Iterable[tuple[str, str, Any]]) -> Iterator[tuple[str, dict]]:
    for batch in _batches(rows, BATCH):
        yield from tag_batch(tagger, batch)


def tag_files(inputs: list[str], output: str, rejects: str | None, tagger: Tagger) -> TagStats:
    """Tags every record of `inputs` into `output` (JSONL); rejects to `rejects`."""
    rejects = rejects or default_rejects_path(output)
    stats = TagStats()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with _AtomicText(output) as out, _AtomicText(rejects) as rej:
        for kind, row in tag_records(tagger, iter_inputs(inputs)):
            _count(stats, kind, row)
            (out if kind == "tagged" else rej).write(json.dumps(row, ensure_ascii=False) + "\n")
    return stats


def default_rejects_path(output: str) -> str:
    stem = output[:-len(".jsonl")] if output.endswith(".jsonl") else output
    return stem + ".rejects.jsonl"


class _AtomicText:
    """A text file written under `NAME.tmp` and renamed to NAME only when complete."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tmp = path + ".tmp"

    def __enter__(self):
        self.file = open(self.tmp, "w", encoding="utf-8")
        return self.file

    def __exit__(self, exc_type, exc, tb) -> None:
        self.file.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)
