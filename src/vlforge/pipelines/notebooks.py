"""Jupyter notebooks -> (image, code) pairs: DeepSeek-VL's web-code data.

Inputs: `.ipynb` files (nbformat 4, and 3 upgraded to 4), and JSONL or parquet dumps with
the notebook JSON in a column, The Stack style (`content`, plus repository, path and licence
columns that go into provenance). Notebooks are never executed: only stored outputs are used.

What counts as an item (the unit of read = accepted + rejected):
    a candidate output: a `display_data` or `execute_result` output of a code cell whose
    bundle holds one of `notebooks.mimetypes`. A bundle is one item, shown through its first
    listed mimetype (a figure stored as both PNG and SVG is one PNG item). Streams, errors,
    text/plain and LaTeX outputs are not items. A notebook that gives no item at all (it
    does not parse, or has no candidate output) is one item of its own, rejected at read, so
    every input notebook shows up in the stats.

The stream, stage by stage (the formats themselves are parsed by documents.notebook):
    read      one outcome per item. A Sample holds the producing cell's code (earlier cells
              prepended when `notebooks.context` asks for it) and no image yet: its output
              waits in scratch["candidate"]. Read rejects: the notebook (invalid_json,
              invalid_encoding, invalid_notebook, unsupported_nbformat, notebook_too_large,
              no_candidate_outputs) or the output (invalid_output, invalid_cell).
    language          kernel_language, foreign_cell_magic
    outputs_per_cell  multiple_images
    output    the payload, decoded only for the pairs kept so far: PNG/JPEG bytes become the
              image unchanged, SVG/HTML markup waits in scratch["markup"] (invalid_output,
              image_too_large, invalid_base64, corrupt_image, unsupported_image_format,
              svg_too_large, html_too_large, empty_svg, empty_html)
    html_tags html_unwanted_tag
    code      code size limits (filters.code), before the browser sees anything
    render    SVG and HTML -> PNG in hermetic headless Chromium, one browser per worker
              process (rejects: the renderer's reasons; remote_reference for blocked requests)
    image     decodes, size, pixel count, blank (filters.images); sets image_size. Checked
              once per distinct image of the task: a repeat (the same bytes) gets the
              first one's verdict, and flatten reuses the decoded pixels and its result
    flatten   every image as the notebook shows it, stored as PNG: transparent parts on
              `notebooks.images.background` (Jupyter's white; a plain RGB conversion
              would show them black), JPEG re-encoded losslessly, so the corpus has one
              image member (png); opaque PNGs keep their bytes
    dedup     byte-identical images within the task, first occurrence kept (filters.dedup)
Rejects of the candidate stages name the cell and output in their detail, as read's do.

Keys: `notebooks_<digest of the notebook uri>_c<cell:04d>_o<output:02d>`, where the uri is
the file path, or `DUMP#offset=N` (JSONL, byte offset of the row) / `DUMP#row=N` (parquet).
`cell_index` is the position in the notebook's cell list (nbformat 3 worksheets flattened).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from PIL import ImageColor

from vlforge.config import opt
from vlforge.contract import Corpus, JobDedup, Outcome, Part, Stage, TaskContext, per_sample
from vlforge.documents.lines import iter_lines
from vlforge.documents.notebook import (
    Candidate,
    Notebook,
    cell_magic,
    decode_base64,
    dump_record,
    iter_candidates,
    nbformat_version,
    output_text,
    parquet_rows,
    parse_notebook,
    sniff_format,
)
from vlforge.errors import Rejected, VlforgeError
from vlforge.filters.code import DEFAULTS as CODE_DEFAULTS
from vlforge.filters.code import code_filter, line_counts
from vlforge.filters.dedup import DEFAULTS as DEDUP_DEFAULTS
from vlforge.filters.dedup import image_dedup
from vlforge.filters.images import DEFAULTS as IMAGE_DEFAULTS
from vlforge.filters.images import checked_image, checked_size
from vlforge.images import as_png, image_as_png
from vlforge.renderers.browser import BrowserConfig, worker_renderer
from vlforge.schemas import Provenance, Reject, Sample, checksum, make_key

DEFAULTS: dict[str, Any] = {
    # Smaller tasks than the common default: notebooks vary a lot in cost (a table to render
    # costs a browser page), and duplicates across tasks are caught by the job-level pass.
    "tasks": {
        "target_bytes": opt(32 * 1024 * 1024, "input bytes per task; larger JSONL files are split into ranges of this size"),
        "max_files": opt(16, "input files per task at most"),
    },
    "notebooks": {
        "languages": opt(["python"], "kernel languages kept (\"*\": any); other notebooks' outputs -> kernel_language"),
        # Old files often name none.
        "allow_unknown_language": opt(True, "keep notebooks whose metadata names no language"),
        "mimetypes": opt(["image/png", "image/jpeg", "image/svg+xml", "text/html"],
                         "output mimetypes that make a pair, best first; one item per output bundle"),
        # The paper keeps instances with exactly one image.
        "max_per_cell": opt(1, "candidate outputs one code cell may have; a cell with more -> multiple_images"),
        "foreign_cell_magics": opt(["R", "bash", "sh", "script", "perl", "ruby", "octave",
                                    "julia", "matlab", "sql", "javascript", "js"],
                                   "cell magics whose body is another language: their outputs -> foreign_cell_magic"),
        # Size guards, checked before parsing / decoding / rendering.
        "max_notebook_bytes": opt(64 * 1024 * 1024, "notebook bytes beyond which it is notebook_too_large"),
        "max_image_bytes": opt(16 * 1024 * 1024, "decoded PNG/JPEG payload bytes beyond which it is image_too_large"),
        "max_svg_chars": opt(2_000_000, "SVG characters beyond which an output is svg_too_large"),
        "max_html_chars": opt(1_000_000, "HTML characters beyond which an output is html_too_large"),
        # Media players and progress bars make screenshots that say nothing about the code
        # (and a video's frame is not reproducible), frames and plugins cannot render
        # hermetically, and script-driven outputs (bokeh, plotly, widgets) show only their
        # "loading" text with scripts off.
        "html_reject_tags": opt(["script", "video", "audio", "iframe", "object", "embed", "progress"],
                                "HTML outputs holding one of these elements -> html_unwanted_tag"),
        # Code of earlier cells prepended to the producing cell's (off by default): whole
        # code cells, nearest first, up to `cells` cells and `max_lines` lines (all lines
        # of the added cells); 0 means no limit of that kind, both 0 means no context.
        # The code filters (filters.code) count the pair's code, context included.
        "context": {
            "cells": opt(0, "earlier code cells prepended to the pair's code, nearest first (0: no limit)"),
            "max_lines": opt(0, "lines of prepended context at most (0: no limit; both 0: no context)"),
        },
        # JSONL/parquet dumps: the first column present of each list is used.
        "dump": {
            "content_column": opt("content", "JSONL/parquet dumps: the column holding the notebook"),
            "repo_columns": opt(["max_stars_repo_name", "repo_name", "repository", "repo"],
                                "dumps: columns naming the repository, the first present is used"),
            "path_columns": opt(["max_stars_repo_path", "path"],
                                "dumps: columns naming the file's path, the first present is used"),
            "licence_columns": opt(["max_stars_repo_licenses", "licenses", "license", "licence",
                                    "detected_licenses", "license_type"],
                                   "dumps: columns naming the licence, the first present is used"),
        },
        "images": {
            "background": opt("#ffffff", "what transparent parts of a plot are shown on (Jupyter's page is white)"),
            # Off: the shard holds only what a viewer sees.
            "keep_original": opt(False, "keep the stored bytes (before flattening or re-encoding) in "
                                        "metadata original_image (base64)"),
        },
        # SVG/HTML rendering (scripts are always off, every non-file:/data: request blocked).
        "render": {
            "viewport_width": opt(1024, "CSS px; HTML wraps at this width, tables may be wider"),
            "viewport_height": opt(768, "CSS px of the browser viewport's height"),
            "device_scale_factor": opt(1.0, "device pixels per CSS pixel of the screenshots"),
            "timeout_s": opt(20.0, "seconds per item, then the browser is restarted and it is retried once"),
            "svg_max_side": opt(2048, "larger SVGs are scaled down to fit this side, in pixels"),
            "reject_blocked": opt(True, "HTML that asked for a remote file -> remote_reference"),
        },
    },
    "filters": {"code": CODE_DEFAULTS, "images": IMAGE_DEFAULTS, "dedup": DEDUP_DEFAULTS},
}


STORED_FORMATS = {"image/png": "png", "image/jpeg": "jpeg"}
RENDERED_KINDS = {"image/svg+xml": "svg", "text/html": "html"}
# The renderer's reason for a blocked request -> ours (the same for SVG and HTML).
_RENDER_REASONS = {"remote_request_blocked": "remote_reference", "local_file_blocked": "local_reference"}


# --------------------------------------------------------------------------------------
# Read: notebooks -> one Sample per candidate output, its payload not yet decoded
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Where a notebook came from."""

    uri: str  # unique: the file path, or DUMP#offset=N / DUMP#row=N; keys derive from it
    source: str  # provenance.source: the path, or repository/path from a dump row
    checksum: str  # sha256 of the notebook's bytes
    position: str = "notebook"  # the reject ledger's `item` for notebook-level rejects
    licence: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()  # more metadata for every pair (dump columns)

    def reject(self, error: Rejected) -> Reject:
        """A notebook-level reject, under the uri: a dump row must be found by its position."""
        return error.reject(self.uri, self.position, "read")


