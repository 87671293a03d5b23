"""Text-only corpus: plain text files and JSONL records -> text samples (no image).

The trainer draws the language share of its mix from these shards.

    .txt / .md file     one sample per file (markdown kind for .md)
    .jsonl file         one sample per non-blank line, the text taken from `text.field`

Keys are `text_<digest of the path>_<byte offset of the line>`: offsets, not line numbers,
because a large JSONL file is split into byte ranges read by different tasks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from vlforge.config import opt
from vlforge.contract import Corpus, Outcome, Part, TaskContext, per_sample
from vlforge.documents.lines import iter_lines
from vlforge.errors import Rejected
from vlforge.schemas import Provenance, Sample, checksum, make_key

DEFAULTS = {
    "text": {
        "field": opt("text", "JSONL: the field holding the text"),
        "licence_field": opt("licence", "JSONL: a field whose value goes into provenance, if present"),
        "min_chars": opt(1, "fewer characters (surrounding whitespace stripped) -> empty_text / text_too_short"),
        "max_chars": opt(1_000_000, "more characters than this -> text_too_long"),
    }
}


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected("invalid_utf8", f"invalid UTF-8 at byte {exc.start}") from None


def read_text_file(path: str, ctx: TaskContext) -> Iterator[Outcome]:
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = _decode(data)
    except Rejected as error:
        yield error.reject(path, "0", "read")
        return
    kind = "markdown" if path.lower().endswith(".md") else "plain"
    yield Sample(make_key("text", path, 0), "text", text, kind, Provenance(path, checksum(data)),
                 metadata={"offset": 0})


def read_jsonl(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    records = 0
    for offset, line in iter_lines(part):
        if line.strip():
            records += 1
            try:
                yield _record_sample(part.path, offset, line, ctx)
            except Rejected as error:
                yield error.reject(part.path, str(offset), "read")
    if records == 0 and part.end is None:  # a whole file with no record: say so, once
        yield Rejected("empty_file", "the file holds no JSON lines").reject(part.path, "0", "read")


def _record_sample(path: str, offset: int, line: bytes, ctx: TaskContext) -> Sample:
    """The sample of one JSONL line; raises Rejected."""
    try:
        record = json.loads(_decode(line))
    except json.JSONDecodeError as exc:
        raise Rejected("invalid_json", f"{exc.msg} at column {exc.colno}") from None
    field = ctx.option("text.field")
    if not isinstance(record, dict):
        raise Rejected("not_an_object", f"the line holds a JSON {type(record).__name__}")
    if field not in record:
        raise Rejected("missing_field", f"no {field!r} field; fields: {sorted(record)[:10]}")
    if not isinstance(record[field], str):
        raise Rejected("field_not_string", f"{field!r} is a {type(record[field]).__name__}")
    licence = record.get(ctx.option("text.licence_field"))
    provenance = Provenance(path, checksum(line), licence if isinstance(licence, str) else None)
    metadata = {"offset": offset}
    if isinstance(record.get("id"), (str, int)):
        metadata["id"] = record["id"]
    return Sample(make_key("text", path, offset), "text", record[field], "plain", provenance,
                  metadata=metadata)


def read(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    if part.path.lower().endswith(".jsonl"):
        yield from read_jsonl(part, ctx)
    else:
        yield from read_text_file(part.path, ctx)


def check_length(sample: Sample, ctx: TaskContext) -> Sample:
    chars = len(sample.text.strip())
    if chars < ctx.option("text.min_chars"):
        raise Rejected("empty_text" if chars == 0 else "text_too_short", f"{chars} characters")
    if len(sample.text) > ctx.option("text.max_chars"):
        raise Rejected("text_too_long",
                       f"{len(sample.text)} characters > text.max_chars={ctx.option('text.max_chars')}")
    return sample


CORPUS = Corpus(
    name="text",
    description="plain text (.txt, .md) and JSONL records with a text field -> text-only samples",
    read=read,
    stages=(per_sample(check_length, "length"),),
    defaults=DEFAULTS,
    suffixes=(".txt", ".md", ".jsonl"),
    splittable_suffixes=(".jsonl",),
)
