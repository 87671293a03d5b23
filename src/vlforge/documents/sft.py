"""SFT record files: the one reader of `vlforge run sft` and `vlforge taxonomy tag`.

Record layouts (`parse_record`):

    llava      LLaVA / ShareGPT: {"conversations": [{"from": "human"|"gpt"|..., "value": str}],
               "image": str | [str] (or "images")}
    deepseek   DeepSeek-VL: {"conversation" | "conversations" | "messages":
               [{"role": "User"|"Assistant"|..., "content": str, "images": [str]?}],
               "images": [str]?}; `<image_placeholder>` marks where an image goes. The
               same shape covers ms-swift's and OpenAI-style `messages`.
    swift      ms-swift: {"query": str, "response": str?, "history": [[query, response]],
               "images": [str] | str, "system": str?}

Files (`read_records`): `.jsonl`, one record a line (blank lines skipped; a task may read a
byte range of one), or `.json`, one record or an array of records. Each record read is
labelled for the reject ledger the way the sft corpus has always labelled it:

    offset=N   the line starting at byte N of a JSONL file (stable under byte-range splits,
               unlike a line number, which a task reading the middle of a file cannot know)
    index=N    element N of a JSON array; a JSON file of one record is index=0
    file       a file that fails as a whole (not JSON, not UTF-8, not .json/.jsonl)

What cannot be read raises or carries `Rejected` with a stable reason: invalid_json,
invalid_utf8, not_an_object, unknown_format, invalid_turn, no_user_turn, invalid_images,
unsupported_file_type. An empty question is not an error here: the tagger calls it unassigned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlforge.contract import Part
from vlforge.documents.lines import iter_lines
from vlforge.errors import Rejected

USER_ROLES = {"human", "user"}
OTHER_ROLES = {"gpt", "assistant", "model", "bot", "system", "tool", "function", "observation"}
TURN_LIST_KEYS = ("conversation", "conversations", "messages")
SUFFIXES = (".json", ".jsonl")
WHOLE_FILE = "file"


@dataclass(frozen=True)
class Conversation:
    format: str  # llava, deepseek, swift
    user_turns: tuple[str, ...]
    images: tuple[str, ...]  # image references (paths or names) in the order given

    @property
    def question(self) -> str:
        """What the tagger reads: every user turn, in order (answers are never read)."""
        return "\n".join(self.user_turns)


@dataclass(frozen=True)
class RecordRead:
    """One record as read from a file: its decoded JSON value, or why it could not be read."""

    item: str  # the ledger label (module notes)
    position: int  # byte offset (JSONL) or array index (JSON): what sample keys are made of
    record: Any = None
    raw: bytes | None = None  # the JSONL line as read; None for the records of a .json file
    error: Rejected | None = None

    def record_bytes(self) -> bytes:
        """The record's bytes: the line as read, or the element of a JSON file re-serialised."""
        return self.raw if self.raw is not None else json.dumps(self.record, ensure_ascii=False).encode()


def read_records(part: Part) -> Iterator[RecordRead]:
    """Every record of a .jsonl part (the lines starting in its byte range) or a .json file."""
    suffix = Path(part.path).suffix.lower()
    if suffix == ".jsonl":
        yield from _jsonl_records(part)
    elif suffix == ".json":
        yield from _json_records(part.path)
    else:
        error = Rejected("unsupported_file_type", f"{suffix or 'no suffix'}: expected .json or .jsonl")
        yield RecordRead(WHOLE_FILE, 0, error=error)


def _jsonl_records(part: Part) -> Iterator[RecordRead]:
    for offset, line in iter_lines(part):
        if line.strip():
            try:
                yield RecordRead(f"offset={offset}", offset, decode_json(line), raw=line)
            except Rejected as error:
                yield RecordRead(f"offset={offset}", offset, raw=line, error=error)


def _json_records(path: str) -> Iterator[RecordRead]:
    try:
        document = decode_json(Path(path).read_bytes())
    except Rejected as error:
        yield RecordRead(WHOLE_FILE, 0, error=error)
        return
    records = document if isinstance(document, list) else [document]
    yield from (RecordRead(f"index={i}", i, record) for i, record in enumerate(records))


def decode_json(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected("invalid_utf8", f"invalid UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected("invalid_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None


def parse_record(record: Any) -> Conversation:
    """The conversation in a record of any of the three layouts; Rejected otherwise."""
    if not isinstance(record, dict):
        raise Rejected("not_an_object", f"a record must be a JSON object, not {type(record).__name__}")
    if _turn_list_key(record, "from") == "conversations":
        return _llava(record)
    key = _turn_list_key(record, "role")
    if key:
        return _deepseek(record, key)
    if "query" in record:
        return _swift(record)
    empty = [k for k in TURN_LIST_KEYS if isinstance(record.get(k), list) and not record[k]]
    if empty:
        raise Rejected("no_user_turn", f"{empty[0]!r} is an empty list")
    raise Rejected("unknown_format", "neither LLaVA 'conversations', DeepSeek-VL 'role'/'content' turns "
                   f"nor ms-swift 'query'; keys: {sorted(record)[:10]}")


def _turn_list_key(record: dict, field: str) -> str | None:
    """The key holding a non-empty list of turns that carry `field`, if any."""
    for key in TURN_LIST_KEYS:
        turns = record.get(key)
        if isinstance(turns, list) and turns and isinstance(turns[0], dict) and field in turns[0]:
            return key
    return None


def _llava(record: dict) -> Conversation:
    users = _user_turns(record["conversations"], "from", "value")
    images = _image_list(record.get("image"), "image") + _image_list(record.get("images"), "images")
    return Conversation("llava", tuple(users), tuple(images))


def _deepseek(record: dict, key: str) -> Conversation:
    turns = record[key]
    users = _user_turns(turns, "role", "content")
    images = [img for i, t in enumerate(turns) for img in _image_list(t.get("images"), f"{key}[{i}].images")]
    images += _image_list(record.get("images"), "images")
    return Conversation("deepseek", tuple(users), tuple(images))


def _swift(record: dict) -> Conversation:
    if not isinstance(record["query"], str):
        raise Rejected("invalid_turn", "'query' must be a string")
    history = record.get("history") or []
    if not isinstance(history, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) for pair in history):
        raise Rejected("invalid_turn", "'history' must be a list of [query, response] pairs")
    users = [pair[0] for pair in history] + [record["query"]]
    return Conversation("swift", tuple(users), tuple(_image_list(record.get("images"), "images")))


def _user_turns(turns: list, role_key: str, text_key: str) -> list[str]:
    users = [_text(t, i, text_key) for i, t in enumerate(turns) if _role(t, i, role_key) in USER_ROLES]
    if not users:
        raise Rejected("no_user_turn", f"none of the {len(turns)} turns is from the user")
    return users


def _role(turn: Any, index: int, key: str) -> str:
    if not isinstance(turn, dict) or not isinstance(turn.get(key), str):
        raise Rejected("invalid_turn", f"turn {index} has no string {key!r}")
    role = turn[key].lower()
    if role not in USER_ROLES | OTHER_ROLES:
        raise Rejected("invalid_turn", f"turn {index} has unknown {key} {turn[key]!r}")
    return role


def _text(turn: dict, index: int, key: str) -> str:
    if not isinstance(turn.get(key), str):
        raise Rejected("invalid_turn", f"turn {index} has no string {key!r}")
    return turn[key]


def _image_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise Rejected("invalid_images", f"{field!r} must be a non-empty string or a list of them")
    return list(values)
