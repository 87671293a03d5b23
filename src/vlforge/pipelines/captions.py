"""Image + caption pairs (DeepSeek-VL stage 1, every Janus stage), optionally VQ-tokenized.

    vlforge run captions INPUTS -o OUT [--set captions.image_root=DIR] [--set vq.model=VQ_DIR]

Input layouts (documents.captions parses them; one item = one image):
    LLaVA / ShareGPT4V   `.json` (a list) or `.jsonl` of {"id", "image", "conversations"}:
                         the image path is relative to `captions.image_root` (default: the
                         annotation file's folder); the caption is the first reply ("gpt").
    COCO captions        `.json` with "images" and "annotations": one item per image, the text
                         is its first caption (lowest annotation id), all of them in metadata.
    img2dataset          `.tar` WebDataset shards (KEY.jpg/png/webp + KEY.txt + KEY.json) and
                         `.parquet` with image bytes (`captions.parquet.*` name the columns).
                         Shards this corpus wrote are read back with their keys and metadata:
                         that is the "VQ-tokenize existing shards" job.
    caption folders      image files with a same-named `.txt` beside them.
    class folders        `ROOT/<class>/<image>` with `captions.classes=MAP` (Keras
                         imagenet_class_index.json, {"wnid": "name"} JSON, or LOC_synset_mapping
                         lines): the text is the class name (Janus's `<category_name><image>`).
Give annotation files (not their image folders) as inputs for the first two layouts.

The shard layout (schema v2, shards/writer; the trainer reads exactly this):
    KEY.png    the image, as a viewer shows it, always PNG (JPEG/WebP inputs are decoded and
               stored losslessly), its original size (no resizing here)
    KEY.txt    the caption, or the class name (text_kind "plain")
    KEY.json   the common record; its "metadata" (a JSON string) holds:
        kind            "caption" | "class_name"
        uses            what the pair serves: ["understanding", "generation"] for captions
                        (caption as the answer to the image, and as the prompt for the image),
                        ["generation"] for class names
        first_sentence  the caption's first sentence (Janus keeps only it for 25% of the
                        generation prompts); the class name for class images
        layout          llava | coco | webdataset | parquet | caption_folder | class_folder
        image_sha256, image_phash, image_dedup   exact and perceptual digests (filters.phash)
        language        {"code", "score"} when captions.languages is set
        class_index, class_id, class_names       class folders only
        captions, question, id, url              what the layout had (COCO's other captions,
                                                 LLaVA's human turn and id, img2dataset's url)
        vq              only when the VQ stage ran:
                        {"ids": [576 ints, row-major over the 24x24 grid],
                         "grid": [24, 24], "codebook_size": N, "model": folder name,
                         "size": 384, "view": "short_side_resize_center_crop"}
    The ids live in the metadata JSON, so webdataset, Hugging Face `datasets`
    (load_dataset("webdataset")) and plain tarfile readers all get them with no extra member:
    `json.loads(record["metadata"])["vq"]["ids"]`.
"""

from __future__ import annotations

import functools
import importlib.metadata
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from vlforge.config import opt
from vlforge.contract import Corpus, JobDedup, Outcome, Part, TaskContext, batched, per_sample
from vlforge.documents.captions import (
    IMAGE_SUFFIXES,
    CaptionItem,
    annotation_json_items,
    caption_folder_item,
    class_folder_item,
    image_of_caption_file,
    llava_jsonl_items,
    parquet_items,
    read_class_map,
    shard_items,
)
from vlforge.errors import Rejected, VlforgeError, exception_detail
from vlforge.filters.images import DEFAULTS as IMAGE_DEFAULTS
from vlforge.filters.images import image_filter
from vlforge.filters.phash import DEFAULTS as PHASH_DEFAULTS
from vlforge.filters.phash import DedupIndex, near_dedup
from vlforge.images import as_png
from vlforge.schemas import Provenance, Sample, checksum, make_key, source_digest
from vlforge.vq import VIEW_NAME, VQTokenizer, checkpoint_kind, load_vq

CORPUS_NAME = "captions"

