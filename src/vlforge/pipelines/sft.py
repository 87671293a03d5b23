"""SFT records -> taxonomy-tagged conversation samples: `vlforge run sft`.

Inputs: `.jsonl` (one record a line; large files are split into byte ranges) and `.json`
(one record or an array) in the three layouts `vlforge.documents.sft` reads (LLaVA/ShareGPT,
DeepSeek-VL, ms-swift), the reader `vlforge taxonomy tag` uses too. Images named by a record are read relative to the input file's
directory (absolute paths as they are); URLs are not fetched.

What a sample holds:
    KEY.conv.json   the record exactly as read (text_kind `conversation`)
    KEY.png         the record's first image (text-only records: none); PNG bytes as
                    they were, other formats re-encoded to PNG by the png stage
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
    tag     the user turns of sft.batch records at a time through the taxonomy tagger
            (loaded once per worker process); never rejects: unplaceable prompts are tagged
            unassigned
    image   filters.images on the first image (records without images pass)
    png     the first image stored as PNG (one image member for the whole corpus)
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

from vlforge.config import opt
from vlforge.contract import Corpus, Outcome, Part, TaskContext, batched, per_sample
from vlforge.documents.sft import Conversation, RecordRead, parse_record, read_records
from vlforge.errors import Rejected
from vlforge.filters.images import DEFAULTS as IMAGE_DEFAULTS
from vlforge.filters.images import PIL_FORMATS, check_image
from vlforge.images import as_png
from vlforge.schemas import Provenance, Sample, checksum, make_key

DEFAULTS: dict[str, Any] = {
    "sft": {
        # See the module notes: `metadata` keeps images 2..n in metadata `extra_images`.
        "multiple_images": opt("metadata", "records with several images: metadata (keep the extra ones there) or reject"),
        "max_image_bytes": opt(16 * 1024 * 1024, "bytes per image file beyond which a record is image_too_large"),
        "model_dir": opt("", "taxonomy models directory; empty: the ones shipped in the package"),
        "main_threshold": opt(None, "calibrated main-category confidence below which a record is tagged unassigned (empty: the model's own default)"),
        "top_k": opt(3, "labels (with probabilities) the tag keeps from the main model"),
        "batch": opt(256, "records tagged together (fastText batch predict)"),
    },
    "filters": {"images": IMAGE_DEFAULTS},
}

REMOTE_PREFIXES = ("http://", "https://", "s3://", "gs://", "ftp://", "data:")
LoadedImage = tuple[bytes, str, tuple[int, int]]  # bytes, Sample image_format, (width, height)


def load_image(ref: str, base: Path, max_bytes: int) -> LoadedImage:
    """One referenced image, read from disk; Rejected when it cannot be used."""
    if ref.lower().startswith(REMOTE_PREFIXES):
        raise Rejected("remote_image", f"{ref[:80]}: only local files are read")
    path = base / ref
    if not path.is_file():
        raise Rejected("missing_image", f"{ref}: no such file under {base}")
    size = path.stat().st_size
    if size > max_bytes:
        raise Rejected("image_too_large", f"{ref}: {size} bytes > sft.max_image_bytes={max_bytes}")
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, dims = PIL_FORMATS.get(image.format or ""), image.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise Rejected("corrupt_image", f"{ref}: not a readable image ({type(exc).__name__})") from None
    if fmt is None:
        raise Rejected("corrupt_image", f"{ref}: {image.format} is not png, jpeg or webp")
    return data, fmt, dims


def _extra_image(ref: str, loaded: LoadedImage) -> dict:
    data, fmt, (width, height) = loaded
    return {"ref": ref, "format": fmt, "width": width, "height": height, "sha256": checksum(data),
            "base64": base64.b64encode(data).decode("ascii")}


def _images(refs: tuple[str, ...], base: Path, opts: dict) -> tuple[LoadedImage | None, list[dict]]:
    if len(refs) > 1 and opts["multiple_images"] == "reject":
        raise Rejected("multiple_images", f"{len(refs)} images; sft.multiple_images=reject keeps one-image records")
    loaded = [load_image(ref, base, opts["max_image_bytes"]) for ref in refs]
    first = loaded[0] if loaded else None
    return first, [_extra_image(ref, img) for ref, img in zip(refs[1:], loaded[1:], strict=True)]


def record_outcome(source: str, read: RecordRead, ctx: TaskContext) -> Outcome:
    """One record as read -> a Sample waiting for its tag, or a Reject."""
    if read.error:
        return read.error.reject(source, read.item, "read")
    try:
        conversation = parse_record(read.record)
        first, extra = _images(conversation.images, Path(source).parent, ctx.option("sft"))
    except Rejected as error:
        return error.reject(source, read.item, "read")
    sample = _sample(source, read, conversation, first, extra)
    sample.scratch["question"] = conversation.question  # for the tag stage; never written
    return sample


def _sample(source: str, read: RecordRead, conversation: Conversation, first: LoadedImage | None,
            extra: list[dict]) -> Sample:
    record = read.record
    metadata: dict[str, Any] = {"format": conversation.format, "position": read.item,
                                "images": list(conversation.images)}
    if isinstance(record.get("id"), (str, int)):
        metadata["id"] = record["id"]
    if extra:
        metadata["extra_images"] = extra
    image, fmt, size = first if first else (None, None, None)
    return Sample(make_key("sft", source, read.position), "sft", json.dumps(record, ensure_ascii=False),
                  "conversation", Provenance(source, checksum(read.record_bytes())), image=image,
                  image_format=fmt, image_size=size, metadata=metadata)


def read(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    records = 0
    for record in read_records(part):
        records += 1
        yield record_outcome(part.path, record, ctx)
    if records == 0 and part.end is None:
        yield _empty_file(part.path)


def _empty_file(path: str) -> Outcome:
    if path.lower().endswith(".jsonl"):  # item "0": the offset of the missing first line
        return Rejected("empty_file", "the file holds no JSON lines").reject(path, "0", "read")
    return Rejected("empty_file", "the JSON array is empty").reject(path, "file", "read")


@functools.cache
def worker_tagger(model_dir: str, main_threshold: float | None, top_k: int):
    """One Tagger per worker process and settings (models load in ~10 ms, but not per item)."""
    from vlforge.taxonomy.prompt_tagger import Tagger
    return Tagger.load(model_dir or None, main_threshold=main_threshold, top_k=top_k)


def tag(samples: list[Sample], ctx: TaskContext) -> list[Outcome]:
    """Adds metadata `taxonomy`: the tag of each sample's question, tagged as one batch."""
    opts = ctx.option("sft")
    threshold = opts["main_threshold"]
    tagger = worker_tagger(opts["model_dir"], None if threshold in (None, "") else float(threshold), int(opts["top_k"]))
    for sample, taxonomy in zip(samples, tagger.tag_texts([s.scratch["question"] for s in samples]), strict=True):
        sample.metadata["taxonomy"] = taxonomy
    return samples


def check_first_image(sample: Sample, ctx: TaskContext) -> Outcome:
    if sample.image is None:  # text-only SFT records are kept as they are
        return sample
    return check_image(sample, ctx.option("filters.images"), "image")


def store_as_png(sample: Sample, ctx: TaskContext) -> Sample:
    """The first image as PNG, so the corpus has one image member (png): JPEG and WebP are
    re-encoded losslessly from their decoded pixels, transparency shown on white."""
    converted = as_png(sample.image) if sample.image is not None else None
    if converted is not None:
        (sample.image, sample.metadata["stored_from"]), sample.image_format = converted, "png"
    return sample


CORPUS = Corpus(
    name="sft",
    description="SFT records (LLaVA, DeepSeek-VL, ms-swift; JSON/JSONL) -> taxonomy-tagged conversation samples",
    read=read,
    stages=(batched(tag, "tag", "sft.batch"), per_sample(check_first_image, "image"),
            per_sample(store_as_png, "png")),
    defaults=DEFAULTS,
    suffixes=(".json", ".jsonl"),
    splittable_suffixes=(".jsonl",),
)
