"""Our shards -> training examples: token ids, labels and the images they point at.

Three kinds of shard, three kinds of example (labels aligned with input_ids, -100 ignored):

    language     text shards (records without an image)
                 [bos] text [eos], all supervised; a long text is cut into max_seq_len
                 chunks (a last chunk of one token is dropped: it predicts nothing)
    multimodal   image pairs: notebooks (png + code), pages from ebooks/html/arxiv/pdf
                 (png + markdown/plain text); captioning-style, through the "deepseek" chat format with
                 an empty system prompt:
                     User: <image_placeholder>\\n{instruction}\\n\\nAssistant: {text}<eos>
                 the instruction picked from a short list by the text kind and a digest
                 of the record's text and image (`content_digest`; never the key, see
                 there); only " {text}" + eos are supervised. Too long: the answer
                 is cut (and then has no eos: the text did not end there); the prompt with
                 its image tokens is never cut.
    sft          text kind `conversation` (the record exactly as the sft job read it, in
                 the LLaVA, DeepSeek-VL or ms-swift layout) + the image member + the extra
                 images in KEY.json metadata `extra_images`; through the chat format with
                 the default system prompt (or the record's own); answers + eos supervised.
                 Too long: cut at max_seq_len, never inside an image's token run.

Every multimodal example keeps at least one image and every language one has none, so
a batch's modality always says whether the vision tower runs.

`ShardSource` serves the examples of a set of shards to one data-parallel rank: every epoch
is a permutation of all records seeded by (seed, epoch); rank r takes every world_size-th
record of it (the tail that does not divide evenly is left out of that epoch, so all ranks
have the same number of records and disjoint ones). Its `state_dict` (epoch, position in
the rank's order, examples already taken from the current record) is the exact data
position: loading it gives the same next examples.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vlforge.documents.sft import parse_record
from vlforge.errors import Rejected, VlforgeError
from vlforge.schemas import LEGACY_TEXT_MEMBERS, METADATA_MEMBER
from vlforge.shards.reader import (
    IMAGE_MEMBERS,
    TEXT_MEMBERS,
    find_shards,
    free_form,
    split_member_name,
)
from vlforge.trainer.chat_format import (
    ASSISTANT,
    DEFAULT_SYSTEM_PROMPT,
    IGNORE_INDEX,
    USER,
    Turn,
    encode_conversation,
    encode_prompt,
)
from vlforge.trainer.tokenizer import IMAGE_TOKEN, encode_text

log = logging.getLogger(__name__)

KINDS = ("language", "multimodal", "sft")
MODALITIES = ("language", "multimodal")
# Instructions for captioning-style pairs, by the text's kind. A few wordings so the
# model learns the task, not one string; the record's content digest picks one, so a
# record always gets the same prompt.
INSTRUCTIONS = {
    "code": ("Write the code that produced this plot.",
           "Write the Python code that generates this output.",
           "Reproduce this figure with Python code."),
    "markdown": ("Convert this page to markdown.",
           "Transcribe the page as markdown.",
           "Write the markdown of this document."),
    "plain": ("Transcribe the page.",
            "Read the text in this image.",
            "Write down the text on this page."),
}

# SFT roles -> chat-format roles. Tool/function output is input the model reads, never writes.
ROLE_MAP = {"human": USER, "user": USER, "tool": USER, "function": USER, "observation": USER,
            "gpt": ASSISTANT, "assistant": ASSISTANT, "model": ASSISTANT, "bot": ASSISTANT}
LLAVA_IMAGE_TAG = "<image>"  # LLaVA and ms-swift mark images so; DeepSeek-VL with IMAGE_TOKEN


class SkipRecord(Exception):
    """A record that gives no training example; `reason` is counted in ShardSource.skipped."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Example:
    key: str
    modality: str  # "language" or "multimodal" (Janus also "generation")
    input_ids: list[int]
    labels: list[int]
    images: list[bytes] = field(default_factory=list)  # encoded, one per image-token run, in order
    # Janus text-to-image: the VQ id at each generation-image position, -100 elsewhere
    # (aligned with input_ids); None for every other kind of example.
    image_ids: list[int] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)


