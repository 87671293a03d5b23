"""`vlforge inspect`: what is in a shard, a directory of shards, or a job's output.

Everything here reads the tar files themselves (not our parquet index), so it also checks
shards that were copied around without their index.
"""

from __future__ import annotations

import io
import json
import statistics
import tarfile
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont

from vlforge.errors import VlforgeError
from vlforge.images import to_rgb
from vlforge.schemas import METADATA_MEMBER, SCHEMA_VERSION
from vlforge.shards.reader import (
    IMAGE_MEMBERS,
    TEXT_MEMBERS,
    find_shards,
    iter_samples,
    sample_image,
    sample_metadata,
    sample_text,
)

IMAGE_EXTS = set(IMAGE_MEMBERS)
TEXT_EXTS = set(TEXT_MEMBERS)
CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


def _shards_or_fail(path: str) -> list[Path]:
    shards = find_shards(path)
    if not shards:
        raise VlforgeError(f"{path}: no .tar shards found")
    return shards


def image_size(meta: dict) -> tuple[int, int] | None:
    """(width, height) from a KEY.json of either schema version, None without an image."""
    if meta.get("schema_version", SCHEMA_VERSION) >= 2:
        return (meta["image_width"], meta["image_height"]) if meta.get("image_format") else None
    image = meta.get("image")
    return (image.get("width") or 0, image.get("height") or 0) if image else None


def distribution(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"count": len(values), "min": ordered[0], "p50": pick(0.5), "p90": pick(0.9),
            "max": ordered[-1], "mean": round(statistics.fmean(values), 1)}


def summarize(path: str) -> dict:
    """Counts per corpus, bytes, and distributions of text length and image size."""
    shards = _shards_or_fail(path)
    per_corpus: Counter = Counter()
    text_chars: list[int] = []
    widths: list[int] = []
    heights: list[int] = []
    for shard in shards:
        for sample in iter_samples(shard):
            meta = sample_metadata(sample)
            per_corpus[meta.get("corpus", "?")] += 1
            text_chars.append(meta.get("text_chars", 0))
            if size := image_size(meta):
                widths.append(size[0])
                heights.append(size[1])
    return {
        "shards": len(shards),
        "bytes": sum(s.stat().st_size for s in shards),
        "samples": sum(per_corpus.values()),
        "per_corpus": dict(sorted(per_corpus.items())),
        "text_chars": distribution(text_chars),
        "image_width": distribution(widths),
        "image_height": distribution(heights),
        "rejected": rejects_by_reason(path),
    }


def rejects_by_reason(path: str) -> dict[str, int] | None:
    """"stage/reason" -> count from a job's reject ledger (None when `path` is not a job's
    output directory): what was dropped belongs in the picture as much as what was kept."""
    ledger = Path(path) / "rejects.parquet"
    if not ledger.is_file():
        return None
    rows = pq.read_table(ledger, columns=["stage", "reason"]).to_pylist()
    return dict(sorted(Counter(f"{r['stage']}/{r['reason']}" for r in rows).items()))


def format_summary(summary: dict) -> str:
    lines = [f"shards   {summary['shards']}  ({summary['bytes']:,} bytes)",
             f"samples  {summary['samples']}"]
    lines += [f"  {corpus:<12} {count}" for corpus, count in summary["per_corpus"].items()]
    for name in ("text_chars", "image_width", "image_height"):
        d = summary[name]
        if d["count"]:
            lines.append(f"{name:<13} n={d['count']} min={d['min']} p50={d['p50']} p90={d['p90']} "
                         f"max={d['max']} mean={d['mean']}")
        else:
            lines.append(f"{name:<13} none")
    if summary["rejected"] is not None:
        lines.append(f"rejected {sum(summary['rejected'].values())}  (stage/reason, from rejects.parquet)")
        lines += [f"  {name:<40} {count}" for name, count in summary["rejected"].items()]
    return "\n".join(lines)


def find_sample(path: str, key: str) -> dict:
    for shard in _shards_or_fail(path):
        for sample in iter_samples(shard):
            if sample["__key__"] == key:
                return sample
    raise VlforgeError(f"no sample with key {key!r} under {path}")