def with_context(source: str, history: list[tuple[int, str]], opts: dict) -> tuple[str, dict]:
    """The pair's code (earlier cells, a blank line, then the cell) and what was added."""
    max_cells, max_lines = opts["cells"], opts["max_lines"]
    chosen: list[tuple[int, str]] = []
    lines = 0
    for index, earlier in reversed(history if (max_cells or max_lines) else []):
        n = line_counts(earlier)["all"]
        if (max_cells and len(chosen) >= max_cells) or (max_lines and lines + n > max_lines):
            break
        chosen.insert(0, (index, earlier))
        lines += n
    code = "".join(earlier.rstrip("\n") + "\n\n" for _, earlier in chosen) + source
    return code, {"cells": [index for index, _ in chosen], "lines": lines}


def _metadata(origin: Origin, notebook: Notebook, candidate: Candidate, context: dict) -> dict:
    execution_count = candidate.cell.get("execution_count")
    metadata = {
        "source": origin.source,
        "uri": origin.uri,  # the path, or DUMP#offset=N / DUMP#row=N for a dump row
        "cell_index": candidate.cell_index,
        "output_index": candidate.output_index,
        "output_type": candidate.output.get("output_type"),
        "mime": candidate.mime,
        "execution_count": execution_count if isinstance(execution_count, int) else None,
        "kernel_language": notebook.language,
        "nbformat": notebook.nbformat,
        "context": context,
        **dict(origin.extra),
    }
    if notebook.upgraded_from:
        metadata["upgraded_from"] = notebook.upgraded_from
    return metadata


