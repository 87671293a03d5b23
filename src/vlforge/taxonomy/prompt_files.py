"""Prompt files in the formats people have -> one PromptItem per prompt (or per reject).

    .jsonl      one record a line; item `offset=N` (the line's byte offset, as `vlforge run
                sft` labels it); blank lines skipped
    .json       a list of records (item `index=N`), an object of records keyed by id, as
                CharXiv ships its files (item `key=K`), or one record (item `index=0`)
    .csv        a header row and one record a row (item `row=N`, N counting data rows from 0)
    .parquet    one record a row (item `row=N`); only the prompt column is read

The prompt of a record: with `field` (a key, dotted for nested objects: `meta.question`), the
string there. Without it: a string record is the prompt; a conversation (LLaVA/ShareGPT
`conversations`, DeepSeek-VL/OpenAI `messages`, ms-swift `query`; vlforge.documents.sft)
gives its user turns; otherwise the first of PROMPT_KEYS that holds a string. CSV and parquet
need a column: `field`, else the first of PROMPT_KEYS among the columns.

What cannot be read is a PromptItem with `error` (a Rejected): the caller writes a reject row
{source, item, reason, detail}, never the record or the file itself. A file that fails as a
whole (not JSON, unknown suffix, no prompt column) is one reject with item `file`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlforge.documents.sft import parse_record
from vlforge.errors import Rejected

PROMPT_KEYS = ("question", "query", "prompt", "instruction", "text")
WHOLE_FILE = "file"
PARQUET_BATCH = 8192


@dataclass(frozen=True)
class PromptItem:
    source: str  # the file
    item: str  # where in it (module notes)
    record: Any = None  # the record as read (for output); None when it could not be read
    text: str | None = None  # the prompt; None with error
    error: Rejected | None = None


def read_prompts(path: str, field: str | None = None) -> Iterator[PromptItem]:
    """Every prompt (or reject) of one file, in file order."""
    suffix = Path(path).suffix.lower()
    readers = {".jsonl": _jsonl, ".json": _json, ".csv": _csv, ".parquet": _parquet}
    if suffix not in readers:
        yield _file_error(path, Rejected("unsupported_file_type", f"{suffix or 'no suffix'}; "
                                         "read: .jsonl, .json, .csv, .parquet"))
        return
    try:
        yield from readers[suffix](path, field)
    except OSError as error:
        yield _file_error(path, Rejected("unreadable_file", str(error)))


def _file_error(path: str, error: Rejected) -> PromptItem:
    return PromptItem(path, WHOLE_FILE, error=error)


def prompt_of(record: Any, field: str | None) -> str:
    """The prompt of one record (module notes); Rejected when it has none."""
    if field:
        return _field_text(record, field)
    if isinstance(record, str):
        return record
    if not isinstance(record, dict):
        raise Rejected("not_an_object", f"a {type(record).__name__}, not a record or a string")
    try:
        return parse_record(record).question
    except Rejected as error:
        if error.reason != "unknown_format":
            raise
    for key in PROMPT_KEYS:
        if isinstance(record.get(key), str):
            return record[key]
    raise Rejected("unknown_format", f"no conversation and none of {', '.join(PROMPT_KEYS)}; "
                   f"keys: {', '.join(sorted(map(str, record))[:12])}; name the prompt with --field")


def _field_text(record: Any, field: str) -> str:
    value = record
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            raise Rejected("missing_field", f"no {field!r} in the record")
        value = value[part]
    if not isinstance(value, str):
        raise Rejected("field_not_text", f"{field!r} holds a {type(value).__name__}, not a string")
    return value


def _item(path: str, item: str, record: Any, field: str | None) -> PromptItem:
    try:
        return PromptItem(path, item, record, prompt_of(record, field))
    except Rejected as error:
        return PromptItem(path, item, record, error=error)


def _jsonl(path: str, field: str | None) -> Iterator[PromptItem]:
    offset = 0
    with open(path, "rb") as f:
        for raw in f:
            item, offset = f"offset={offset}", offset + len(raw)
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as error:
                yield PromptItem(path, item, error=Rejected("invalid_utf8", str(error)))
            except json.JSONDecodeError as error:
                yield PromptItem(path, item, error=Rejected("invalid_json", str(error)))
            else:
                yield _item(path, item, record, field)


def _json(path: str, field: str | None) -> Iterator[PromptItem]:
    try:
        document = json.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        yield _file_error(path, Rejected("invalid_utf8", str(error)))
        return
    except json.JSONDecodeError as error:
        yield _file_error(path, Rejected("invalid_json", str(error)))
        return
    if isinstance(document, list):
        for index, record in enumerate(document):
            yield _item(path, f"index={index}", record, field)
    elif isinstance(document, dict) and _keyed_by_id(document, field):
        for key, record in document.items():
            yield _item(path, f"key={key}", record, field)
    else:
        yield _item(path, "index=0", document, field)


def _keyed_by_id(document: dict, field: str | None) -> bool:
    """An object of records (CharXiv) rather than one record: every value is an object, and
    the object itself is no conversation and has no prompt of its own."""
    if not document or not all(isinstance(v, dict) for v in document.values()):
        return False
    try:
        prompt_of(document, field)
    except Rejected:
        return True
    return False


def _csv(path: str, field: str | None) -> Iterator[PromptItem]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        column = _column(reader.fieldnames or [], field)
        if column is None:
            yield _file_error(path, _no_column(reader.fieldnames or [], field))
            return
        for number, row in enumerate(reader):
            yield _item(path, f"row={number}", {column: row[column]}, column)


def _parquet(path: str, field: str | None) -> Iterator[PromptItem]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises ArrowInvalid and friends, no common base
        yield _file_error(path, Rejected("invalid_parquet", str(error)))
        return
    names = parquet.schema_arrow.names
    column = _column(names, field)
    if column is None:
        yield _file_error(path, _no_column(names, field))
        return
    number = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH, columns=[column]):
        for value in batch.column(0).to_pylist():
            yield _item(path, f"row={number}", {column: value}, column)
            number += 1


def _column(names: list[str], field: str | None) -> str | None:
    if field:
        return field if field in names else None
    return next((key for key in PROMPT_KEYS if key in names), None)


def _no_column(names: list[str], field: str | None) -> Rejected:
    wanted = repr(field) if field else f"any of {', '.join(PROMPT_KEYS)}"
    return Rejected("no_prompt_column", f"no column {wanted}; columns: {', '.join(names[:20])}; use --field")