def show(path: str, key: str, image_dir: str = ".") -> tuple[str, str | None]:
    """(printable metadata + text, path of the image written or None)."""
    sample = find_sample(path, key)
    meta = sample_metadata(sample)
    text = sample_text(sample)
    body = text[1] if text else ""
    image_path = None
    image = sample_image(sample)
    if image:
        Path(image_dir).mkdir(parents=True, exist_ok=True)
        image_path = str(Path(image_dir) / f"{key}.{image[0]}")
        Path(image_path).write_bytes(image[1])
    shown = f"shard: {sample['__shard__']}\n{json.dumps(meta, indent=2, ensure_ascii=False)}\n--- text ---\n{body}"
    return shown, image_path


@dataclass(frozen=True)
class LintProblem:
    shard: str
    key: str
    member: str
    problem: str

    def __str__(self) -> str:
        return f"{self.shard}: {self.key}.{self.member}: {self.problem}"


def _member_problem(ext: str, payload: bytes) -> str | None:
    try:
        if ext == METADATA_MEMBER or ext.endswith(".json"):
            json.loads(payload)
        elif ext in TEXT_EXTS:
            payload.decode("utf-8")
        elif ext in IMAGE_EXTS:
            with Image.open(io.BytesIO(payload)) as img:
                img.load()
        else:
            return f"unknown member extension {ext!r}"
    except Exception as exc:
        return f"does not decode: {type(exc).__name__}: {exc}"
    return None


def _sample_problems(sample: dict) -> list[tuple[str, str]]:
    problems = [(ext, p) for ext, payload in sample.items() if not ext.startswith("__")
                if (p := _member_problem(ext, payload))]
    if "json" not in sample:
        problems.append(("json", "missing metadata member"))
    elif not any(ext == "json" for ext, _ in problems):
        meta = json.loads(sample["json"])
        if meta.get("key") != sample["__key__"].rsplit("/", 1)[-1]:
            problems.append(("json", f"metadata key {meta.get('key')!r} differs from the member key"))
        if meta.get("schema_version") != SCHEMA_VERSION:
            problems.append(("json", f"schema_version {meta.get('schema_version')!r}, expected {SCHEMA_VERSION}"))
    if not TEXT_EXTS & sample.keys():
        problems.append(("txt", "missing text member"))
    return problems


def lint(path: str) -> tuple[int, list[LintProblem]]:
    """(samples checked, problems): every member of every sample decoded."""
    checked = 0
    problems: list[LintProblem] = []
    for shard in _shards_or_fail(path):
        try:
            for sample in iter_samples(shard):
                checked += 1
                problems += [LintProblem(str(shard), sample["__key__"], member, problem)
                             for member, problem in _sample_problems(sample)]
        except (tarfile.TarError, OSError, EOFError) as exc:
            problems.append(LintProblem(str(shard), "-", "tar", f"unreadable shard: {exc}"))
    return checked, problems


def _font(size: int) -> ImageFont.ImageFont:
    for candidate in CJK_FONT_PATHS:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


def _tile(sample: dict, tile: int, text_lines: int, font) -> Image.Image:
    line_height = font.size + 4
    canvas = Image.new("RGB", (tile, tile + text_lines * line_height + 8), "white")
    image = sample_image(sample)
    if image:
        with Image.open(io.BytesIO(image[1])) as img:
            thumb = to_rgb(img)
            thumb.thumbnail((tile, tile))
            canvas.paste(thumb, ((tile - thumb.width) // 2, (tile - thumb.height) // 2))
    text = sample_text(sample)
    words = text[1] if text else ""
    width_chars = max(8, tile // max(1, font.size // 2 + 1))
    lines = textwrap.wrap(" ".join(words.split()), width_chars)[: (text_lines if image else text_lines + tile // line_height)]
    top = tile + 4 if image else 4
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((4, top + i * line_height), line, fill="black", font=font)
    draw.rectangle([0, 0, canvas.width - 1, canvas.height - 1], outline="#999999")
    return canvas


def grid(path: str, out_png: str, n: int = 16, columns: int = 4, tile: int = 256, text_lines: int = 4) -> int:
    """Draws a contact sheet of the first n samples; returns how many it drew."""
    font = _font(12)
    tiles = []
    for shard in _shards_or_fail(path):
        for sample in iter_samples(shard):
            tiles.append(_tile(sample, tile, text_lines, font))
            if len(tiles) >= n:
                break
        if len(tiles) >= n:
            break
    columns = max(1, min(columns, len(tiles)))
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * tiles[0].width, rows * tiles[0].height), "#dddddd")
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % columns) * t.width, (i // columns) * t.height))
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_png)
    return len(tiles)

