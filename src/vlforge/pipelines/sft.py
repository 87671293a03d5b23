"""SFT records -> taxonomy-tagged conversation samples: `vlforge run sft`.

Inputs: `.jsonl` (one record a line; large files are split into byte ranges) and `.json`
(one record or an array) in the three layouts of `vlforge.taxonomy.records` (LLaVA/ShareGPT,
DeepSeek-VL, ms-swift). Images named by a record are read relative to the input file's
directory (absolute paths as they are); URLs are not fetched.

What a sample holds:
    KEY.conv.json   the record exactly as read (text_kind `conversation`)
    KEY.png|jpg     the record's first image, bytes unchanged (text-only records: none)
    KEY.json        metadata: `format` (llava, deepseek, swift), `position` (offset=N or
                    index=N), `images` (the references, in order), `taxonomy` (the tag of
                    `vlforge taxonomy tag`), `id` when the record has one, and for records
                    with several images `extra_images` (below)

Several images: a Sample carries one image, so `sft.multiple_images` decides. `metadata`
(default) keeps them all: images 2..n go into metadata `extra_images` as
{"ref", "format", "width", "height", "sha256", "base64"}, since Multi-graph records are a
whole category of the taxonomy and dropping them would empty it. (The shard index copies
metadata, so those bytes appear there too; jobs with many multi-image records may prefer
`reject`.) `reject` turns such records into `multiple_images` rejects.

The stream:
    read    one outcome per record. Rejects: invalid_json, invalid_utf8, not_an_object,
            unknown_format, invalid_turn, no_user_turn, invalid_images, remote_image,
            missing_image, image_too_large, corrupt_image, multiple_images, empty_file
    tag     the user turns of a batch of records through the taxonomy tagger (loaded once
            per worker process); never rejects: unplaceable prompts are tagged unassigned
    image   filters.images on the first image (records without images pass)
"""

from __future__ import annotations

import base64
import functools
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from vlforge.contract import Corpus, Outcome, Part, TaskContext, per_sample
from vlforge.documents.lines import iter_lines
from vlforge.filters.images import DEFAULTS as IMAGE_DEFAULTS
from vlforge.filters.images import PIL_FORMATS, check_image
from vlforge.schemas import Provenance, Reject, Sample, checksum, make_key
from vlforge.taxonomy.records import RecordError, decode_json, parse_record

DEFAULTS: dict[str, Any] = {
    "sft": {
        "multiple_images": "metadata",  # or "reject" (see the module notes)
        "max_image_bytes": 16 * 1024 * 1024,  # per image file: image_too_large
        "model_dir": "",  # taxonomy models; empty: the ones shipped in the package
        "main_threshold": 0.5,  # main-category probability below which a record is unassigned
        "top_k": 3,
        "batch": 256,  # records tagged together (fastText batch predict)
    },
    "filters": {"images": IMAGE_DEFAULTS},
}

REMOTE_PREFIXES = ("http://", "https://", "s3://", "gs://", "ftp://", "data:")