def _located(error: Rejected, cell_index: int, output_index: int) -> Rejected:
    """The same error, its detail saying which output of the notebook it is about."""
    return Rejected(error.reason, f"cell {cell_index} output {output_index}: {error.detail}")


def candidate_outcome(origin: Origin, notebook: Notebook, candidate: Candidate,
                      history: list, ctx: TaskContext) -> Outcome:
    """The pair for one candidate output, or a read reject when it cannot be one at all.

    The pair carries its candidate in scratch: the `output` stage decodes the payload only
    for pairs that the language and per-cell filters kept.
    """
    key = make_key("notebooks", origin.uri, f"c{candidate.cell_index:04d}", f"o{candidate.output_index:02d}")
    if candidate.mime is None or candidate.source is None:
        error = (Rejected("invalid_output", "the output's 'data' is not a mimetype bundle") if candidate.mime is None
                 else Rejected("invalid_cell", "the cell has no string 'source'"))
        return _located(error, candidate.cell_index, candidate.output_index).reject(origin.source, key, "read")
    code, context = with_context(candidate.source, history, ctx.option("notebooks.context"))
    provenance = Provenance(origin.source, origin.checksum, origin.licence, {"nbformat": nbformat_version()})
    sample = Sample(key, "notebooks", code, "code", provenance,
                    metadata=_metadata(origin, notebook, candidate, context))
    sample.scratch["candidate"] = candidate
    return sample


