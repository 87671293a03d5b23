"""`vlforge taxonomy tag`: SFT record files in, the same records with a `taxonomy` field out.

    input files -> one RecordRead per record        vlforge.documents.sft.read_records
                -> BATCH records at a time          user turns -> Tagger.tag_texts
                -> output JSONL: the record unchanged + "taxonomy": tag, in input order
                   reject JSONL: {"source", "item", "reason", "detail", "record"}

Records are read by the same reader as `vlforge run sft`, so a reject's `item` names the
record the same way in both (offset=N, index=N, file). Every record read ends in exactly one
of the two files: read = tagged + rejected. A record the tagger cannot place (empty
question, another language, low confidence) is still written, with main `unassigned` and
the reason in its tag: it is a valid record, only its use case is unknown. Outputs are
written to a temporary name and renamed at the end.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlforge.atomic import atomic_path
from vlforge.contract import Part, chunks
from vlforge.documents.sft import Conversation, RecordRead, parse_record, read_records
from vlforge.errors import Rejected
from vlforge.inputs import expand_inputs
from vlforge.taxonomy.prompt_tagger import Tagger
from vlforge.taxonomy.tree import UNASSIGNED

BATCH = 1024
MAX_RAW_CHARS = 10_000  # of an undecodable line kept in its reject row

Row = tuple[str, RecordRead]  # (source path, record as read)


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

    def count(self, kind: str, row: dict) -> None:
        self.read += 1
        if kind == "rejected":
            self.rejected_by_reason[row["reason"]] += 1
            return
        self.tagged += 1
        if row["taxonomy"]["main"] == UNASSIGNED:
            self.unassigned += 1
            self.unassigned_by_reason[row["taxonomy"]["reason"]] += 1


def reject_row(source: str, read: RecordRead, error: Rejected) -> dict:
    """A reject line; `record` is the record, or the raw line when it was not JSON."""
    record = read.record if read.error is None else _raw_text(read.raw)
    return {"source": source, "item": read.item, "reason": error.reason, "detail": error.detail,
            "record": record}


def _raw_text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")[:MAX_RAW_CHARS].rstrip("\n")


def iter_inputs(inputs: list[str]) -> Iterator[Row]:
    """(source path, record as read) over every input file, sorted by path."""
    for input_file in expand_inputs(inputs):
        for read in read_records(Part(input_file.path)):
            yield input_file.path, read


def _conversation(read: RecordRead) -> Conversation | Rejected:
    if read.error is not None:
        return read.error
    try:
        return parse_record(read.record)
    except Rejected as error:
        return error


def tag_batch(tagger: Tagger, batch: list[Row]) -> list[tuple[str, dict]]:
    """("tagged", record + taxonomy) or ("rejected", reject row) per input, in order."""
    parsed = [_conversation(read) for _, read in batch]
    tags = iter(tagger.tag_texts([c.question for c in parsed if isinstance(c, Conversation)]))
    return [("rejected", reject_row(source, read, conv)) if isinstance(conv, Rejected)
            else ("tagged", {**read.record, "taxonomy": next(tags)})
            for (source, read), conv in zip(batch, parsed, strict=True)]


def tag_records(tagger: Tagger, rows: Iterable[Row]) -> Iterator[tuple[str, dict]]:
    for batch in chunks(rows, BATCH):
        yield from tag_batch(tagger, batch)


def tag_files(inputs: list[str], output: str, rejects: str | None, tagger: Tagger) -> TagStats:
    """Tags every record of `inputs` into `output` (JSONL); rejects to `rejects`."""
    rejects = rejects or default_rejects_path(output)
    stats = TagStats()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as out_tmp, atomic_path(rejects) as rej_tmp, \
            open(out_tmp, "w", encoding="utf-8") as out, open(rej_tmp, "w", encoding="utf-8") as rej:
        for kind, row in tag_records(tagger, iter_inputs(inputs)):
            stats.count(kind, row)
            (out if kind == "tagged" else rej).write(json.dumps(row, ensure_ascii=False) + "\n")
    return stats


def default_rejects_path(output: str) -> str:
    stem = output[:-len(".jsonl")] if output.endswith(".jsonl") else output
    return stem + ".rejects.jsonl"


def tagged_records(inputs: list[str], load_tagger: Callable[[], Tagger]) -> tuple[list[dict], int]:
    """The records of `inputs` with their tags, and how many records could not be read.

    A record that has a tag already keeps it; the others are tagged here, after those (the
    tagger is loaded only when some record needs it).
    """
    pending: list[Row] = []
    records: list[dict] = []
    for source, read in iter_inputs(inputs):
        tag = read.record.get("taxonomy") if isinstance(read.record, dict) else None
        if isinstance(tag, dict) and "main" in tag:
            records.append(read.record)
        else:
            pending.append((source, read))
    rejected = 0
    if pending:
        for kind, row in tag_records(load_tagger(), pending):
            if kind == "tagged":
                records.append(row)
            else:
                rejected += 1
    return records, rejected
