"""SFT records in the three common layouts -> the user turns to tag and the images named.

    llava      LLaVA / ShareGPT: {"conversations": [{"from": "human"|"gpt"|..., "value": str}],
               "image": str | [str] (or "images")}
    deepseek   DeepSeek-VL: {"conversation" | "conversations" | "messages":
               [{"role": "User"|"Assistant"|..., "content": str, "images": [str]?}],
               "images": [str]?}; `<image_placeholder>` marks where an image goes. The
               same shape covers ms-swift's and OpenAI-style `messages`.
    swift      ms-swift: {"query": str, "response": str?, "history": [[query, response]],
               "images": [str] | str, "system": str?}

Files: `.jsonl` (one record a line) or `.json` (one record, or an array of records).
A record that cannot be read raises RecordError with a stable snake_case reason:
invalid_json, invalid_utf8, not_an_object, unknown_format, invalid_turn, no_user_turn,
invalid_images, unsupported_file_type. An empty question is not an error here: the tagger calls it unassigned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USER_ROLES = {"human", "user"}
OTHER_ROLES = {"gpt", "assistant", "model", "bot", "system", "tool", "function", "observation"}
TURN_LIST_KEYS = ("conversation", "conversations", "messages")
SUFFIXES = (".json", ".jsonl")


class RecordError(Exception):
    def __init__(self, reason: str, detail: str, raw: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.raw = raw  # the undecodable line, kept for the reject file


MAX_RAW_CHARS = 10_000


@dataclass(frozen=True)
class Conversation:
    format: str  # llava, deepseek, swift
    user_turns: tuple[str, ...]
    images: tuple[str, ...]  # image references (paths or names) in the order given

    @property
    def question(self) -> str:
        """What the tagger reads: every user turn, in order (answers are never read)."""
        return "\n".join(self.user_turns)


def _image_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise RecordError("invalid_images", f"{field!r} must be a non-empty string or a list of them")
    return list(values)


def _role(turn: Any, index: int, key: str) -> str:
    if not isinstance(turn, dict) or not isinstance(turn.get(key), str):
        raise RecordError("invalid_turn", f"turn {index} has no string {key!r}")
    role = turn[key].lower()
    if role not in USER_ROLES | OTHER_ROLES:
        raise RecordError("invalid_turn", f"turn {index} has unknown {key} {turn[key]!r}")
    return role


def _text(turn: dict, index: int, key: str) -> str:
    if not isinstance(turn.get(key), str):
        raise RecordError("invalid_turn", f"turn {index} has no string {key!r}")
    return turn[key]


def _user_turns(turns: list, role_key: str, text_key: str) -> list[str]:
    users = [_text(t, i, text_key) for i, t in enumerate(turns) if _role(t, i, role_key) in USER_ROLES]
    if not users:
        raise RecordError("no_user_turn", f"none of the {len(turns)} turns is from the user")
    return users


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
        raise RecordError("invalid_turn", "'query' must be a string")
    history = record.get("history") or []
    if not isinstance(history, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) for pair in history):
        raise RecordError("invalid_turn", "'history' must be a list of [query, response] pairs")
    users = [pair[0] for pair in history] + [record["query"]]
    return Conversation("swift", tuple(users), tuple(_image_list(record.get("images"), "images")))


def _turn_list_key(record: dict, field: str) -> str | None:
    """The key holding a non-empty list of turns that carry `field`, if any."""
    for key in TURN_LIST_KEYS:
        turns = record.get(key)
        if isinstance(turns, list) and turns and isinstance(turns[0], dict) and field in turns[0]:
            return key
    return None


def parse_record(record: Any) -> Conversation:
    """The conversation in a record of any of the three layouts; RecordError otherwise."""
    if not isinstance(record, dict):
        raise RecordError("not_an_object", f"a record must be a JSON object, not {type(record).__name__}")
    if _turn_list_key(record, "from") == "conversations":
        return _llava(record)
    key = _turn_list_key(record, "role")
    if key:
        return _deepseek(record, key)
    if "query" in record:
        return _swift(record)
    empty = [k for k in TURN_LIST_KEYS if isinstance(record.get(k), list) and not record[k]]
    if empty:
        raise RecordError("no_user_turn", f"{empty[0]!r} is an empty list")
    raise RecordError("unknown_format", "neither LLaVA 'conversations', DeepSeek-VL 'role'/'content' turns "
                      f"nor ms-swift 'query'; keys: {sorted(record)[:10]}")


def decode_json(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError("invalid_utf8", f"invalid UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError("invalid_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None


def iter_file_records(path: str | Path) -> Iterator[tuple[str, Any]]:
    """(item, record or RecordError) for every record of a .json or .jsonl file.

    Items: `line N` (1-based) in JSONL, `index N` in a JSON array, `file` for a JSON file
    holding one record or failing as a whole.
    """
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        yield "file", RecordError("unsupported_file_type", f"{path.suffix or 'no suffix'}: expected .json or .jsonl")
        return
    if path.suffix.lower() == ".jsonl":
        yield from _jsonl_records(path)
    else:
        yield from _json_records(path)


def _jsonl_records(path: Path) -> Iterator[tuple[str, Any]]:
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield f"line {number}", decode_json(line)
                except RecordError as error:
                    error.raw = line.decode("utf-8", errors="replace")[:MAX_RAW_CHARS].rstrip("\n")
                    yield f"line {number}", error


def _json_records(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        document = decode_json(path.read_bytes())
    except RecordError as error:
        yield "file", error
        return
    if isinstance(document, list):
        yield from ((f"index {i}", record) for i, record in enumerate(document))
    else:
        yield "file", document
