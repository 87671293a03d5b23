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

The stream, stage by stage:
    read    one outcome per item. A Sample holds the producing cell's code (earlier cells
            prepended when `notebooks.context` asks for it) and, for PNG/JPEG, the stored
            bytes unchanged; an SVG/HTML sample has no image yet, its markup waits in
            metadata["_pending"]. Read rejects: the notebook (invalid_json, invalid_encoding,
            invalid_notebook, unsupported_nbformat, notebook_too_large,
            no_candidate_outputs) or the output (kernel_language, foreign_cell_magic,
            multiple_images, invalid_output, invalid_cell, invalid_base64, image_too_large,
            corrupt_image, unsupported_image_format, svg_too_large, html_too_large,
            empty_svg, empty_html, html_unwanted_tag).
    code    code size limits (filters.code), before the browser sees anything
    render  SVG and HTML -> PNG in hermetic headless Chromium, one browser per worker
            process (rejects: the renderer's reasons; remote_reference for blocked requests)
    image   decodes, size, pixel count, blank (filters.images); sets image_size
    dedup   byte-identical images within the task, first occurrence kept (filters.dedup)

Keys: `notebooks_<digest of the notebook uri>_c<cell:04d>_o<output:02d>`, where the uri is
the file path, or `DUMP#offset=N` (JSONL, byte offset of the row) / `DUMP#row=N` (parquet).
`cell_index` is the position in the notebook's cell list (nbformat 3 worksheets flattened).
"""

from __future__ import annotations

import base64
import functools
import importlib.metadata
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vlforge.contract import Corpus, JobDedup, Outcome, Part, TaskContext, per_sample
from vlforge.documents.lines import iter_lines
from vlforge.filters.code import DEFAULTS as CODE_DEFAULTS
from vlforge.filters.code import code_filter, line_counts
from vlforge.filters.dedup import DEFAULTS as DEDUP_DEFAULTS
from vlforge.filters.dedup import image_dedup
from vlforge.filters.images import DEFAULTS as IMAGE_DEFAULTS
from vlforge.filters.images import image_filter
from vlforge.renderers.browser import BrowserConfig, RenderError, worker_renderer
from vlforge.schemas import Provenance, Reject, Sample, checksum, make_key

DEFAULTS: dict[str, Any] = {
    # Smaller tasks than the common default: notebooks vary a lot in cost (a table to render
    # costs a browser page), and duplicates across tasks are caught by the job-level pass.
    "tasks": {"target_bytes": 32 * 1024 * 1024, "max_files": 16},
    "notebooks": {
        # Kernel languages kept ("*": any); outputs of other notebooks -> kernel_language.
        "languages": ["python"],
        # Keep notebooks whose metadata names no language (old files often do not).
        "allow_unknown_language": True,
        # Output mimetypes that make a pair, best first; one item per output bundle.
        "mimetypes": ["image/png", "image/jpeg", "image/svg+xml", "text/html"],
        # Candidate outputs one code cell may have; a cell with more has every one rejected
        # as multiple_images (the paper keeps instances with exactly one image).
        "max_per_cell": 1,
        # Cell magics whose body is another language: their outputs -> foreign_cell_magic.
        "foreign_cell_magics": ["R", "bash", "sh", "script", "perl", "ruby", "octave",
                                "julia", "matlab", "sql", "javascript", "js"],
        # Size guards, checked before parsing / decoding / rendering.
        "max_notebook_bytes": 64 * 1024 * 1024,  # notebook_too_large
        "max_image_bytes": 16 * 1024 * 1024,  # decoded PNG/JPEG payload: image_too_large
        "max_svg_chars": 2_000_000,  # svg_too_large
        "max_html_chars": 1_000_000,  # html_too_large
        # HTML outputs holding one of these elements -> html_unwanted_tag: media players and
        # progress bars make screenshots that say nothing about the code (and a video's
        # frame is not reproducible), frames and plugins cannot render hermetically, and
        # script-driven outputs (bokeh, plotly, widgets) show only their "loading" text with
        # scripts off.
        "html_reject_tags": ["script", "video", "audio", "iframe", "object", "embed", "progress"],
        # Code of earlier cells prepended to the producing cell's (off by default): whole
        # code cells, nearest first, up to `cells` cells and `max_lines` lines (all lines
        # of the added cells); 0 means no limit of that kind, both 0 means no context.
        # The code filters (filters.code) count the pair's code, context included.
        "context": {"cells": 0, "max_lines": 0},
        # JSONL/parquet dumps: the first column present of each list is used.
        "dump": {
            "content_column": "content",
            "repo_columns": ["max_stars_repo_name", "repo_name", "repository", "repo"],
            "path_columns": ["max_stars_repo_path", "path"],
            "licence_columns": ["max_stars_repo_licenses", "licenses", "license", "licence",
                                "detected_licenses", "license_type"],
        },
        # SVG/HTML rendering (scripts are always off, every non-file:/data: request blocked).
        "render": {
            "viewport_width": 1024,  # CSS px; HTML wraps at this width, tables may be wider
            "viewport_height": 768,
            "device_scale_factor": 1.0,
            "timeout_s": 20.0,  # per item, then the browser is restarted and it is retried once
            "svg_max_side": 2048,  # larger SVGs are scaled down to fit
            "reject_blocked": True,  # HTML that asked for a remote file -> remote_reference
        },
    },
    "filters": {"code": CODE_DEFAULTS, "images": IMAGE_DEFAULTS, "dedup": DEDUP_DEFAULTS},
}

RICH_OUTPUT_TYPES = ("display_data", "execute_result")
STORED_FORMATS = {"image/png": "png", "image/jpeg": "jpeg"}
RENDERED_KINDS = {"image/svg+xml": "svg", "text/html": "html"}
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"))
_OTHER_IMAGE_MAGIC = (b"GIF87a", b"GIF89a", b"RIFF", b"BM", b"II*\x00", b"MM\x00*", b"\x00\x00\x01\x00")
_PYTHON_NAMES = {"python", "python2", "python3", "ipython", "ipython2", "ipython3", "pypy", "pypy3"}
# The renderer's reason for a blocked request -> ours (the same for SVG and HTML).
_RENDER_REASONS = {"remote_request_blocked": "remote_reference", "local_file_blocked": "local_reference"}


class _Drop(Exception):
    """Raised by the helpers below: this item ends as a Reject with `reason`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@functools.lru_cache(maxsize=1)
def _nbformat_version() -> str:
    try:
        return importlib.metadata.version("nbformat")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------------------
# Notebook JSON -> cells
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

    def reject(self, reason: str, detail: str) -> Reject:
        """A notebook-level reject, under the uri: a dump row must be found by its position."""
        return Reject(self.uri, self.position, "read", reason, detail)


@dataclass(frozen=True)
class Notebook:
    cells: list
    language: str | None  # normalised kernel language, None when the notebook names none
    nbformat: str  # "4.0", "4.5", ... after an upgrade
    upgraded_from: str | None = None  # "3.0" for an nbformat 3 file


def _normal_language(name: str) -> str:
    name = name.strip().lower()
    return "python" if name in _PYTHON_NAMES else name


def _section(mapping: Any, key: str) -> dict:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, dict) else {}


