"""documents.notebook: the nbformat 3/4 parser, stored output payloads and dump rows."""

from __future__ import annotations

import base64
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nbformat import v3, v4

from vlforge.documents.notebook import (
    cell_magic,
    decode_base64,
    dump_record,
    iter_candidates,
    parquet_rows,
    parse_notebook,
    sniff_format,
)
from vlforge.errors import Rejected

MIMES = ["image/png", "text/html"]
COLUMNS = {"content_column": "content", "repo_columns": ["repo"], "path_columns": ["path"],
           "licence_columns": ["licenses"]}


def reason(fn, *args) -> str:
    with pytest.raises(Rejected) as caught:
        fn(*args)
    return caught.value.reason


def test_v4_cells_language_and_candidates():
    cells = [v4.new_code_cell("a = 1"),
             v4.new_code_cell("plot()", outputs=[v4.new_output("stream", name="stdout", text="x"),
                                                  v4.new_output("display_data", data={"image/png": "AA=="})])]
    raw = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3"}}, "cells": cells}
    notebook = parse_notebook(json.dumps(raw))
    assert (notebook.language, notebook.nbformat, notebook.upgraded_from) == ("python", "4.5", None)
    found = [(c, list(history)) for c, history in iter_candidates(notebook, MIMES)]  # history grows
    assert [(c.cell_index, c.output_index, c.mime, c.in_cell) for c, _ in found] == [(1, 1, "image/png", 1)]
    assert found[0][1] == [(0, "a = 1")]  # earlier code cells, for the pair's context


def test_v3_is_upgraded_and_keeps_the_cell_language():
    cell = v3.new_code_cell(input="plot()", language="python", outputs=[v3.new_output("display_data", output_png="AA==")])
    notebook = parse_notebook(v3.new_notebook(worksheets=[v3.new_worksheet(cells=[cell])]))
    assert (notebook.language, notebook.nbformat, notebook.upgraded_from) == ("python", "4.0", "3.0")
    assert [c.mime for c, _ in iter_candidates(notebook, MIMES)] == ["image/png"]


def test_broken_notebooks_raise_their_reason():
    assert reason(parse_notebook, b'{"nbformat": 4, "cells": [') == "invalid_json"
    assert reason(parse_notebook, b'{"nbformat": 4, "cells": ["\xff\xfe\xfa"]}') == "invalid_encoding"
    assert reason(parse_notebook, "[1]") == "invalid_notebook"
    assert reason(parse_notebook, {"nbformat": 4}) == "invalid_notebook"
    assert reason(parse_notebook, {"nbformat": 2}) == "unsupported_nbformat"


def test_payloads():
    png = b"\x89PNG\r\n\x1a\n" + bytes(8)
    text = base64.b64encode(png).decode()
    assert decode_base64(text[:8] + "\n" + text[8:]) == png
    assert reason(decode_base64, "@@@@") == "invalid_base64"
    assert sniff_format(png) == "png" and sniff_format(b"\xff\xd8\xff\xe0") == "jpeg"
    assert reason(sniff_format, b"GIF89a....") == "unsupported_image_format"
    assert reason(sniff_format, b"garbage") == "corrupt_image"
    assert cell_magic("  %%R -i df\nplot(df)") == "R" and cell_magic("%matplotlib inline") is None


def test_dump_rows(tmp_path):
    record = dump_record(json.dumps({"content": {"nbformat": 4}, "repo": "o/r", "path": "a.ipynb",
                                     "licenses": ["MIT", "BSD"]}).encode(), COLUMNS)
    assert (record.repo, record.path, record.licence) == ("o/r", "a.ipynb", "MIT, BSD")
    assert json.loads(record.content) == {"nbformat": 4} and record.data == record.content.encode()
    assert reason(dump_record, b"[1]", COLUMNS) == "not_an_object"
    assert reason(dump_record, {"content": 5}, COLUMNS) == "missing_field"
    pq.write_table(pa.Table.from_pylist([{"content": "{}", "repo": "o/r", "other": 1}]), tmp_path / "d.parquet")
    assert list(parquet_rows(str(tmp_path / "d.parquet"), COLUMNS)) == [{"content": "{}", "repo": "o/r"}]
    assert reason(parquet_rows, str(tmp_path / "d.parquet"), {**COLUMNS, "content_column": "text"}) == "missing_field"
