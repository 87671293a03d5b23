"""Image + caption input layouts -> one `CaptionItem` per image (pipelines.captions).

Each layout function yields items in the file's order; an item that cannot be a pair
carries the Rejected that says why (`error`), so the reader writes one ledger row for it.
What each layout is, and which options name its folders and columns: pipelines.captions.

Read-time reasons: invalid_json, unknown_layout, invalid_record, missing_image,
image_too_large, missing_caption, unknown_class, corrupt_image (bytes of no image format),
unsupported_image_format (a GIF, a BMP, ...).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlforge.contract import Part
from vlforge.documents.lines import iter_lines
from vlforge.errors import Rejected
from vlforge.shards.reader import iter_samples, sample_image, sample_metadata, sample_text

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"))
_OTHER_IMAGE_MAGIC = (b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"\x00\x00\x01\x00")


@dataclass
class CaptionItem:
    position: str  # where in the input: a record index, an image id, a member key
    caption: str = ""
    image: bytes | None = None
    image_format: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    key: str | None = None  # a key to keep (shards this corpus wrote), else made from position
    error: Rejected | None = None


def image_format_of(data: bytes) -> str:
    """png, jpeg or webp from the leading bytes; Rejected for anything else."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(_OTHER_IMAGE_MAGIC):
        raise Rejected("unsupported_image_format", f"image data starts with {data[:8]!r}")
    raise Rejected("corrupt_image", f"{len(data)} bytes of no image format (start {data[:8]!r})")


def with_image(item: CaptionItem, data: bytes) -> CaptionItem:
    try:
        item.image_format = image_format_of(data)
        item.image = data
    except Rejected as error:
        item.error = error
    return item


def load_image_file(item: CaptionItem, path: Path, max_bytes: int) -> CaptionItem:
    """The item with the image at `path`, or with the reason it has none."""
    if not path.is_file():
        item.error = Rejected("missing_image", f"no image file {path}")
    elif path.stat().st_size > max_bytes:
        item.error = Rejected("image_too_large", f"{path.stat().st_size} bytes > max_image_bytes={max_bytes}")
    else:
        with_image(item, path.read_bytes())
    return item


# --------------------------------------------------------------------------------------
# Annotation files: LLaVA/ShareGPT4V (.json list, .jsonl) and COCO captions (.json)
# --------------------------------------------------------------------------------------


def llava_item(position: str, record: Any, image_root: Path, max_bytes: int) -> CaptionItem:
    """One LLaVA record: the image, the first reply as the caption, the human turn as the
    question (without its <image> placeholder)."""
    item = CaptionItem(position, metadata={"layout": "llava"})
    turns = record.get("conversations") if isinstance(record, dict) else None
    if not isinstance(turns, list) or not isinstance(record.get("image"), str):
        item.error = Rejected("invalid_record", "a LLaVA record needs 'image' (a path) and 'conversations' (a list)")
        return item
    replies = [t.get("value") for t in turns if isinstance(t, dict) and t.get("from") in ("gpt", "assistant")]
    questions = [t.get("value") for t in turns if isinstance(t, dict) and t.get("from") in ("human", "user")]
    if not replies or not isinstance(replies[0], str):
        item.error = Rejected("missing_caption", "the record has no reply to use as the caption")
        return item
    item.caption = replies[0]
    item.metadata.update(id=str(record.get("id", "")), image_path=record["image"],
                         question=(questions[0] if questions and isinstance(questions[0], str) else "")
                         .replace("<image>", "").strip())
    return load_image_file(item, image_root / record["image"], max_bytes)