DEFAULTS: dict[str, Any] = {
    # Image files are inputs of their own (caption and class folders): many to a task.
    "tasks": {
        "target_bytes": opt(256 * 1024 * 1024, "input bytes per task; larger JSONL files are split into ranges of this size"),
        "max_files": opt(1024, "input files per task at most"),
    },
    "captions": {
        "image_root": opt("", "folder the image paths of LLaVA/COCO annotation files are relative to; "
                              "empty: the annotation file's folder"),
        "classes": opt("", "class map (imagenet_class_index.json, {folder: name} JSON or LOC_synset_mapping.txt); "
                           "set: image inputs are class-folder images named by their folder's class"),
        "max_image_bytes": opt(32 * 1024 * 1024, "image file bytes beyond which an item is image_too_large"),
        "parquet": {
            "image_columns": opt(["jpg", "png", "webp", "image"], "parquet: image bytes columns, the first present is used"),
            "caption_columns": opt(["txt", "caption", "text"], "parquet: caption columns, the first present is used"),
        },
        "min_chars": opt(1, "captions shorter than this (after stripping) -> caption_too_short (empty: empty_caption)"),
        "max_chars": opt(4000, "captions longer than this -> caption_too_long"),
        "max_aspect_ratio": opt(4.0, "long side / short side above which an image is extreme_aspect_ratio"),
        "languages": opt([], "caption languages kept (ISO 639-1, py3langid); empty: any. Others -> caption_language"),
        "language_min_chars": opt(20, "captions shorter than this are not judged by language (too short to tell)"),
        "images": {**IMAGE_DEFAULTS,
                   "formats": opt(["png", "jpeg", "webp"], "image formats kept: png, jpeg, webp")},
        "dedup": {**PHASH_DEFAULTS,
                  "across_tasks": opt(True, "also drop duplicates whose first occurrence another task read")},
    },
    "vq": {
        "model": opt("", "local JanusVQVAE (or whole Janus) folder; set: 576 generation-view VQ ids per image"),
        "batch_size": opt(16, "images per VQ encoder batch"),
        "device": opt("", "torch device; empty: cuda when there is one, else cpu"),
        "dtype": opt("float32", "torch dtype of the VQ encoder (float32 keeps the ids of a float32 run)"),
    },
}

_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[。！？]")


def first_sentence(text: str) -> str:
    """The caption up to its first sentence end (Janus keeps only it for 25% of prompts)."""
    found = _SENTENCE_END.search(text)
    return text[: found.end()].strip() if found else text.strip()


# --------------------------------------------------------------------------------------
# Reading: every layout's items -> Samples (image in its own format) or read Rejects
# --------------------------------------------------------------------------------------


def _items(part: Part, ctx: TaskContext) -> Iterator[CaptionItem]:
    opts = ctx.option("captions")
    path, suffix = part.path, Path(part.path).suffix.lower()
    root = Path(opts["image_root"]) if opts["image_root"] else Path(path).parent
    if _is_class_map(path, opts):
        return  # the class map given among the inputs is no item
    if suffix == ".json":
        yield from annotation_json_items(path, root, opts["max_image_bytes"])
    elif suffix == ".jsonl":
        yield from llava_jsonl_items(part, root, opts["max_image_bytes"])
    elif suffix == ".tar":
        yield from shard_items(path, CORPUS_NAME)
    elif suffix == ".parquet":
        yield from parquet_items(path, opts["parquet"])
    elif suffix in IMAGE_SUFFIXES and opts["classes"]:
        yield class_folder_item(path, _class_map(opts["classes"]), opts["max_image_bytes"])
    elif suffix in IMAGE_SUFFIXES:
        yield caption_folder_item(path, opts["max_image_bytes"])
    elif suffix == ".txt" and image_of_caption_file(Path(path)) is None:
        yield CaptionItem("file", error=Rejected("missing_image", "a .txt caption with no image of the same name"))
    # else: a caption file, read with its image: no item of its own


def _is_class_map(path: str, opts: dict) -> bool:
    return bool(opts["classes"]) and Path(path).resolve() == Path(opts["classes"]).resolve()


@functools.lru_cache(maxsize=2)
def _class_map(path: str):
    return read_class_map(path)


def _kind_metadata(item: CaptionItem) -> dict:
    if item.metadata.get("layout") == "class_folder" or item.metadata.get("kind") == "class_name":
        return {"kind": "class_name", "uses": ["generation"], "first_sentence": item.caption.strip()}
    return {"kind": "caption", "uses": ["understanding", "generation"], "first_sentence": first_sentence(item.caption)}


def _key_part(position: str) -> str:
    """"record=12" -> "record12"; a position with other characters (an img2dataset member
    key) -> a digest of it, so keys keep to letters, digits, '_' and '-'."""
    part = position.replace("=", "")
    return part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else source_digest(position)


def item_outcome(part: Part, item: CaptionItem) -> Outcome:
    if item.error is not None:
        return item.error.reject(part.path, item.position, "read")
    key = item.key or make_key(CORPUS_NAME, part.path, _key_part(item.position))
    metadata = {**item.metadata, **_kind_metadata(item)}
    return Sample(key, CORPUS_NAME, item.caption.strip(), "plain", Provenance(part.path, checksum(item.image)),
                  image=item.image, image_format=item.image_format, metadata=metadata)