def kernel_language(metadata: Any) -> str | None:
    """language_info.name, else kernelspec.language, else a python* kernelspec name."""
    for section, key in (("language_info", "name"), ("kernelspec", "language")):
        value = _section(metadata, section).get(key)
        if isinstance(value, str) and value.strip():
            return _normal_language(value)
    name = _section(metadata, "kernelspec").get("name")
    if isinstance(name, str) and _normal_language(name) == "python":
        return "python"
    return None


def _load_json(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise _Drop("invalid_encoding", f"not UTF-8/16/32 JSON: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise _Drop("invalid_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise _Drop("invalid_json", f"{type(exc).__name__}: {exc}") from None


def _v4(nb: dict) -> Notebook:
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise _Drop("invalid_notebook", "nbformat 4 notebook without a 'cells' list")
    minor = nb.get("nbformat_minor")
    version = f"4.{minor}" if isinstance(minor, int) else "4"
    return Notebook(cells, kernel_language(nb.get("metadata")), version)


def _v3_language(metadata: Any, cells: list) -> str | None:
    # nbformat 3 names the language on each code cell; upgrading drops it, so look first.
    found = kernel_language(metadata)
    for cell in cells:
        if found is None and isinstance(cell, dict) and isinstance(cell.get("language"), str):
            found = _normal_language(cell["language"])
    return found


def _v3(nb: dict) -> Notebook:
    from nbformat import from_dict
    from nbformat.v4.convert import upgrade_cell

    worksheets = nb.get("worksheets")
    if not isinstance(worksheets, list) or not all(
            isinstance(ws, dict) and isinstance(ws.get("cells"), list) for ws in worksheets):
        raise _Drop("invalid_notebook", "nbformat 3 notebook without 'worksheets' of 'cells'")
    raw_cells = [cell for ws in worksheets for cell in ws["cells"]]
    language = _v3_language(nb.get("metadata"), raw_cells)
    try:
        cells = [upgrade_cell(from_dict(c)) if isinstance(c, dict) else c for c in raw_cells]
    except Exception as exc:  # nbformat raises anything from KeyError to AttributeError
        raise _Drop("invalid_notebook", f"cannot upgrade from nbformat 3: {type(exc).__name__}: {exc}") from None
    minor = nb.get("nbformat_minor")
    return Notebook(cells, language, "4.0", f"3.{minor if isinstance(minor, int) else 0}")


def parse_notebook(raw: bytes | str | dict) -> Notebook:
    """Notebook JSON (text, bytes or already parsed) -> cells; raises _Drop."""
    nb = raw if isinstance(raw, dict) else _load_json(raw)
    if not isinstance(nb, dict):
        raise _Drop("invalid_notebook", f"the top level is a JSON {type(nb).__name__}, not an object")
    major = nb.get("nbformat")
    if major == 4:
        return _v4(nb)
    if major == 3:
        return _v3(nb)
    if isinstance(major, int):
        raise _Drop("unsupported_nbformat", f"nbformat {major}; only 3 and 4 are read")
    raise _Drop("invalid_notebook", "no integer 'nbformat' key")


# --------------------------------------------------------------------------------------
# Cells -> candidate outputs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One candidate output and the code cell that produced it."""

    cell_index: int
    output_index: int
    output: dict
    mime: str | None  # None: the output should hold a bundle but its 'data' is not a dict
    cell: dict
    source: str | None  # the cell's code; None when the cell has no string source
    in_cell: int  # how many candidate outputs the cell has


def cell_source(cell: dict) -> str | None:
    source = cell.get("source")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    return source if isinstance(source, str) else None


def _output_mime(output: dict, mimetypes: list[str]) -> str | None | bool:
    """The bundle's best mimetype; None for a malformed bundle; False: not a candidate."""
    data = output.get("data")
    if not isinstance(data, dict):
        return None
    return next((mime for mime in mimetypes if mime in data), False)


def cell_candidates(index: int, cell: dict, mimetypes: list[str]) -> list[Candidate]:
    outputs = cell.get("outputs")
    if not isinstance(outputs, list):
        return []
    found = []
    for out_index, output in enumerate(outputs):
        if isinstance(output, dict) and output.get("output_type") in RICH_OUTPUT_TYPES:
            mime = _output_mime(output, mimetypes)
            if mime is not False:
                found.append((out_index, output, mime))
    source = cell_source(cell)
    return [Candidate(index, o, output, mime, cell, source, len(found)) for o, output, mime in found]


def iter_candidates(notebook: Notebook, mimetypes: list[str]) -> Iterator[tuple[Candidate, list]]:
    """(candidate, earlier code cells as (index, source)) in notebook order."""
    history: list[tuple[int, str]] = []
    for index, cell in enumerate(notebook.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        for candidate in cell_candidates(index, cell, mimetypes):
            yield candidate, history
        source = cell_source(cell)
        if source and source.strip():
            history.append((index, source))  # after the cell's candidates: they are done


# --------------------------------------------------------------------------------------
# Candidate -> Sample or Reject
# --------------------------------------------------------------------------------------


def cell_magic(source: str) -> str | None:
    """`R` for a cell starting with `%%R -i df`; None without a cell magic."""
    first = source.lstrip().split("\n", 1)[0]
    return first[2:].split()[0] if first.startswith("%%") and first[2:].strip() else None


def _check_candidate(candidate: Candidate, notebook: Notebook, opts: dict) -> None:
    """Raises _Drop for a candidate that cannot make a pair, before any decoding."""
    if candidate.mime is None:
        raise _Drop("invalid_output", "the output's 'data' is not a mimetype bundle")
    if candidate.source is None:
        raise _Drop("invalid_cell", "the cell has no string 'source'")
    languages = opts["languages"]
    if notebook.language is None:
        if not opts["allow_unknown_language"]:
            raise _Drop("kernel_language", "the notebook names no kernel language")
    elif "*" not in languages and notebook.language not in languages:
        raise _Drop("kernel_language", f"kernel language {notebook.language!r} is not in {languages}")
    magic = cell_magic(candidate.source)
    if magic in opts["foreign_cell_magics"]:
        raise _Drop("foreign_cell_magic", f"the cell is %%{magic} code")
    if candidate.in_cell > opts["max_per_cell"]:
        raise _Drop("multiple_images", f"the cell has {candidate.in_cell} image/html outputs "
                                       f"> max_per_cell={opts['max_per_cell']}")


def _joined(value: Any, mime: str) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    if isinstance(value, str):
        return value
    raise _Drop("invalid_output", f"{mime} data is a JSON {type(value).__name__}, not a string")


def decode_base64(text: str) -> bytes:
    """Strict base64; line breaks and spaces (common in stored outputs) are allowed."""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        pass
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except ValueError as exc:
        raise _Drop("invalid_base64", f"{type(exc).__name__}: {exc}") from None


def sniff_format(data: bytes) -> str:
    """png or jpeg from the leading bytes; raises _Drop for anything else."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data.startswith(_OTHER_IMAGE_MAGIC):
        raise _Drop("unsupported_image_format", f"image data starts with {data[:8]!r}")
    raise _Drop("corrupt_image", f"{len(data)} bytes that are neither PNG nor JPEG (start {data[:8]!r})")


def _stored_image(text: str, opts: dict) -> tuple[bytes, str]:
    if len(text) * 3 // 4 > opts["max_image_bytes"]:
        raise _Drop("image_too_large", f"about {len(text) * 3 // 4} bytes > max_image_bytes={opts['max_image_bytes']}")
    data = decode_base64(text)
    return data, sniff_format(data)


@functools.lru_cache(maxsize=8)
def _tag_pattern(tags: tuple[str, ...]) -> re.Pattern | None:
    alternatives = "|".join(re.escape(tag) for tag in tags)
    return re.compile(rf"<\s*({alternatives})\b", re.IGNORECASE) if tags else None


def _markup(kind: str, text: str, opts: dict) -> dict:
    limit = opts[f"max_{kind}_chars"]
    if len(text) > limit:
        raise _Drop(f"{kind}_too_large", f"{len(text)} characters > max_{kind}_chars={limit}")
    if not text.strip():
        raise _Drop(f"empty_{kind}", f"the {kind} output is blank")
    unwanted = _tag_pattern(tuple(opts["html_reject_tags"])) if kind == "html" else None
    found = unwanted.search(text) if unwanted else None
    if found:
        raise _Drop("html_unwanted_tag", f"the html output holds a <{found.group(1).lower()}> element")
    return {"kind": kind, "markup": text}


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


def candidate_sample(origin: Origin, notebook: Notebook, candidate: Candidate,
                     history: list, ctx: TaskContext) -> Sample:
    """The pair for one candidate output; raises _Drop."""
    opts = ctx.option("notebooks")
    _check_candidate(candidate, notebook, opts)
    value = _joined(candidate.output["data"][candidate.mime], candidate.mime)
    image, fmt, pending = None, None, None
    if candidate.mime in STORED_FORMATS:
        image, fmt = _stored_image(value, opts)
    else:
        pending = _markup(RENDERED_KINDS[candidate.mime], value, opts)
    code, context = with_context(candidate.source, history, opts["context"])
    metadata = _metadata(origin, notebook, candidate, context)
    if pending:
        metadata["_pending"] = pending
    provenance = Provenance(origin.source, origin.checksum, origin.licence, {"nbformat": _nbformat_version()})
    key = candidate_key(origin, candidate)
    return Sample(key, "notebooks", code, "code", provenance, image, fmt, metadata=metadata)


def candidate_key(origin: Origin, candidate: Candidate) -> str:
    return make_key("notebooks", origin.uri, f"c{candidate.cell_index:04d}", f"o{candidate.output_index:02d}")


def notebook_outcomes(origin: Origin, raw: bytes | str | dict, ctx: TaskContext) -> Iterator[Outcome]:
    """Every item of one notebook: a Sample or Reject per candidate, or one notebook Reject."""
    try:
        notebook = parse_notebook(raw)
    except _Drop as drop:
        yield origin.reject(drop.reason, drop.detail)
        return
    produced = False
    for candidate, history in iter_candidates(notebook, ctx.option("notebooks.mimetypes")):
        produced = True
        try:
            yield candidate_sample(origin, notebook, candidate, history, ctx)
        except _Drop as drop:
            where = f"cell {candidate.cell_index} output {candidate.output_index}: "
            yield Reject(origin.source, candidate_key(origin, candidate), "read", drop.reason, where + drop.detail)
    if not produced:
        yield origin.reject("no_candidate_outputs", f"{len(notebook.cells)} cells, no output of "
                                                    f"{', '.join(ctx.option('notebooks.mimetypes'))}")


# --------------------------------------------------------------------------------------
# Readers: .ipynb files, JSONL and parquet dumps
# --------------------------------------------------------------------------------------


def read_ipynb(path: str, ctx: TaskContext) -> Iterator[Outcome]:
    limit = ctx.option("notebooks.max_notebook_bytes")
    size = os.path.getsize(path)
    if size > limit:
        yield Reject(path, "notebook", "read", "notebook_too_large", f"{size} bytes > max_notebook_bytes={limit}")
        return
    with open(path, "rb") as f:
        data = f.read()
    yield from notebook_outcomes(Origin(path, path, checksum(data)), data, ctx)


def _first_column(record: dict, columns: list[str]) -> Any:
    return next((record[c] for c in columns if record.get(c) not in (None, "", [])), None)


def _licence(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return str(value) if value not in (None, "") else None


def dump_origin(uri: str, position: str, record: dict, content: bytes, opts: dict) -> Origin:
    """The origin of a dump row: repository/path as the source when the columns are there."""
    repo = _first_column(record, opts["repo_columns"])
    path = _first_column(record, opts["path_columns"])
    source = f"{repo}/{path}" if repo and path else str(path or uri)
    extra = tuple((name, str(value)) for name, value in (("repository", repo), ("path", path)) if value)
    licence = _licence(_first_column(record, opts["licence_columns"]))
    return Origin(uri, source, checksum(content), position, licence, extra)


def dump_record_outcomes(uri: str, position: str, record: Any, ctx: TaskContext) -> Iterator[Outcome]:
    """One dump row (a parsed JSON object or parquet row) -> its notebook's items."""
    opts = ctx.option("notebooks.dump")
    column = opts["content_column"]
    if not isinstance(record, dict):
        yield Reject(uri, position, "read", "not_an_object", f"the row is a JSON {type(record).__name__}")
        return
    content = record.get(column)
    if isinstance(content, dict):  # the notebook stored as a JSON object, not a string
        content = json.dumps(content)
    if not isinstance(content, (str, bytes)):
        found = "missing" if content is None else f"a {type(content).__name__}"
        yield Reject(uri, position, "read", "missing_field", f"content column {column!r} is {found}")
        return
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    limit = ctx.option("notebooks.max_notebook_bytes")
    origin = dump_origin(uri, position, record, data, opts)
    if len(data) > limit:
        yield origin.reject("notebook_too_large", f"{len(data)} bytes > max_notebook_bytes={limit}")
        return
    yield from notebook_outcomes(origin, content, ctx)


def read_jsonl(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    rows = 0
    for offset, line in iter_lines(part):
        if not line.strip():
            continue
        rows += 1
        uri, position = f"{part.path}#offset={offset}", f"offset={offset}"
        try:
            record = _load_json(line)
        except _Drop as drop:
            yield Reject(uri, position, "read", drop.reason, drop.detail)
            continue
        yield from dump_record_outcomes(uri, position, record, ctx)
    if rows == 0 and part.end is None:
        yield Reject(part.path, "0", "read", "empty_file", "the file holds no JSON lines")


def read_parquet(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    import pyarrow.parquet as pq

    opts = ctx.option("notebooks.dump")
    parquet = pq.ParquetFile(part.path)
    wanted = [opts["content_column"], *opts["repo_columns"], *opts["path_columns"], *opts["licence_columns"]]
    columns = [name for name in parquet.schema_arrow.names if name in wanted]
    if opts["content_column"] not in columns:
        yield Reject(part.path, "file", "read", "missing_field",
                     f"no {opts['content_column']!r} column; columns: {parquet.schema_arrow.names[:20]}")
        return
    row = 0
    for batch in parquet.iter_batches(batch_size=64, columns=columns):
        for record in batch.to_pylist():
            yield from dump_record_outcomes(f"{part.path}#row={row}", f"row={row}", record, ctx)
            row += 1


def read(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    path = part.path.lower()
    if path.endswith(".jsonl"):
        yield from read_jsonl(part, ctx)
    elif path.endswith(".parquet"):
        yield from read_parquet(part, ctx)
    else:
        yield from read_ipynb(part.path, ctx)


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


def _render(pending: dict, opts: dict):
    config = _browser_config(opts["viewport_width"], opts["viewport_height"],
                             opts["device_scale_factor"], opts["timeout_s"])
    renderer = worker_renderer(config)
    if pending["kind"] == "svg":
        result = renderer.render_svg(pending["markup"], background="white", max_side=opts["svg_max_side"])
    else:
        result = renderer.render_html(html_document(pending["markup"]), css=JUPYTER_CSS,
                                      selector=OUTPUT_SELECTOR, fail_on_blocked=opts["reject_blocked"])
    return result, renderer.browser_version


def render_pending(sample: Sample, ctx: TaskContext) -> Outcome:
    """SVG/HTML samples get their screenshot; PNG/JPEG samples pass untouched."""
    pending = sample.metadata.pop("_pending", None)
    if pending is None:
        return sample
    try:
        result, version = _render(pending, ctx.option("notebooks.render"))
    except RenderError as exc:
        reason = _RENDER_REASONS.get(exc.reason, exc.reason)
        return Reject(sample.provenance.source, sample.key, "render", reason, f"{pending['kind']}: {exc.detail}")
    sample.image, sample.image_format, sample.image_size = result.png, "png", (result.width, result.height)
    sample.provenance.tools["chromium"] = version
    sample.metadata["render"] = {"kind": pending["kind"], "viewport": result.metadata["viewport"],
                                 "device_scale_factor": result.metadata["device_scale_factor"],
                                 "javascript": result.metadata["javascript"]}
    return sample


CORPUS = Corpus(
    name="notebooks",
    description="Jupyter notebooks (.ipynb, JSONL/parquet dumps) -> stored plot/table image + code pairs",
    read=read,
    stages=(
        code_filter(),
        per_sample(render_pending, "render"),
        image_filter(),
        image_dedup(),
    ),
    defaults=DEFAULTS,
    suffixes=(".ipynb", ".jsonl", ".parquet"),
    splittable_suffixes=(".jsonl",),
    # Duplicates whose first occurrence another task read go in the job-level pass.
    job_dedup=JobDedup("image_sha256", "duplicate_image", "filters.dedup.images"),
    # The render stage holds a Chromium per process: on Ray, actors keep it across tasks.
    actor_resources={},
)
