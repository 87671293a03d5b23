"""Jupyter notebook formats: nbformat 3 and 4 JSON, their outputs, and notebook dumps.

    parse_notebook(raw)        notebook JSON -> Notebook (nbformat 3 is upgraded to 4)
    iter_candidates(nb, mimes) the code cells' rich outputs holding one of `mimes`
    output_text / decode_base64 / sniff_format
                               a stored output's payload -> text, bytes, image format
    dump_record(row, columns)  one row of a JSONL/parquet dump in The Stack's layout (the
                               notebook JSON in a content column, repository/path/licence
                               columns beside it) -> DumpRecord
    parquet_rows(path, columns) the rows of a parquet dump

Whatever is wrong with the input raises `Rejected(reason, detail)`; the caller knows where
the notebook came from and makes the ledger row. Nothing here makes samples or applies a
corpus policy (languages, limits): that is the notebooks corpus.
"""

from __future__ import annotations

import base64
import functools
import importlib.metadata
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vlforge.errors import Rejected

RICH_OUTPUT_TYPES = ("display_data", "execute_result")
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"))
_OTHER_IMAGE_MAGIC = (b"GIF87a", b"GIF89a", b"RIFF", b"BM", b"II*\x00", b"MM\x00*", b"\x00\x00\x01\x00")
_PYTHON_NAMES = {"python", "python2", "python3", "ipython", "ipython2", "ipython3", "pypy", "pypy3"}


@functools.lru_cache(maxsize=1)
def nbformat_version() -> str:
    """The nbformat package's version (it upgrades nbformat 3), for provenance."""
    try:
        return importlib.metadata.version("nbformat")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------------------
# Notebook JSON -> cells
# --------------------------------------------------------------------------------------


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


def load_json(raw: bytes | str) -> Any:
    """Parsed JSON; raises Rejected (invalid_encoding, invalid_json)."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise Rejected("invalid_encoding", f"not UTF-8/16/32 JSON: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise Rejected("invalid_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise Rejected("invalid_json", f"{type(exc).__name__}: {exc}") from None


def _v4(nb: dict) -> Notebook:
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise Rejected("invalid_notebook", "nbformat 4 notebook without a 'cells' list")
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
        raise Rejected("invalid_notebook", "nbformat 3 notebook without 'worksheets' of 'cells'")
    raw_cells = [cell for ws in worksheets for cell in ws["cells"]]
    language = _v3_language(nb.get("metadata"), raw_cells)
    try:
        cells = [upgrade_cell(from_dict(c)) if isinstance(c, dict) else c for c in raw_cells]
    except Exception as exc:  # nbformat raises anything from KeyError to AttributeError
        raise Rejected("invalid_notebook", f"cannot upgrade from nbformat 3: {type(exc).__name__}: {exc}") from None
    minor = nb.get("nbformat_minor")
    return Notebook(cells, language, "4.0", f"3.{minor if isinstance(minor, int) else 0}")


def parse_notebook(raw: bytes | str | dict) -> Notebook:
    """Notebook JSON (text, bytes or already parsed) -> cells; raises Rejected."""
    nb = raw if isinstance(raw, dict) else load_json(raw)
    if not isinstance(nb, dict):
        raise Rejected("invalid_notebook", f"the top level is a JSON {type(nb).__name__}, not an object")
    major = nb.get("nbformat")
    if major == 4:
        return _v4(nb)
    if major == 3:
        return _v3(nb)
    if isinstance(major, int):
        raise Rejected("unsupported_nbformat", f"nbformat {major}; only 3 and 4 are read")
    raise Rejected("invalid_notebook", "no integer 'nbformat' key")


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


def cell_magic(source: str) -> str | None:
    """`R` for a cell starting with `%%R -i df`; None without a cell magic."""
    first = source.lstrip().split("\n", 1)[0]
    return first[2:].split()[0] if first.startswith("%%") and first[2:].strip() else None


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
# An output's payload
# --------------------------------------------------------------------------------------


def output_text(value: Any, mime: str) -> str:
    """A bundle's value for `mime` as one string (stored as a string or a list of lines)."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    if isinstance(value, str):
        return value
    raise Rejected("invalid_output", f"{mime} data is a JSON {type(value).__name__}, not a string")


def decode_base64(text: str) -> bytes:
    """Strict base64; line breaks and spaces (common in stored outputs) are allowed."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except ValueError as exc:
        raise Rejected("invalid_base64", f"{type(exc).__name__}: {exc}") from None


def sniff_format(data: bytes) -> str:
    """png or jpeg from the leading bytes; raises Rejected for anything else."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data.startswith(_OTHER_IMAGE_MAGIC):
        raise Rejected("unsupported_image_format", f"image data starts with {data[:8]!r}")
    raise Rejected("corrupt_image", f"{len(data)} bytes that are neither PNG nor JPEG (start {data[:8]!r})")


# --------------------------------------------------------------------------------------
# Dumps: JSONL lines or parquet rows, The Stack's layout
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DumpRecord:
    """The notebook of one dump row and the columns that say where it came from."""

    content: str | bytes  # the notebook JSON as stored (a JSON object is re-serialised)
    data: bytes  # its bytes, for the size limit and the checksum
    repo: Any  # the first non-empty repository column, or None
    path: Any  # the first non-empty path column, or None
    licence: str | None  # the first non-empty licence column; a list is joined with ", "


def _first_column(record: dict, columns: list[str]) -> Any:
    return next((record[c] for c in columns if record.get(c) not in (None, "", [])), None)


def _licence(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return str(value) if value not in (None, "") else None


def dump_record(row: bytes | dict, columns: dict) -> DumpRecord:
    """A JSONL line or a parquet row -> DumpRecord; raises Rejected.

    `columns`: content_column, and the repo_columns, path_columns and licence_columns lists
    (the first column present of each is used).
    """
    record = load_json(row) if isinstance(row, bytes) else row
    if not isinstance(record, dict):
        raise Rejected("not_an_object", f"the row is a JSON {type(record).__name__}")
    content = record.get(columns["content_column"])
    if isinstance(content, dict):  # the notebook stored as a JSON object, not a string
        content = json.dumps(content)
    if not isinstance(content, (str, bytes)):
        found = "missing" if content is None else f"a {type(content).__name__}"
        raise Rejected("missing_field", f"content column {columns['content_column']!r} is {found}")
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    return DumpRecord(content, data, _first_column(record, columns["repo_columns"]),
                      _first_column(record, columns["path_columns"]),
                      _licence(_first_column(record, columns["licence_columns"])))


def parquet_rows(path: str, columns: dict) -> Iterator[dict]:
    """The rows of a parquet dump, read in batches, holding only the columns `dump_record`
    uses; raises Rejected (missing_field) at once when there is no content column."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    if columns["content_column"] not in names:
        raise Rejected("missing_field", f"no {columns['content_column']!r} column; columns: {names[:20]}")
    wanted = {columns["content_column"], *columns["repo_columns"], *columns["path_columns"],
              *columns["licence_columns"]}
    batches = parquet.iter_batches(batch_size=64, columns=[name for name in names if name in wanted])
    return (record for batch in batches for record in batch.to_pylist())