def read(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    for item in _items(part, ctx):
        yield item_outcome(part, item)


# --------------------------------------------------------------------------------------
# Filters on the pair
# --------------------------------------------------------------------------------------


def check_aspect_ratio(sample: Sample, ctx: TaskContext) -> Sample:
    width, height = sample.image_size
    ratio, limit = max(width, height) / min(width, height), ctx.option("captions.max_aspect_ratio")
    if ratio > limit:
        raise Rejected("extreme_aspect_ratio", f"{width}x{height}: {ratio:.2f} > max_aspect_ratio={limit}")
    return sample


def check_caption(sample: Sample, ctx: TaskContext) -> Sample:
    chars, opts = len(sample.text), ctx.option("captions")
    if chars == 0:
        raise Rejected("empty_caption", "the caption is empty or only whitespace")
    if chars < opts["min_chars"]:
        raise Rejected("caption_too_short", f"{chars} characters < min_chars={opts['min_chars']}")
    if chars > opts["max_chars"]:
        raise Rejected("caption_too_long", f"{chars} characters > max_chars={opts['max_chars']}")
    return sample


def check_language(sample: Sample, ctx: TaskContext) -> Sample:
    opts = ctx.option("captions")
    if not opts["languages"] or len(sample.text) < opts["language_min_chars"]:
        return sample
    import py3langid

    code, score = py3langid.classify(sample.text)
    sample.metadata["language"] = {"code": code, "score": round(float(score), 3)}
    if code not in opts["languages"]:
        raise Rejected("caption_language", f"the caption reads as {code!r}, not one of {opts['languages']}")
    return sample


def flatten_image(sample: Sample, ctx: TaskContext) -> Sample:
    """Every image as PNG, as a viewer shows it (transparency on white): one image member."""
    converted = as_png(sample.image)
    if converted is not None:
        (sample.image, sample.metadata["flattened_from"]), sample.image_format = converted, "png"
    return sample


# --------------------------------------------------------------------------------------
# VQ tokenization: the generation view of each image -> 576 ids (vlforge.vq)
# --------------------------------------------------------------------------------------


def tokenize(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
    opts = ctx.option("vq")
    if not opts["model"]:
        yield from outcomes
        return
    stage = batched(functools.partial(_tokenize_batch, opts), "vq", opts["batch_size"])
    yield from stage(_loading_tokenizer(outcomes, opts), ctx)


def _tokenizer(opts: dict) -> VQTokenizer:
    return load_vq(opts["model"], opts["device"], opts["dtype"])


def _loading_tokenizer(outcomes: Iterator[Outcome], opts: dict) -> Iterator[Outcome]:
    """The stream as it is; loads the model as the first sample goes by, outside the batches'
    error handling: a model that does not load fails the task, not its samples."""
    loaded = False
    for outcome in outcomes:
        if not loaded and isinstance(outcome, Sample):
            _tokenizer(opts)
            loaded = True
        yield outcome


def _tokenize_batch(opts: dict, samples: list[Sample], ctx: TaskContext) -> list[Outcome]:
    tokenizer = _tokenizer(opts)
    try:
        ids = tokenizer.encode([Image.open(io.BytesIO(s.image)) for s in samples])
    except Exception as exc:  # one bad batch (out of memory) must not fail the task
        error = Rejected("vq_error", exception_detail(exc))
        return [error.reject(s.provenance.source, s.key, "vq") for s in samples]
    record = {"grid": list(tokenizer.grid), "codebook_size": tokenizer.codebook_size, "model": tokenizer.name,
              "size": tokenizer.size, "view": VIEW_NAME}
    for sample, row in zip(samples, ids, strict=True):
        sample.metadata["vq"] = {**record, "ids": row.tolist()}
        sample.provenance.tools.update(_vq_tools(tokenizer.name))
    return samples


@functools.lru_cache(maxsize=4)
def _vq_tools(model_name: str) -> dict[str, str]:
    return {"vq_model": model_name, "transformers": importlib.metadata.version("transformers"),
            "torch": importlib.metadata.version("torch")}


def check_options(options: dict) -> None:
    opts = options["captions"]
    if opts["classes"] and not Path(opts["classes"]).is_file():
        raise VlforgeError(f"captions.classes: no class map file {opts['classes']}")
    if opts["image_root"] and not Path(opts["image_root"]).is_dir():
        raise VlforgeError(f"captions.image_root: {opts['image_root']} is not a folder")
    if opts["max_aspect_ratio"] < 1 or opts["min_chars"] > opts["max_chars"]:
        raise VlforgeError("captions.max_aspect_ratio must be >= 1 and min_chars <= max_chars")
    if options["vq"]["model"]:
        checkpoint_kind(options["vq"]["model"])
        if options["vq"]["batch_size"] < 1:
            raise VlforgeError("vq.batch_size must be at least 1")


CORPUS = Corpus(
    name=CORPUS_NAME,
    description="image + caption pairs (LLaVA/COCO/img2dataset/caption and class folders), optional VQ ids",
    read=read,
    stages=(
        image_filter("captions.images", "image"),
        per_sample(check_aspect_ratio, "aspect_ratio"),
        per_sample(check_caption, "caption"),
        per_sample(check_language, "language"),
        per_sample(flatten_image, "flatten"),
        near_dedup("captions.dedup"),
        tokenize,
    ),
    defaults=DEFAULTS,
    suffixes=(".json", ".jsonl", ".tar", ".parquet", ".txt", *IMAGE_SUFFIXES),
    splittable_suffixes=(".jsonl",),
    job_dedup=JobDedup("image_dedup", "duplicate_image", "captions.dedup.across_tasks", index=DedupIndex),
    # The VQ stage holds a model per process: on Ray, actors keep it (engine.actor_gpus each).
    actor_resources={},
    check_options=check_options,
)