def notebook_outcomes(origin: Origin, raw: bytes | str | dict, ctx: TaskContext) -> Iterator[Outcome]:
    """Every item of one notebook: an outcome per candidate, or one notebook Reject."""
    try:
        notebook = parse_notebook(raw)
    except Rejected as error:
        yield origin.reject(error)
        return
    mimetypes = ctx.option("notebooks.mimetypes")
    produced = False
    for candidate, history in iter_candidates(notebook, mimetypes):
        produced = True
        yield candidate_outcome(origin, notebook, candidate, history, ctx)
    if not produced:
        yield origin.reject(Rejected("no_candidate_outputs",
                                     f"{len(notebook.cells)} cells, no output of {', '.join(mimetypes)}"))


def _check_notebook_size(size: int, ctx: TaskContext) -> None:
    limit = ctx.option("notebooks.max_notebook_bytes")
    if size > limit:
        raise Rejected("notebook_too_large", f"{size} bytes > max_notebook_bytes={limit}")


def read_ipynb(path: str, ctx: TaskContext) -> Iterator[Outcome]:
    try:
        _check_notebook_size(os.path.getsize(path), ctx)  # before reading it
    except Rejected as error:
        yield error.reject(path, "notebook", "read")
        return
    with open(path, "rb") as f:
        data = f.read()
    yield from notebook_outcomes(Origin(path, path, checksum(data)), data, ctx)


def dump_row_outcomes(uri: str, position: str, row: bytes | dict, ctx: TaskContext) -> Iterator[Outcome]:
    """One dump row (a JSONL line or a parquet row) -> its notebook's items.

    The source is repository/path when the dump has those columns, else the path or the uri.
    """
    try:
        record = dump_record(row, ctx.option("notebooks.dump"))
        _check_notebook_size(len(record.data), ctx)
    except Rejected as error:
        yield error.reject(uri, position, "read")
        return
    repo, path = record.repo, record.path
    source = f"{repo}/{path}" if repo and path else str(path or uri)
    extra = tuple((name, str(value)) for name, value in (("repository", repo), ("path", path)) if value)
    origin = Origin(uri, source, checksum(record.data), position, record.licence, extra)
    yield from notebook_outcomes(origin, record.content, ctx)


