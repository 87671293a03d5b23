"""`vlforge taxonomy tag`: prompt files in, the same records with a `taxonomy` field out.

    input files -> one PromptItem per record        prompt_files.read_prompts (JSONL, JSON
                                                    lists, JSON objects keyed by id, CSV,
                                                    parquet; --field names the prompt)
                -> BATCH prompts at a time          Tagger.tag_texts
                -> output JSONL: the record + "taxonomy": tag, in input order (a string
                   record becomes {"text": ...}; a record of a keyed object gets its key as
                   "id" when it has none; CSV/parquet rows keep only the prompt column)
                   reject JSONL: {"source", "item", "reason", "detail"}: where and why,
                   never the record or the file

Every record read ends in exactly one of the two files: read = tagged + rejected. A record
the tagger cannot place (empty question, another language, low confidence) is still
written, with main `unassigned` and the reason in its tag: it is a valid record, only its use
case is unknown. Outputs are written to a temporary name and renamed at the end.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlforge.atomic import atomic_path
from vlforge.contract import chunks
from vlforge.inputs import expand_inputs
from vlforge.taxonomy.prompt_files import PromptItem, read_prompts
from vlforge.taxonomy.prompt_tagger import Tagger
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

    def count(self, kind: str, row: dict) -> None:
        self.read += 1
        if kind == "rejected":
            self.rejected_by_reason[row["reason"]] += 1
            return
        self.tagged += 1
        if row["taxonomy"]["main"] == UNASSIGNED:
            self.unassigned += 1
            self.unassigned_by_reason[row["taxonomy"]["reason"]] += 1


def reject_row(item: PromptItem) -> dict:
    return {"source": item.source, "item": item.item, "reason": item.error.reason, "detail": item.error.detail}


def output_record(item: PromptItem, tag: dict) -> dict:
    record = item.record if isinstance(item.record, dict) else {"text": item.text}
    if item.item.startswith("key=") and "id" not in record:
        record = {"id": item.item[len("key="):], **record}
    return {**record, "taxonomy": tag}


def iter_inputs(inputs: list[str], field: str | None = None) -> Iterator[PromptItem]:
    """Every prompt (or reject) of every input file, files sorted by path."""
    for input_file in expand_inputs(inputs):
        yield from read_prompts(input_file.path, field)


def tag_batch(tagger: Tagger, batch: list[PromptItem]) -> list[tuple[str, dict]]:
    """("tagged", record + taxonomy) or ("rejected", reject row) per item, in order."""
    tags = iter(tagger.tag_texts([item.text for item in batch if item.error is None]))
    return [("rejected", reject_row(item)) if item.error is not None else ("tagged", output_record(item, next(tags)))
            for item in batch]


def tag_records(tagger: Tagger, items: Iterable[PromptItem]) -> Iterator[tuple[str, dict]]:
    for batch in chunks(items, BATCH):
        yield from tag_batch(tagger, batch)


def tag_files(inputs: list[str], output: str, rejects: str | None, tagger: Tagger,
              field: str | None = None) -> TagStats:
    """Tags every record of `inputs` into `output` (JSONL); rejects to `rejects`."""
    rejects = rejects or default_rejects_path(output)
    stats = TagStats()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as out_tmp, atomic_path(rejects) as rej_tmp, \
            open(out_tmp, "w", encoding="utf-8") as out, open(rej_tmp, "w", encoding="utf-8") as rej:
        for kind, row in tag_records(tagger, iter_inputs(inputs, field)):
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
    pending: list[PromptItem] = []
    records: list[dict] = []
    for item in iter_inputs(inputs):
        tag = item.record.get("taxonomy") if isinstance(item.record, dict) else None
        if isinstance(tag, dict) and "main" in tag:
            records.append(item.record)
        else:
            pending.append(item)
    rejected = 0
    if pending:
        for kind, row in tag_records(load_tagger(), pending):
            if kind == "tagged":
                records.append(row)
            else:
                rejected += 1
    return records, rejected