def coco_items(data: dict, image_root: Path, max_bytes: int) -> Iterator[CaptionItem]:
    """One item per image of a COCO captions file, in image id order."""
    captions: dict[Any, list[tuple[Any, str]]] = {}
    for annotation in data["annotations"]:
        if isinstance(annotation, dict) and isinstance(annotation.get("caption"), str):
            captions.setdefault(annotation.get("image_id"), []).append((annotation.get("id", 0), annotation["caption"]))
    images = [image for image in data["images"] if isinstance(image, dict) and "id" in image]
    for image in sorted(images, key=lambda image: str(image["id"])):
        item = CaptionItem(f"image={image['id']}", metadata={"layout": "coco", "id": str(image["id"])})
        texts = [text for _, text in sorted(captions.get(image["id"], []), key=lambda pair: str(pair[0]))]
        if not texts:
            item.error = Rejected("missing_caption", f"no annotation for image id {image['id']}")
        elif not isinstance(image.get("file_name"), str):
            item.error = Rejected("invalid_record", f"image id {image['id']} has no file_name")
        else:
            item.caption = texts[0]
            item.metadata.update(captions=texts, image_path=image["file_name"])
            load_image_file(item, image_root / image["file_name"], max_bytes)
        yield item


def annotation_json_items(path: str, image_root: Path, max_bytes: int) -> Iterator[CaptionItem]:
    try:
        data = json.loads(Path(path).read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        yield CaptionItem("file", error=Rejected("invalid_json", f"{type(exc).__name__}: {exc}"))
        return
    if isinstance(data, list):
        for index, record in enumerate(data):
            yield llava_item(f"record={index}", record, image_root, max_bytes)
    elif isinstance(data, dict) and isinstance(data.get("images"), list) and isinstance(data.get("annotations"), list):
        yield from coco_items(data, image_root, max_bytes)
    else:
        yield CaptionItem("file", error=Rejected(
            "unknown_layout", "the JSON is neither a LLaVA record list nor COCO captions (images + annotations)"))


def llava_jsonl_items(part: Part, image_root: Path, max_bytes: int) -> Iterator[CaptionItem]:
    for offset, line in iter_lines(part):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            yield CaptionItem(f"offset={offset}", error=Rejected("invalid_json", f"{type(exc).__name__}: {exc}"))
            continue
        yield llava_item(f"offset={offset}", record, image_root, max_bytes)


# --------------------------------------------------------------------------------------
# img2dataset output: WebDataset shards and parquet with image bytes
# --------------------------------------------------------------------------------------


def _img2dataset_metadata(member_json: dict) -> dict:
    kept = {name: member_json[name] for name in ("url", "key") if isinstance(member_json.get(name), str)}
    return {"layout": "webdataset", **kept}


def shard_items(path: str, corpus: str) -> Iterator[CaptionItem]:
    """Samples of a WebDataset shard: img2dataset's (KEY.jpg, KEY.txt, KEY.json) or one this
    corpus wrote (key and metadata kept, so a VQ job over it changes nothing else)."""
    for sample in iter_samples(path):
        item = CaptionItem(f"member={sample['__key__']}")
        record = sample_metadata(sample)
        text, image = sample_text(sample), sample_image(sample)
        ours = record.get("corpus") == corpus and "metadata" in record
        item.metadata = json.loads(record["metadata"]) if ours else _img2dataset_metadata(record)
        item.key = sample["__key__"] if ours else None
        if image is None:
            item.error = Rejected("missing_image", "the sample has no jpg/png/webp member")
        elif text is None:
            item.error = Rejected("missing_caption", "the sample has no txt member")
        else:
            item.caption = text[1]
            with_image(item, image[1])
        yield item


def _cell_bytes(value: Any) -> bytes | None:
    """Image bytes from a parquet cell: raw bytes, or Hugging Face's {"bytes": ..., "path"}."""
    if isinstance(value, dict):
        value = value.get("bytes")
    return value if isinstance(value, bytes) else None


def parquet_items(path: str, columns: dict) -> Iterator[CaptionItem]:
    """Rows of an img2dataset (or Hugging Face) parquet file holding the image bytes."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    image_column = next((c for c in columns["image_columns"] if c in names), None)
    caption_column = next((c for c in columns["caption_columns"] if c in names), None)
    if image_column is None or caption_column is None:
        yield CaptionItem("file", error=Rejected(
            "unknown_layout", f"no image column of {columns['image_columns']} or caption column of "
                              f"{columns['caption_columns']}; columns: {names[:20]}"))
        return
    wanted = [c for c in names if c in (image_column, caption_column, "url", "key")]
    rows = (row for batch in parquet.iter_batches(batch_size=64, columns=wanted) for row in batch.to_pylist())
    for index, row in enumerate(rows):
        item = CaptionItem(f"row={index}", metadata={
            "layout": "parquet", **{n: row[n] for n in ("url", "key") if isinstance(row.get(n), str)}})
        data, caption = _cell_bytes(row[image_column]), row[caption_column]
        if data is None:
            item.error = Rejected("missing_image", f"row {index} has no bytes in {image_column!r}")
        elif not isinstance(caption, str):
            item.error = Rejected("missing_caption", f"row {index} has no text in {caption_column!r}")
        else:
            item.caption = caption
            with_image(item, data)
        yield item


# --------------------------------------------------------------------------------------
# Folders: images with same-named .txt captions; class folders with a class map
# --------------------------------------------------------------------------------------


def caption_file_of(image_path: Path) -> Path:
    return image_path.with_suffix(".txt")


def image_of_caption_file(text_path: Path) -> Path | None:
    """The image a `.txt` caption belongs to, when there is one beside it."""
    return next((text_path.with_suffix(s) for s in (*IMAGE_SUFFIXES, *(s.upper() for s in IMAGE_SUFFIXES))
                 if text_path.with_suffix(s).is_file()), None)


def caption_folder_item(path: str, max_bytes: int) -> CaptionItem:
    image_path = Path(path)
    item = CaptionItem("image", metadata={"layout": "caption_folder"})
    text_path = caption_file_of(image_path)
    if not text_path.is_file():
        item.error = Rejected("missing_caption", f"no {text_path.name} beside the image")
        return item
    item.caption = text_path.read_bytes().decode("utf-8", errors="replace")
    return load_image_file(item, image_path, max_bytes)


@dataclass(frozen=True)
class ClassEntry:
    index: int
    class_id: str  # the folder name (a WordNet id for ImageNet)
    names: tuple[str, ...]  # synonyms, the first is the class name


def _entries_from_json(data: Any) -> list[ClassEntry]:
    if isinstance(data, dict) and all(isinstance(v, list) and len(v) == 2 for v in data.values()):
        # Keras' imagenet_class_index.json: {"0": ["n01440764", "tench"], ...}
        return [ClassEntry(int(index), str(wnid), _synonyms(name)) for index, (wnid, name) in data.items()]
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        return [ClassEntry(i, str(cid), _synonyms(name)) for i, (cid, name) in enumerate(sorted(data.items()))]
    raise Rejected("unknown_layout", "a JSON class map is {index: [folder, name]} or {folder: name}")


def _synonyms(names: str) -> tuple[str, ...]:
    return tuple(n.strip().replace("_", " ") for n in names.split(",") if n.strip())


def read_class_map(path: str | os.PathLike) -> dict[str, ClassEntry]:
    """folder name (and class index) -> its entry. Formats: Keras imagenet_class_index.json,
    {"folder": "name"} JSON, or LOC_synset_mapping.txt lines "n01440764 tench, Tinca tinca"
    (the line number is the class index)."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() == ".json":
        entries = _entries_from_json(json.loads(text))
    else:
        lines = [line.split(None, 1) for line in text.splitlines() if line.strip()]
        entries = [ClassEntry(i, parts[0], _synonyms(parts[1] if len(parts) > 1 else parts[0]))
                   for i, parts in enumerate(lines)]
    by_name = {entry.class_id: entry for entry in entries}
    by_name.update({str(entry.index): entry for entry in entries if str(entry.index) not in by_name})
    return by_name


def class_folder_item(path: str, classes: dict[str, ClassEntry], max_bytes: int) -> CaptionItem:
    image_path = Path(path)
    item = CaptionItem("image", metadata={"layout": "class_folder"})
    entry = classes.get(image_path.parent.name)
    if entry is None:
        item.error = Rejected("unknown_class", f"folder {image_path.parent.name!r} is not in the class map")
        return item
    item.caption = entry.names[0]
    item.metadata.update(class_index=entry.index, class_id=entry.class_id, class_names=list(entry.names))
    return load_image_file(item, image_path, max_bytes)