class _Drop(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def load_image(ref: str, base: Path, max_bytes: int) -> tuple[bytes, str, tuple[int, int]]:
    """(bytes, Sample image_format, (width, height)) of one referenced image, or _Drop."""
    if ref.lower().startswith(REMOTE_PREFIXES):
        raise _Drop("remote_image", f"{ref[:80]}: only local files are read")
    path = base / ref
    if not path.is_file():
        raise _Drop("missing_image", f"{ref}: no such file under {base}")
    size = path.stat().st_size
    if size > max_bytes:
        raise _Drop("image_too_large", f"{ref}: {size} bytes > sft.max_image_bytes={max_bytes}")
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, dims = PIL_FORMATS.get(image.format or ""), image.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise _Drop("corrupt_image", f"{ref}: not a readable image ({type(exc).__name__})") from None
    if fmt is None:
        raise _Drop("corrupt_image", f"{ref}: {image.format} is not png, jpeg or webp")
    return data, fmt, dims


def _extra_image(ref: str, loaded: tuple[bytes, str, tuple[int, int]]) -> dict:
    data, fmt, (width, height) = loaded
    return {"ref": ref, "format": fmt, "width": width, "height": height, "sha256": checksum(data),
            "base64": base64.b64encode(data).decode("ascii")}


def _images(refs: tuple[str, ...], base: Path, opts: dict) -> tuple[tuple | None, list[dict]]:
    if len(refs) > 1 and opts["multiple_images"] == "reject":
        raise _Drop("multiple_images", f"{len(refs)} images; sft.multiple_images=reject keeps one-image records")
    loaded = [load_image(ref, base, opts["max_image_bytes"]) for ref in refs]
    first = loaded[0] if loaded else None
    return first, [_extra_image(ref, img) for ref, img in zip(refs[1:], loaded[1:], strict=True)]


def record_outcome(source: str, position: str, key: str, data: bytes, ctx: TaskContext) -> Outcome:
    """One record (raw JSON bytes) -> a Sample waiting for its tag, or a Reject."""
    try:
        record = decode_json(data)
        conversation = parse_record(record)
        first, extra = _images(conversation.images, Path(source).parent, ctx.option("sft"))
    except (RecordError, _Drop) as error:
        return Reject(source, position, "read", error.reason, error.detail)
    metadata: dict[str, Any] = {"format": conversation.format, "position": position,
                                "images": list(conversation.images), "_question": conversation.question}
    if isinstance(record.get("id"), (str, int)):
        metadata["id"] = record["id"]
    if extra:
        metadata["extra_images"] = extra
    image, fmt, size = first if first else (None, None, None)
    return Sample(key, "sft", json.dumps(record, ensure_ascii=False), "conversation",
                  Provenance(source, checksum(data)), image=image, image_format=fmt, image_size=size,
                  metadata=metadata)


def read_jsonl(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    records = 0
    for offset, line in iter_lines(part):
        if line.strip():
            records += 1
            yield record_outcome(part.path, f"offset={offset}", make_key("sft", part.path, offset), line, ctx)
    if records == 0 and part.end is None:
        yield Reject(part.path, "0", "read", "empty_file", "the file holds no JSON lines")


def read_json(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    data = Path(part.path).read_bytes()
    try:
        document = decode_json(data)
    except RecordError as error:
        yield Reject(part.path, "file", "read", error.reason, error.detail)
        return
    records = document if isinstance(document, list) else [document]
    if not records:
        yield Reject(part.path, "file", "read", "empty_file", "the JSON array is empty")
    for index, record in enumerate(records):
        raw = json.dumps(record, ensure_ascii=False).encode()
        yield record_outcome(part.path, f"index={index}", make_key("sft", part.path, index), raw, ctx)


def read(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    if part.path.lower().endswith(".jsonl"):
        yield from read_jsonl(part, ctx)
    else:
        yield from read_json(part, ctx)


@functools.cache
def worker_tagger(model_dir: str, main_threshold: float, top_k: int):
    """One Tagger per worker process and settings (models load in ~10 ms, but not per item)."""
    from vlforge.taxonomy.tagger import Tagger
    return Tagger.load(model_dir or None, main_threshold=main_threshold, top_k=top_k)


def _tag_chunk(chunk: list[Outcome], tagger) -> list[Outcome]:
    samples = [o for o in chunk if isinstance(o, Sample)]
    tags = tagger.tag_texts([s.metadata.pop("_question") for s in samples])
    for sample, tag in zip(samples, tags, strict=True):
        sample.metadata["taxonomy"] = tag
    return chunk


def tag_stage(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
    """Tags samples in batches of sft.batch; order and Rejects pass through unchanged."""
    opts = ctx.option("sft")
    tagger = worker_tagger(opts["model_dir"], float(opts["main_threshold"]), int(opts["top_k"]))
    chunk: list[Outcome] = []
    for outcome in outcomes:
        chunk.append(outcome)
        if len(chunk) >= opts["batch"]:
            yield from _tag_chunk(chunk, tagger)
            chunk = []
    yield from _tag_chunk(chunk, tagger)


def check_first_image(sample: Sample, ctx: TaskContext) -> Outcome:
    if sample.image is None:  # text-only SFT records are kept as they are
        return sample
    return check_image(sample, ctx.option("filters.images"), "image")


CORPUS = Corpus(
    name="sft",
    description="SFT records (LLaVA, DeepSeek-VL, ms-swift; JSON/JSONL) -> taxonomy-tagged conversation samples",
    read=read,
    stages=(tag_stage, per_sample(check_first_image, "image")),
    defaults=DEFAULTS,
    suffixes=(".json", ".jsonl"),
    splittable_suffixes=(".jsonl",),
)