def read_jsonl(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    rows = 0
    for offset, line in iter_lines(part):
        if line.strip():
            rows += 1
            yield from dump_row_outcomes(f"{part.path}#offset={offset}", f"offset={offset}", line, ctx)
    if rows == 0 and part.end is None:
        yield Rejected("empty_file", "the file holds no JSON lines").reject(part.path, "0", "read")


def read_parquet(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    try:
        rows = parquet_rows(part.path, ctx.option("notebooks.dump"))
    except Rejected as error:
        yield error.reject(part.path, "file", "read")
        return
    for row, record in enumerate(rows):
        yield from dump_row_outcomes(f"{part.path}#row={row}", f"row={row}", record, ctx)


def read(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    path = part.path.lower()
    if path.endswith(".jsonl"):
        yield from read_jsonl(part, ctx)
    elif path.endswith(".parquet"):
        yield from read_parquet(part, ctx)
    else:
        yield from read_ipynb(part.path, ctx)


# --------------------------------------------------------------------------------------
# Stages on a candidate: which cells make pairs, then what their output holds
# --------------------------------------------------------------------------------------


def output_stage(check: Callable[[Sample, dict], None], name: str) -> Stage:
    """A stage running check(sample, notebooks options); its rejects say which output they
    are about, like the read rejects of the same notebook."""

    def run(sample: Sample, ctx: TaskContext) -> Outcome:
        try:
            check(sample, ctx.option("notebooks"))
        except Rejected as error:
            raise _located(error, sample.metadata["cell_index"], sample.metadata["output_index"]) from None
        return sample

    return per_sample(run, name)


def check_language(sample: Sample, opts: dict) -> None:
    """The notebook's kernel language is kept, and the cell is not another language's magic."""
    language, languages = sample.metadata["kernel_language"], opts["languages"]
    if language is None:
        if not opts["allow_unknown_language"]:
            raise Rejected("kernel_language", "the notebook names no kernel language")
    elif "*" not in languages and language not in languages:
        raise Rejected("kernel_language", f"kernel language {language!r} is not in {languages}")
    magic = cell_magic(sample.scratch["candidate"].source)
    if magic in opts["foreign_cell_magics"]:
        raise Rejected("foreign_cell_magic", f"the cell is %%{magic} code")


def check_outputs_per_cell(sample: Sample, opts: dict) -> None:
    in_cell = sample.scratch["candidate"].in_cell
    if in_cell > opts["max_per_cell"]:
        raise Rejected("multiple_images", f"the cell has {in_cell} image/html outputs > max_per_cell={opts['max_per_cell']}")


def decode_output(sample: Sample, opts: dict) -> None:
    """PNG/JPEG: the stored bytes become the image, unchanged; SVG/HTML: the markup waits in
    scratch["markup"] for the render stage. Size limits come before decoding."""
    candidate = sample.scratch.pop("candidate")
    text = output_text(candidate.output["data"][candidate.mime], candidate.mime)
    if candidate.mime in STORED_FORMATS:
        if len(text) * 3 // 4 > opts["max_image_bytes"]:
            raise Rejected("image_too_large", f"about {len(text) * 3 // 4} bytes > max_image_bytes={opts['max_image_bytes']}")
        data = decode_base64(text)
        sample.image, sample.image_format = data, sniff_format(data)
        return
    kind, limit = RENDERED_KINDS[candidate.mime], opts[f"max_{RENDERED_KINDS[candidate.mime]}_chars"]
    if len(text) > limit:
        raise Rejected(f"{kind}_too_large", f"{len(text)} characters > max_{kind}_chars={limit}")
    if not text.strip():
        raise Rejected(f"empty_{kind}", f"the {kind} output is blank")
    sample.scratch["markup"] = {"kind": kind, "markup": text}


@functools.lru_cache(maxsize=8)
def _tag_pattern(tags: tuple[str, ...]) -> re.Pattern | None:
    alternatives = "|".join(re.escape(tag) for tag in tags)
    return re.compile(rf"<\s*({alternatives})\b", re.IGNORECASE) if tags else None


def check_html_tags(sample: Sample, opts: dict) -> None:
    markup = sample.scratch.get("markup")
    unwanted = _tag_pattern(tuple(opts["html_reject_tags"]))
    found = unwanted.search(markup["markup"]) if unwanted and markup and markup["kind"] == "html" else None
    if found:
        raise Rejected("html_unwanted_tag", f"the html output holds a <{found.group(1).lower()}> element")


# --------------------------------------------------------------------------------------
# Rendering SVG and HTML outputs
# --------------------------------------------------------------------------------------

OUTPUT_SELECTOR = "#vlforge-output"

# A small Jupyter-like look (classic notebook's .rendered_html): the output sits in a box as
# wide as its content (wrapping at the viewport width, tables as wide as they need), on white.
JUPYTER_CSS = """
html, body { margin: 0; padding: 0; background: #fff; }
body { font-family: "Helvetica Neue", Helvetica, Arial, "Noto Sans", "Noto Sans CJK SC", sans-serif;
       font-size: 14px; line-height: 1.43; color: #000; }
#vlforge-output { display: inline-block; padding: 8px; background: #fff; }
#vlforge-output:has(table) { width: max-content; }
.rendered_html table { margin: 0; border: none; border-collapse: collapse; border-spacing: 0;
                       color: #000; font-size: 12px; table-layout: fixed; }
.rendered_html thead { border-bottom: 1px solid #000; vertical-align: bottom; }
.rendered_html tr, .rendered_html th, .rendered_html td { text-align: right; vertical-align: middle;
    padding: 0.5em 0.5em; line-height: normal; white-space: normal; max-width: none; border: none; }
.rendered_html th { font-weight: bold; }
.rendered_html tbody tr:nth-child(odd) { background: #f5f5f5; }
.rendered_html pre, .rendered_html code { font-family: "DejaVu Sans Mono", monospace; font-size: 13px; }
.rendered_html img { max-width: 100%; }
"""


def html_document(fragment: str) -> str:
    return ('<!doctype html><html><head><meta charset="utf-8"></head><body>'
            f'<div id="vlforge-output" class="output_html rendered_html">{fragment}</div></body></html>')


@functools.lru_cache(maxsize=8)
def _browser_config(width: int, height: int, scale: float, timeout_s: float) -> BrowserConfig:
    return BrowserConfig(viewport_width=width, viewport_height=height,
                         device_scale_factor=scale, timeout_s=timeout_s)


def _render(markup: dict, opts: dict):
    config = _browser_config(opts["viewport_width"], opts["viewport_height"],
                             opts["device_scale_factor"], opts["timeout_s"])
    renderer = worker_renderer(config)
    if markup["kind"] == "svg":
        result = renderer.render_svg(markup["markup"], background="white", max_side=opts["svg_max_side"])
    else:
        result = renderer.render_html(html_document(markup["markup"]), css=JUPYTER_CSS,
                                      selector=OUTPUT_SELECTOR, fail_on_blocked=opts["reject_blocked"])
    return result, renderer.browser_version


def render_markup(sample: Sample, ctx: TaskContext) -> Outcome:
    """SVG/HTML samples get their screenshot; PNG/JPEG samples pass untouched."""
    markup = sample.scratch.pop("markup", None)
    if markup is None:
        return sample
    try:
        result, version = _render(markup, ctx.option("notebooks.render"))
    except Rejected as exc:
        raise Rejected(_RENDER_REASONS.get(exc.reason, exc.reason), f"{markup['kind']}: {exc.detail}") from None
    sample.image, sample.image_format, sample.image_size = result.png, "png", (result.width, result.height)
    sample.provenance.tools["chromium"] = version
    sample.metadata["render"] = {"kind": markup["kind"], "viewport": result.metadata["viewport"],
                                 "device_scale_factor": result.metadata["device_scale_factor"],
                                 "javascript": result.metadata["javascript"]}
    return sample


# --------------------------------------------------------------------------------------
# Images: checked and flattened once per distinct image of a task
# --------------------------------------------------------------------------------------

# Flattened bytes kept per task for repeats, at most (beyond it repeats are flattened again).
MEMO_BYTES = 64 * 1024 * 1024


@dataclass
class SeenImage:
    """What the image and flatten stages made of one image's bytes earlier in the task."""

    size: tuple[int, int] | None = None
    rejected: tuple[str, str] | None = None  # (reason, detail) of the image check
    flattened: tuple[bytes, str] | None = None  # image_as_png's answer, once `flattened_known`
    flattened_known: bool = False


class ImageMemo:
    """Per task: image (format, sha256) -> SeenImage. The same figure recurs across copies
    and forks of a notebook; its checks and its flattening depend on its bytes alone, so a
    repeat gets the first one's answers without decoding or encoding it again."""

    def __init__(self, max_bytes: int = MEMO_BYTES):
        self.seen: dict[tuple[str, bytes], SeenImage] = {}
        self.room = max_bytes

    @staticmethod
    def of(ctx: TaskContext) -> ImageMemo:
        return ctx.state.setdefault("notebooks.images", ImageMemo())

    def remember_flattened(self, entry: SeenImage, converted: tuple[bytes, str] | None) -> None:
        size = len(converted[0]) if converted else 0
        if size <= self.room:
            entry.flattened, entry.flattened_known, self.room = converted, True, self.room - size


def _first_look(sample: Sample, options: dict) -> SeenImage:
    try:
        size, pixels = checked_image(sample, options)
    except Rejected as error:
        return SeenImage(rejected=(error.reason, error.detail))
    sample.scratch["pixels"] = pixels  # the full-size decode, for flatten (None: JPEG draft)
    return SeenImage(size=size)


def check_image_once(sample: Sample, ctx: TaskContext) -> Sample:
    """filters.images' checks (it sets image_size), once per distinct image of the task."""
    if sample.image is None:
        sample.image_size = checked_size(sample, ctx.option("filters.images"))  # rejects: no_image
        return sample
    memo = ImageMemo.of(ctx)
    digest = (sample.image_format, hashlib.sha256(sample.image).digest())
    entry = memo.seen.get(digest)
    if entry is None:
        entry = memo.seen[digest] = _first_look(sample, ctx.option("filters.images"))
    if entry.rejected:
        raise Rejected(*entry.rejected)
    sample.image_size, sample.scratch["image_digest"] = entry.size, digest
    return sample


def _flattened(sample: Sample, ctx: TaskContext, background: tuple[int, int, int]) -> tuple[bytes, str] | None:
    """image_as_png's answer for the sample: remembered, or from the pixels the image stage
    decoded, or (JPEG, decoded there at reduced size) from the bytes."""
    pixels = sample.scratch.pop("pixels", None)
    memo = ImageMemo.of(ctx)
    entry = memo.seen.get(sample.scratch.pop("image_digest", None))
    if entry is not None and entry.flattened_known:
        return entry.flattened
    converted = image_as_png(pixels, background) if pixels is not None else as_png(sample.image, background)
    if entry is not None:
        memo.remember_flattened(entry, converted)
    return converted


def flatten_image(sample: Sample, ctx: TaskContext) -> Sample:
    """The image as the notebook shows it, as PNG (see the module notes: flatten)."""
    opts = ctx.option("notebooks.images")
    converted = _flattened(sample, ctx, _colour(opts["background"]))
    if converted is None:
        return sample
    if opts["keep_original"]:
        sample.metadata["original_image"] = {"format": sample.image_format,
                                             "base64": base64.b64encode(sample.image).decode("ascii")}
    (sample.image, sample.metadata["flattened_from"]), sample.image_format = converted, "png"
    return sample


@functools.lru_cache(maxsize=8)
def _colour(name: str) -> tuple[int, int, int]:
    return ImageColor.getrgb(name)[:3]


def check_options(options: dict) -> None:
    background = options["notebooks"]["images"]["background"]
    try:
        ImageColor.getrgb(background)
    except ValueError:
        raise VlforgeError(f"notebooks.images.background={background!r} is not a colour "
                           "(use a name or #rrggbb)") from None


CORPUS = Corpus(
    name="notebooks",
    description="Jupyter notebooks (.ipynb, JSONL/parquet dumps) -> stored plot/table image + code pairs",
    read=read,
    stages=(
        output_stage(check_language, "language"),
        output_stage(check_outputs_per_cell, "outputs_per_cell"),
        output_stage(decode_output, "output"),
        output_stage(check_html_tags, "html_tags"),
        code_filter(),
        per_sample(render_markup, "render"),
        per_sample(check_image_once, "image"),
        per_sample(flatten_image, "flatten"),
        image_dedup(),
    ),
    defaults=DEFAULTS,
    suffixes=(".ipynb", ".jsonl", ".parquet"),
    splittable_suffixes=(".jsonl",),
    # Duplicates whose first occurrence another task read go in the job-level pass.
    job_dedup=JobDedup("image_sha256", "duplicate_image", "filters.dedup.images"),
    # The render stage holds a Chromium per process: on Ray, actors keep it across tasks.
    actor_resources={},
    check_options=check_options,
)