def content_digest(*parts: str | bytes) -> str:
    """What a record holds, as a hex digest: the identity of the trainer's per-record choices
    (the captioning instruction here, Janus's prompt draws).

    Not the record's key: a key holds a digest of the absolute path of the input file the
    record came from (`schemas.make_key`), so the same data written by a job run in another
    folder has other keys, and choices made on keys changed the training and its losses
    with the folder the data was made in."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))  # the parts' boundaries count, not only their bytes
        digest.update(data)
    return digest.hexdigest()


def pick_instruction(content: str, text_kind: str) -> str:
    """The captioning instruction of a record with this `content_digest` and text kind."""
    choices = INSTRUCTIONS[text_kind]
    return choices[int(content, 16) % len(choices)]


def truncate(input_ids: list[int], labels: list[int], image_id: int, max_len: int) -> tuple[list, list, int]:
    """Cut to max_len, moving the cut back to the start of an image run it would split.

    Returns (input_ids, labels, images kept); the caller drops the images past the cut.
    """
    cut = min(len(input_ids), max_len)
    if cut < len(input_ids) and input_ids[cut] == image_id:
        while cut > 0 and input_ids[cut - 1] == image_id:
            cut -= 1
    ids = input_ids[:cut]
    return ids, labels[:cut], ids.count(image_id)


@dataclass(frozen=True)
class ExampleEncoder:
    """Turns one record's members into examples; holds everything tokenising needs."""

    tokenizer: Any
    max_seq_len: int
    num_image_tokens: int
    system_prompt: str = DEFAULT_SYSTEM_PROMPT  # SFT conversations without their own
    pair_system_prompt: str = ""  # captioning-style pairs: no system prompt, tokens matter

    def __post_init__(self) -> None:
        if self.max_seq_len < self.num_image_tokens + 32:
            raise ValueError(
                f"max_seq_len={self.max_seq_len} cannot hold an image ({self.num_image_tokens} tokens) "
                "with its prompt and an answer; the paper's stage-1 length of 512 counts text only, "
                f"so give at least num_image_tokens + 512 = {self.num_image_tokens + 512}")

    @classmethod
    def for_model(cls, tokenizer, model_config, max_seq_len: int | None = None, **kwargs) -> ExampleEncoder:
        """From a ModelConfig (num_image_tokens, max_seq_len) and the stage's sequence length."""
        return cls(tokenizer, max_seq_len or model_config.max_seq_len, model_config.num_image_tokens, **kwargs)

    @property
    def image_id(self) -> int:
        return self.tokenizer.image_token_id

    def language(self, key: str, text: str) -> list[Example]:
        if not text.strip():
            raise SkipRecord("empty_text")
        ids = [self.tokenizer.bos_token_id, *encode_text(self.tokenizer, text), self.tokenizer.eos_token_id]
        chunks = [ids[start:start + self.max_seq_len] for start in range(0, len(ids), self.max_seq_len)]
        return [Example(f"{key}#{i}" if i else key, "language", chunk, list(chunk))
                for i, chunk in enumerate(chunks) if len(chunk) > 1]

    def pair(self, key: str, image: bytes, text: str, text_kind: str) -> list[Example]:
        if not text.strip():
            raise SkipRecord("empty_text")
        user = f"{IMAGE_TOKEN}\n{pick_instruction(content_digest(text, image), text_kind)}"
        prompt = encode_prompt(self.tokenizer, user, self.num_image_tokens, system_prompt=self.pair_system_prompt)
        budget = self.max_seq_len - len(prompt)
        if budget < 1:
            raise SkipRecord("prompt_too_long")
        answer = encode_text(self.tokenizer, " " + text) + [self.tokenizer.eos_token_id]
        answer = answer[:budget]  # a cut answer loses its eos too
        ids = prompt + answer
        return [Example(key, "multimodal", ids, [IGNORE_INDEX] * len(prompt) + answer, [image])]

    def conversation(self, key: str, record: dict, images: list[bytes]) -> list[Example]:
        system, turns = conversation_turns(record, len(images))
        ids, labels = encode_conversation(self.tokenizer, turns, self.num_image_tokens,
                                          self.system_prompt if system is None else system)
        ids, labels, image_tokens = truncate(ids, labels, self.image_id, self.max_seq_len)
        kept = images[:image_tokens // self.num_image_tokens]
        if all(label == IGNORE_INDEX for label in labels):
            raise SkipRecord("no_answer_within_max_seq_len")
        if images and not kept:
            raise SkipRecord("image_past_max_seq_len")
        return [Example(key, "multimodal" if kept else "language", ids, labels, kept)]


# --- SFT records -> chat-format turns ---------------------------------------------------------

def _raw_turns(record: dict) -> tuple[str | None, list[tuple[str, str]]]:
    """(system prompt or None, [(role, text)]) in the record's own roles."""
    fmt = parse_record(record).format
    if fmt == "llava":
        return None, [(t["from"].lower(), t["value"]) for t in record["conversations"]]
    if fmt == "deepseek":
        key = next(k for k in ("conversation", "conversations", "messages")
                   if isinstance(record.get(k), list) and record[k] and "role" in record[k][0])
        return None, [(t["role"].lower(), t["content"]) for t in record[key]]
    pairs = [*(record.get("history") or []), [record["query"], record.get("response")]]
    turns = [(role, text) for q, r in pairs for role, text in (("user", q), ("assistant", r)) if text is not None]
    return record.get("system") if isinstance(record.get("system"), str) else None, turns


def _merge(raw: list[tuple[str, str]]) -> tuple[list[str], list[Turn]]:
    """System texts, and the turns with chat-format roles, consecutive same-role turns joined."""
    systems, turns = [], []
    for role, text in raw:
        if role == "system":
            systems.append(text)
        elif turns and turns[-1].role == ROLE_MAP[role]:
            turns[-1] = Turn(turns[-1].role, turns[-1].content + "\n" + text)
        else:
            turns.append(Turn(ROLE_MAP[role], text))
    while turns and turns[0].role != USER:  # an answer before any question teaches nothing
        turns.pop(0)
    if turns and turns[-1].role == USER:  # a trailing question has no answer to supervise
        turns.pop()
    return systems, turns


def _place_images(turns: list[Turn], num_images: int) -> list[Turn]:
    """Turns whose placeholders match the images: LLaVA/swift tags converted, none -> first turn."""
    if num_images:
        turns = [Turn(t.role, t.content.replace(LLAVA_IMAGE_TAG, IMAGE_TOKEN)) for t in turns]
    placeholders = sum(t.content.count(IMAGE_TOKEN) for t in turns if t.role == USER)
    if placeholders == 0 and num_images:
        turns[0] = Turn(USER, IMAGE_TOKEN * num_images + "\n" + turns[0].content)
    elif placeholders != num_images:
        raise SkipRecord("image_count_mismatch")
    return turns


def conversation_turns(record: dict, num_images: int) -> tuple[str | None, list[Turn]]:
    """(system prompt or None for the default, alternating turns ending with an answer)."""
    try:
        system, raw = _raw_turns(record)
        systems, turns = _merge(raw)
    except (Rejected, KeyError, TypeError, AttributeError):
        raise SkipRecord("invalid_record") from None
    if not turns:
        raise SkipRecord("no_answer")
    if systems:
        system = "\n".join(systems)
    return system, _place_images(turns, num_images)


# --- shard index ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordRef:
    """Where one sample's members lie (member -> (data offset, size)) and its text's kind."""

    shard: str
    key: str
    members: dict[str, tuple[int, int]]
    text_kind: str | None  # None: the record has no text member

    def first(self, names: Iterable[str]) -> str | None:
        return next((n for n in names if n in self.members), None)

    @property
    def has_image(self) -> bool:
        return self.first(IMAGE_MEMBERS) is not None

    @property
    def text_member(self) -> str | None:
        return self.first(TEXT_MEMBERS)


class ShardRecords:
    """The records of one shard in file order, column by column: start-up holds a few arrays
    per shard, not an object per record; a RecordRef is made when a record is drawn.

    Members are flat arrays (extension code, data offset, size) cut by `bounds`: record i's
    members are rows bounds[i]:bounds[i + 1].
    """

    def __init__(self, shard: str, keys: pa.Array, kinds: pa.Array, lengths: np.ndarray, exts: pa.Array,
                 offsets: np.ndarray, sizes: np.ndarray):
        self.shard, self.keys = shard, keys
        self.bounds = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        encoded = pc.dictionary_encode(exts)
        self.ext_names: list[str] = encoded.dictionary.to_pylist()
        self.ext_codes = encoded.indices.to_numpy(zero_copy_only=False)
        self.offsets, self.sizes = offsets, sizes
        self.has_image = self._has_any(IMAGE_MEMBERS)
        self.has_text = self._has_any(TEXT_MEMBERS)
        # the index's kind where a text member exists (as the tar scan gives it), else null
        self.text_kind = pc.if_else(pa.array(self.has_text), kinds, pa.scalar(None, pa.string()))

    def _has_any(self, names: Iterable[str]) -> np.ndarray:
        """Per record: whether one of its members has one of these extensions."""
        codes = [code for code, name in enumerate(self.ext_names) if name in names]
        hits = np.concatenate([[0], np.cumsum(np.isin(self.ext_codes, codes))])
        return hits[self.bounds[1:]] > hits[self.bounds[:-1]]

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __getitem__(self, row: int) -> RecordRef:
        start, stop = int(self.bounds[row]), int(self.bounds[row + 1])
        members = {self.ext_names[code]: (offset, size) for code, offset, size in zip(
            self.ext_codes[start:stop].tolist(), self.offsets[start:stop].tolist(),
            self.sizes[start:stop].tolist(), strict=True)}
        return RecordRef(self.shard, self.keys[row].as_py(), members, self.text_kind[row].as_py())

    def __iter__(self) -> Iterator[RecordRef]:
        return (self[row] for row in range(len(self)))

    @classmethod
    def from_members(cls, shard: str, records: dict[str, dict[str, tuple[int, int]]],
                     kinds: dict[str, str | None]) -> ShardRecords:
        """From per-record member places (a tar scan) and text kinds by key."""
        places = [place for members in records.values() for place in members.items()]
        return cls(shard, pa.array(list(records), pa.string()), pa.array([kinds.get(k) for k in records], pa.string()),
                   np.array([len(m) for m in records.values()], dtype=np.int64),
                   pa.array([ext for ext, _ in places], pa.string()),
                   np.array([offset for _, (offset, _) in places], dtype=np.int64),
                   np.array([size for _, (_, size) in places], dtype=np.int64))


class RecordTable:
    """The records of several shards in order, as ShardRecords; `rows` picks some of them
    (all by default). Indexing and iterating give RecordRefs; the column properties give one
    value per picked record, for filters that look at every record at once."""

    def __init__(self, shards: list[ShardRecords], rows: np.ndarray | None = None):
        self.shards = shards
        self._starts = np.cumsum([0, *(len(s) for s in shards)], dtype=np.int64)
        self.rows = np.arange(self._starts[-1], dtype=np.int64) if rows is None else rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> RecordRef:
        row = int(self.rows[index])
        shard = int(np.searchsorted(self._starts, row, side="right")) - 1
        return self.shards[shard][row - int(self._starts[shard])]

    def __iter__(self) -> Iterator[RecordRef]:
        return (self[index] for index in range(len(self)))

    def where(self, mask: np.ndarray) -> RecordTable:
        """The picked records for which mask (one bool per picked record) holds."""
        return RecordTable(self.shards, self.rows[mask])

    def _column(self, name: str) -> np.ndarray:
        whole = np.concatenate([getattr(s, name) for s in self.shards]) if self.shards else np.zeros(0, bool)
        return whole[self.rows]

    @property
    def has_image(self) -> np.ndarray:
        return self._column("has_image")

    @property
    def has_text(self) -> np.ndarray:
        return self._column("has_text")

    def text_kind_in(self, kinds: Iterable[str]) -> np.ndarray:
        """Per record: whether its text kind is one of these (never for a record without text)."""
        wanted = pa.array(list(kinds), pa.string())
        if not self.shards:
            return np.zeros(0, bool)
        whole = np.concatenate([pc.is_in(s.text_kind, value_set=wanted).to_numpy(zero_copy_only=False)
                                for s in self.shards])
        return whole[self.rows]


def scan_shard(path: str) -> ShardRecords:
    """The records of one shard in file order: from its parquet index's member places, or,
    for a shard written before the index had them, from its tar headers."""
    records = indexed_records(path)
    return records if records is not None else scanned_records(path)


def _index_path(path: str) -> str:
    return os.path.splitext(path)[0] + ".parquet"


def indexed_records(path: str) -> ShardRecords | None:
    """The records as the shard's index places them, read as columns; None when the index
    is missing or has no `members` column (an older writer)."""
    index = _index_path(path)
    if not os.path.exists(index) or "members" not in pq.read_schema(index).names:
        return None
    table = pq.read_table(index, columns=["key", "text_kind", "members"])
    members = table.column("members").combine_chunks()
    places = pc.list_flatten(members)  # every member of every record, in order
    return ShardRecords(path, table.column("key").combine_chunks(), table.column("text_kind").combine_chunks(),
                        pc.list_value_length(members).fill_null(0).to_numpy(zero_copy_only=False),
                        pc.struct_field(places, "ext"),
                        pc.struct_field(places, "offset").to_numpy(zero_copy_only=False).astype(np.int64),
                        pc.struct_field(places, "size").to_numpy(zero_copy_only=False).astype(np.int64))


def scanned_records(path: str) -> ShardRecords:
    """The records of one tar from its headers (payloads are skipped) and the text kinds of
    its parquet index; a shard without an index has its KEY.json read."""
    records: dict[str, dict[str, tuple[int, int]]] = {}
    with tarfile.open(path, mode="r:") as tar:
        for member in tar:
            if member.isfile():
                key, ext = split_member_name(member.name)
                records.setdefault(key, {})[ext] = (member.offset_data, member.size)
    kinds = _indexed_kinds(path) or _metadata_kinds(path, records)
    return ShardRecords.from_members(path, records, kinds)


def _indexed_kinds(path: str) -> dict[str, str]:
    index = _index_path(path)
    if not os.path.exists(index):
        return {}
    rows = pq.read_table(index, columns=["key", "text_kind"]).to_pylist()
    return {row["key"]: row["text_kind"] for row in rows}


def _metadata_kinds(path: str, records: dict[str, dict[str, tuple[int, int]]]) -> dict[str, str]:
    kinds = {}
    with open(path, "rb") as handle:
        for key, members in records.items():
            legacy = next((LEGACY_TEXT_MEMBERS[m] for m in TEXT_MEMBERS if m in members), None)
            if METADATA_MEMBER in members:
                offset, size = members[METADATA_MEMBER]
                handle.seek(offset)
                legacy = json.loads(handle.read(size)).get("text_kind", legacy)
            kinds[key] = legacy
    return kinds


def index_shards(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> RecordTable:
    """Every record of the given shards or directories (each directory's shards sorted)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    shards = list(dict.fromkeys(str(s) for p in paths for s in find_shards(p)))
    tables, scanned = [], []
    for shard in shards:
        indexed = indexed_records(shard)
        if indexed is None:
            scanned.append(shard)
        tables.append(indexed if indexed is not None else scanned_records(shard))
    if scanned:
        log.warning("%d of %d shards have no member places in their index (an older writer, or no "
                    "index), so their tar headers were read, e.g. %s; rewriting them makes start-up "
                    "read the indexes alone", len(scanned), len(shards), scanned[0])
    return RecordTable(tables)


def wanted(records: RecordTable, kind: str, modality: str | None) -> np.ndarray:
    """Per record: whether it gives examples of this kind (and modality, for sft)."""
    if kind == "sft":
        usable = records.text_kind_in(["conversation"])
        if modality is not None:
            usable &= records.has_image == (modality == "multimodal")
        return usable
    has_text = records.text_kind_in(INSTRUCTIONS)  # plain, markdown or code: not a conversation
    return has_text & (records.has_image == (kind == "multimodal"))


# --- the source ----------------------------------------------------------------------------

class ShardSource:
    """An endless, deterministic, rank-sharded stream of Examples from shards of one kind.

    kind: "language" (records without an image), "multimodal" (image + text member) or
    "sft" (conversation records; `modality` keeps only those with ("multimodal") or
    without ("language") an image, which is how stage 3 splits SFT for modality grouping).
    """

    def __init__(self, paths, kind: str, encoder: ExampleEncoder, *, seed: int = 0, rank: int = 0,
                 world_size: int = 1, shuffle: bool = True, modality: str | None = None):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if modality not in (None, *MODALITIES) or (modality and kind != "sft"):
            raise ValueError("modality ('language' or 'multimodal') filters sft sources only")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        self.kind, self.encoder, self.seed, self.shuffle = kind, encoder, seed, shuffle
        self.rank, self.world_size, self._modality_filter = rank, world_size, modality
        everything = index_shards(paths)
        self.records = everything.where(self.usable(everything))
        self.modality = modality or (kind if kind != "sft" else None)
        self.per_rank = len(self.records) // world_size
        if self.per_rank == 0:
            raise VlforgeError(f"{paths}: {len(self.records)} usable {kind} records for {world_size} ranks; "
                               "each rank needs at least one")
        self.skipped: Counter[str] = Counter()  # reasons of records that gave no example
        self._files: dict[str, Any] = {}
        self._epoch, self._cursor, self._taken = 0, 0, 0
        self._order_cache: tuple[int, np.ndarray] | None = None
        self._current: list[Example] | None = None  # examples of the record at the cursor
        self._emitted_this_epoch = False

    def usable(self, records: RecordTable) -> np.ndarray:
        """Per record: whether it can give this source's examples (subclasses read other
        kinds); one vectorised pass over the index columns, no object per record."""
        return wanted(records, self.kind, self._modality_filter)

    def __len__(self) -> int:
        """Records this rank reads per epoch."""
        return self.per_rank

    def __iter__(self) -> Iterator[Example]:
        return self

    def __next__(self) -> Example:
        while True:
            if self._current is None:
                self._current = self._encode(self.records[self._order()[self._cursor]])
            if self._taken < len(self._current):
                self._taken += 1
                self._emitted_this_epoch = True
                return self._current[self._taken - 1]
            self._advance()

    def _advance(self) -> None:
        self._cursor, self._taken, self._current = self._cursor + 1, 0, None
        if self._cursor == self.per_rank:
            if not self._emitted_this_epoch:
                raise VlforgeError(f"a whole epoch of {self.kind} records gave no example: "
                                   f"{dict(self.skipped)}")
            self._epoch, self._cursor, self._emitted_this_epoch = self._epoch + 1, 0, False

    def _order(self) -> np.ndarray:
        """This rank's record indices for the current epoch (a pure function of seed, epoch)."""
        if self._order_cache is None or self._order_cache[0] != self._epoch:
            count = len(self.records)
            order = (np.random.default_rng([self.seed, self._epoch]).permutation(count) if self.shuffle
                     else np.arange(count))
            self._order_cache = (self._epoch, order[self.rank:self.per_rank * self.world_size:self.world_size])
        return self._order_cache[1]

    def _read(self, ref: RecordRef, member: str) -> bytes:
        handle = self._files.get(ref.shard)
        if handle is None:
            handle = self._files[ref.shard] = open(ref.shard, "rb")
        offset, size = ref.members[member]
        handle.seek(offset)
        return handle.read(size)

    def _encode(self, ref: RecordRef) -> list[Example]:
        """The record's examples; a record that cannot be used is counted by reason, not raised."""
        try:
            return self._examples(ref)
        except SkipRecord as skip:
            self.skipped[skip.reason] += 1
            return []
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.skipped["undecodable"] += 1
            return []

    def _examples(self, ref: RecordRef) -> list[Example]:
        if self.kind == "sft":
            return self.encoder.conversation(ref.key, self._json(ref, ref.text_member), self._images(ref))
        text = self._read(ref, ref.text_member).decode("utf-8")
        if self.kind == "language":
            return self.encoder.language(ref.key, text)
        return self.encoder.pair(ref.key, self._read(ref, ref.first(IMAGE_MEMBERS)), text, ref.text_kind)

    def _json(self, ref: RecordRef, member: str) -> Any:
        return json.loads(self._read(ref, member))

    def _images(self, ref: RecordRef) -> list[bytes]:
        """The record's first image member, then metadata `extra_images` (sft's images 2..n)."""
        first = ref.first(IMAGE_MEMBERS)
        if first is None:
            return []
        extra = []
        if METADATA_MEMBER in ref.members:
            metadata = free_form(self._json(ref, METADATA_MEMBER).get("metadata"))
            extra = [base64.b64decode(e["base64"]) for e in metadata.get("extra_images") or []]
        return [self._read(ref, first), *extra]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self._epoch, "cursor": self._cursor, "taken": self._taken,
                "records": len(self.records), "seed": self.seed, "rank": self.rank,
                "world_size": self.world_size, "emitted_this_epoch": self._emitted_this_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mine = self.state_dict()
        for name in ("records", "seed", "rank", "world_size"):
            if state[name] != mine[name]:
                raise VlforgeError(f"data position saved with {name}={state[name]}, this source has "
                                   f"{mine[name]}: resume with the same shards, seed and ranks")
        self._epoch, self._cursor, self._taken = state["epoch"], state["cursor"], state["taken"]
        self._emitted_this_epoch = state.get("emitted_this_epoch", True)
        self._current = None

    def close(self) -> None:
        for handle in getattr(self, "_files", {}).values():
            handle.close()
        self._files = {}

    def __del__(self) -> None:
        self.close()
