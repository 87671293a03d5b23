"""The notebook corpus end to end: notebooks built here -> the real engine -> shards + ledger.

Every notebook below is written by the test with nbformat (or as raw JSON where it must be
broken), and every output records what the job must make of it: a pair of a given kind,
or a reject with a given reason. The job then has to match that plan exactly.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import struct
import zlib
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import job_samples
from nbformat import v3, v4
from PIL import Image, ImageDraw

from vlforge.engines.runner import run_job
from vlforge.images import to_rgb
from vlforge.pipelines.notebooks import with_context

PY_KERNEL = {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
             "language_info": {"name": "python"}}
R_KERNEL = {"kernelspec": {"name": "ir", "language": "R", "display_name": "R"},
            "language_info": {"name": "R"}}


# -- building blocks ----------------------------------------------------------------------

def chart(seed: int, size=(160, 120), fmt="PNG") -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([10, 5, size[0] - 5, size[1] - 15], outline="black")
    points = [(x, rng.randint(10, size[1] - 20)) for x in range(12, size[0] - 6, 6)]
    draw.line(points, fill=(31, 119, 180), width=2)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def solid_png(size=(100, 100), colour=(255, 255, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def claimed_size_png(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height (a decompression bomb's header)."""
    png = bytearray(solid_png((1, 1)))
    ihdr = struct.pack(">II", width, height) + png[24:29]
    png[16:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(png)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def code(tag: str, lines: int = 5) -> str:
    """`lines` lines of code that count under every counting rule."""
    return "\n".join([f"{tag}_{i} = compute({i})" for i in range(lines - 1)] + [f"show({tag})"])


def display(data: dict) -> dict:
    return v4.new_output("display_data", data=data)


class Plan:
    """Notebooks under construction and what the job must make of each output."""

    def __init__(self, root: Path):
        self.root = root
        self.pairs: Counter = Counter()  # mime -> pairs expected
        self.rejects: Counter = Counter()  # reason -> rejects expected

    def write(self, name: str, cells: list, metadata=None, raw: dict | None = None) -> Path:
        # A plain dict, not v4.new_notebook(): that validates, and some cells here are broken.
        notebook = raw or {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata or PY_KERNEL,
                           "cells": cells}
        path = self.root / name
        path.write_text(json.dumps(notebook), encoding="utf-8")
        return path

    def pair(self, mime: str, n: int = 1) -> None:
        self.pairs[mime] += n

    def reject(self, reason: str, n: int = 1) -> None:
        self.rejects[reason] += n


def good_cells(plan: Plan) -> list:
    """One of every pair kind, and the rejects a healthy notebook can still produce."""
    png = chart(1)
    cells = [v4.new_markdown_cell("# title"), v4.new_code_cell(code("setup"), execution_count=1)]
    cells.append(v4.new_code_cell(code("plot", 8), execution_count=2, outputs=[
        v4.new_output("stream", name="stdout", text="done\n"),
        display({"image/png": b64(png), "text/plain": "<Figure>"})]))
    plan.pair("image/png")
    table = '<table class="dataframe"><tr><th></th><th>a</th></tr><tr><th>0</th><td>1.5</td></tr></table>'
    cells.append(v4.new_code_cell(code("table"), execution_count=3, outputs=[
        v4.new_output("execute_result", data={"text/html": table, "text/plain": "df"}, execution_count=3)]))
    plan.pair("text/html")
    cells.append(v4.new_code_cell(code("jpeg"), outputs=[display({"image/jpeg": b64(chart(2, fmt="JPEG"))})]))
    plan.pair("image/jpeg")
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"><rect width="120" '
           'height="80" fill="white"/><circle cx="60" cy="40" r="20" fill="red"/></svg>')
    cells.append(v4.new_code_cell(code("svg"), outputs=[display({"image/svg+xml": svg})]))
    plan.pair("image/svg+xml")
    cells.append(v4.new_code_cell("plt.plot(x)\nplt.show()", outputs=[display({"image/png": b64(chart(3))})]))
    plan.reject("too_few_code_lines")
    commented = "# comment\n\n# another\nx = 1\n\n# more\ny = 2\nplot(x, y)\n"
    cells.append(v4.new_code_cell(commented, outputs=[display({"image/png": b64(chart(4))})]))
    plan.reject("too_few_code_lines")  # 8 lines, 3 of them code: kept only with count=all
    cells.append(v4.new_code_cell(code("two"), outputs=[display({"image/png": b64(chart(5))}),
                                                        display({"image/png": b64(chart(6))})]))
    plan.reject("multiple_images", 2)
    cells.append(v4.new_code_cell(code("err"), outputs=[
        v4.new_output("error", ename="ValueError", evalue="x", traceback=[])]))  # not an item
    cells.append(v4.new_code_cell(code("again"), outputs=[display({"image/png": b64(png)})]))
    plan.reject("duplicate_image")
    text = b64(chart(7))
    wrapped = [text[i:i + 76] + "\n" for i in range(0, len(text), 76)]
    cells.append(v4.new_code_cell(code("wrapped"), outputs=[display({"image/png": wrapped})]))
    plan.pair("image/png")  # base64 stored as a list of 76-character lines
    bundle = {"image/svg+xml": svg, "image/png": b64(chart(15)), "text/plain": "<Figure>"}
    cells.append(v4.new_code_cell(code("bundle"), outputs=[display(bundle)]))
    plan.pair("image/png")  # one figure in two formats is one item, shown as its PNG
    return cells


def bad_output_cells(plan: Plan) -> list:
    """Outputs that must each end as one reject with their own reason."""
    png = chart(8)
    cases = [
        ({"image/png": b64(png)[:-3]}, "invalid_base64"),
        ({"image/png": "@@@@" + b64(png)}, "invalid_base64"),
        ({"image/png": b64(png[: len(png) // 2])}, "corrupt_image"),
        ({"image/png": b64(os.urandom(300))}, "corrupt_image"),
        ({"image/png": b64(b"GIF89a" + bytes(100))}, "unsupported_image_format"),
        ({"image/jpeg": b64(png)}, None),  # PNG bytes under the JPEG mimetype: a PNG pair
        ({"image/png": b64(solid_png())}, "blank_image"),
        ({"image/png": b64(chart(9, size=(40, 30)))}, "image_too_small"),
        ({"image/png": b64(claimed_size_png(6000, 6000))}, "too_many_pixels"),
        ({"image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" width="50" height="50">'
                           '<image href="http://example.com/a.png" width="50" height="50"/>'
                           '<rect width="20" height="20"/></svg>'}, "remote_reference"),
        ({"image/svg+xml": "<svg><unclosed"}, "invalid_svg"),
        ({"text/html": '<p>plot</p><img src="https://example.com/p.png">'}, "remote_reference"),
        ({"text/html": '<video src="data:video/mp4;base64,AAAA"></video>'}, "html_unwanted_tag"),
        ({"text/html": "<table>" + "<tr><td>x</td></tr>" * 80_000 + "</table>"}, "html_too_large"),
        ({"text/html": "   "}, "empty_html"),
        ({"text/html": "<div></div>"}, "empty_render"),
    ]
    cells = []
    for i, (data, reason) in enumerate(cases):
        cells.append(v4.new_code_cell(code(f"bad{i}"), outputs=[display(data)]))
        if reason:
            plan.reject(reason)
        else:
            plan.pair("image/jpeg")
    giant = v4.new_output("stream", name="stdout", text="y" * 3_000_000)  # not an item
    cells.append(v4.new_code_cell(code("giant"), outputs=[giant, display({"image/png": b64(chart(10))})]))
    plan.pair("image/png")
    malformed = v4.new_code_cell(code("malformed"))
    malformed["outputs"] = [{"output_type": "display_data", "data": "oops", "metadata": {}}]
    sourceless = v4.new_code_cell(code("nosource"), outputs=[display({"image/png": b64(chart(11))})])
    del sourceless["source"]
    plan.reject("invalid_output")
    plan.reject("invalid_cell")
    return [*cells, malformed, sourceless]


def broken_notebooks(plan: Plan) -> None:
    (plan.root / "invalid.ipynb").write_text('{"nbformat": 4, "cells": [')
    plan.reject("invalid_json")
    (plan.root / "latin1.ipynb").write_bytes(b'{"nbformat": 4, "cells": ["\xff\xfe\xfa"]}')
    plan.reject("invalid_encoding")
    plan.write("nocells.ipynb", [], raw={"nbformat": 4, "nbformat_minor": 4, "metadata": {}})
    (plan.root / "list.ipynb").write_text("[1, 2]")
    plan.reject("invalid_notebook", 2)
    plan.write("v2.ipynb", [], raw={"nbformat": 2, "worksheets": []})
    plan.reject("unsupported_nbformat")
    plan.write("prose.ipynb", [v4.new_markdown_cell("only words"), v4.new_code_cell("x = 1")])
    plan.reject("no_candidate_outputs")
    (plan.root / "notes.txt").write_text("not a notebook")
    plan.reject("unsupported_file_type")


def other_languages(plan: Plan) -> None:
    r_cells = [v4.new_code_cell(code("r"), outputs=[display({"image/png": b64(chart(12))})])]
    plan.write("r_kernel.ipynb", r_cells, metadata=R_KERNEL)
    plan.reject("kernel_language")
    magic = "%%R -i df\n" + code("rmagic")
    plan.write("magic.ipynb", [v4.new_code_cell(magic, outputs=[display({"image/png": b64(chart(13))})])])
    plan.reject("foreign_cell_magic")


def legacy_notebook(plan: Plan) -> None:
    output = v3.new_output("display_data", output_png=b64(chart(14)))
    cell = v3.new_code_cell(input=code("legacy"), outputs=[output], prompt_number=7, language="python")
    heading = v3.new_heading_cell("Old", level=1)
    notebook = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[heading, cell])])
    plan.write("legacy.ipynb", [], raw=notebook)
    plan.pair("image/png")


# -- reading the job's output ---------------------------------------------------------------

def samples(output: Path) -> list[dict]:
    return job_samples(output)


def rejects(output: Path) -> list[dict]:
    return pq.read_table(output / "rejects.parquet").to_pylist()


def stored_cell(sample: dict) -> tuple[dict, dict]:
    """The notebook cell and output a pair came from, read back from the source file."""
    meta = sample["meta"]["metadata"]
    notebook = json.loads(Path(meta["source"]).read_text())
    cell = notebook["cells"][meta["cell_index"]]
    return cell, cell["outputs"][meta["output_index"]]


def same_pixels_as_shown(image: bytes, stored: bytes) -> bool:
    """The shard's image shows what the stored output shows on the notebook's white page."""
    with Image.open(io.BytesIO(image)) as ours, Image.open(io.BytesIO(stored)) as theirs:
        return ours.format == "PNG" and to_rgb(ours).tobytes() == to_rgb(theirs).tobytes()


def joined(value) -> str:
    return "".join(value) if isinstance(value, list) else value


# -- the main job, run once ------------------------------------------------------------------

@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebooks")
    plan = Plan(root)
    plan.write("good.ipynb", good_cells(plan))
    plan.write("bad_outputs.ipynb", bad_output_cells(plan))
    broken_notebooks(plan)
    other_languages(plan)
    legacy_notebook(plan)
    output = tmp_path_factory.mktemp("out") / "job"
    # max_files=4: several tasks, so two workers really share the job
    stats = run_job("notebooks", [str(root)], str(output), workers=2,
                    assignments=("tasks.max_files=4",), quiet=True)
    return plan, output, stats


def test_counts_per_reason_match_the_plan_and_add_up(main_job):
    plan, output, stats = main_job
    assert stats["tasks_failed"] == 0 and stats["tasks"] > 1
    assert stats["rejected_by_reason"] == dict(sorted(plan.rejects.items()))
    assert stats["accepted"] == sum(plan.pairs.values())
    assert stats["read"] == stats["accepted"] + stats["rejected"] == stats["accepted"] + sum(plan.rejects.values())
    ledger = rejects(output)
    assert Counter(r["reason"] for r in ledger) == plan.rejects
    assert all(r["detail"] for r in ledger)


def test_pairs_by_kind_and_code_and_bytes_equal_the_stored_cell(main_job):
    plan, output, _ = main_job
    found = samples(output)
    assert Counter(s["meta"]["metadata"]["mime"] for s in found) == plan.pairs
    for sample in found:
        meta = sample["meta"]["metadata"]
        if meta.get("upgraded_from"):
            continue  # the nbformat 3 file has no `cells` to look up; see the legacy test
        cell, output_ = stored_cell(sample)
        assert sample["text"] == joined(cell["source"])
        assert meta["context"] == {"cells": [], "lines": 0}
        assert meta["code_lines"]["nonblank_noncomment"] >= 5
        image = sample["image"]
        if meta["mime"] in ("image/png", "image/jpeg"):
            stored = base64.b64decode("".join(joined(output_["data"][meta["mime"]]).split()))
            assert same_pixels_as_shown(image, stored)
            assert (image == stored) == ("flattened_from" not in meta)  # opaque PNGs: bytes kept
        else:
            assert image.startswith(b"\x89PNG") and meta["render"]["javascript"] is False
            assert "chromium" in sample["meta"]["tools"]
        with Image.open(io.BytesIO(image)) as decoded:
            assert decoded.size == (sample["meta"]["image_width"], sample["meta"]["image_height"])


def test_pair_metadata(main_job):
    _, output, _ = main_job
    by_tag = {s["text"].rsplit("show(", 1)[-1].rstrip(")"): s for s in samples(output)}
    plot = by_tag["plot"]["meta"]
    meta = plot["metadata"]
    assert (meta["cell_index"], meta["output_index"], meta["execution_count"]) == (2, 1, 2)
    assert meta["kernel_language"] == "python" and meta["nbformat"].startswith("4.")
    assert meta["code_lines"] == {"all": 8, "nonblank": 8, "nonblank_noncomment": 8}
    assert meta["image_sha256"] and plot["checksum"].startswith("sha256:")
    assert plot["tools"]["nbformat"] and plot["text_kind"] == "code"
    assert plot["key"].endswith("_c0002_o01") and "." not in plot["key"]
    assert by_tag["table"]["meta"]["metadata"]["output_type"] == "execute_result"
    legacy = by_tag["legacy"]["meta"]["metadata"]
    assert legacy["upgraded_from"] == "3.0" and legacy["cell_index"] == 1
    assert legacy["execution_count"] == 7 and legacy["kernel_language"] == "python"
    assert by_tag["legacy"]["text"] == code("legacy")


def test_html_table_screenshot_shows_the_table(main_job):
    _, output, _ = main_job
    table = next(s for s in samples(output) if s["meta"]["metadata"]["mime"] == "text/html")
    with Image.open(io.BytesIO(table["image"])) as image:
        width, height = image.size
        colours = image.convert("RGB").getcolors(1 << 16)
    assert 30 < width < 400 and 30 < height < 200  # the table's box, not the whole viewport
    assert len(colours) > 3  # text on a background, not a blank box


def test_rejects_name_their_item_and_stage(main_job):
    _, output, _ = main_job
    ledger = rejects(output)
    by_reason = {r["reason"]: r for r in ledger}
    assert by_reason["invalid_json"]["item"] == "notebook"
    assert by_reason["multiple_images"]["stage"] == "outputs_per_cell"
    assert by_reason["too_few_code_lines"]["stage"] == "code"
    assert by_reason["remote_reference"]["stage"] == "render"
    assert "example.com" in by_reason["remote_reference"]["detail"]
    assert by_reason["blank_image"]["stage"] == "image"
    dup = by_reason["duplicate_image"]
    assert dup["stage"] == "dedup" and dup["item"].endswith("_c0010_o00") and "_c0002_o01" in dup["detail"]


def test_cell_filters_come_before_the_payload_is_decoded(tmp_path):
    """An output that a cell filter drops keeps that reason even when its payload is broken:
    the payload is decoded in a later stage, only for the pairs the filters kept."""
    broken = display({"image/png": "@@@@"})
    plan = Plan(tmp_path)
    plan.write("r.ipynb", [v4.new_code_cell(code("r"), outputs=[broken])], metadata=R_KERNEL)
    plan.write("two.ipynb", [v4.new_code_cell(code("two"), outputs=[broken, display({"text/html": "<video>"})])])
    stats = run_job("notebooks", [str(tmp_path)], str(tmp_path / "out"), workers=1, quiet=True)
    assert stats["rejected_by_reason"] == {"kernel_language": 1, "multiple_images": 2}
    stages = {(r["reason"], r["stage"]) for r in rejects(tmp_path / "out")}
    assert stages == {("kernel_language", "language"), ("multiple_images", "outputs_per_cell")}


# -- options ------------------------------------------------------------------------------

def test_context_and_language_options(tmp_path):
    plan = Plan(tmp_path)
    good = plan.write("good.ipynb", good_cells(plan))
    other_languages(plan)
    stats = run_job("notebooks", [str(tmp_path)], str(tmp_path / "out"), workers=1, quiet=True,
                    assignments=("notebooks.context.cells=2", "notebooks.languages=python,r",
                                 "notebooks.foreign_cell_magics=bash"))
    assert stats["tasks_failed"] == 0
    # The R notebook and the %%R cell are kept now, and so are the short cells: lines are
    # counted on the pair's code, which holds the two cells before them.
    assert stats["rejected_by_reason"] == {"duplicate_image": 1, "multiple_images": 2}
    cells = json.loads(good.read_text())["cells"]
    for sample in samples(tmp_path / "out"):
        meta = sample["meta"]["metadata"]
        text = sample["text"]
        cell, _ = stored_cell(sample) if meta["source"] == str(good) else ({"source": None}, None)
        if cell["source"] is None:
            assert meta["context"]["cells"] == []  # first code cell of its notebook
            continue
        assert text.endswith(joined(cell["source"])) and 0 < len(meta["context"]["cells"]) <= 2
        expected = "".join(joined(cells[i]["source"]).rstrip("\n") + "\n\n" for i in meta["context"]["cells"])
        assert text == expected + joined(cell["source"])
        assert meta["context"]["cells"] == sorted(meta["context"]["cells"])
        assert all(cells[i]["cell_type"] == "code" for i in meta["context"]["cells"])


def test_context_line_budget():
    history = [(1, "a = 1\nb = 2\n"), (3, "c = 3\n"), (5, "d = 4\ne = 5\nf = 6\n")]
    assert with_context("plot()", history, {"cells": 0, "max_lines": 0}) == ("plot()", {"cells": [], "lines": 0})
    code_, context = with_context("plot()", history, {"cells": 0, "max_lines": 4})
    assert context == {"cells": [3, 5], "lines": 4} and code_ == "c = 3\n\nd = 4\ne = 5\nf = 6\n\nplot()"
    assert with_context("plot()", history, {"cells": 1, "max_lines": 0})[1] == {"cells": [5], "lines": 3}
    assert with_context("plot()", history, {"cells": 0, "max_lines": 2})[1] == {"cells": [], "lines": 0}


# -- dumps ------------------------------------------------------------------------------

def dump_row(seed: int, **columns) -> dict:
    content = json.dumps(v4.new_notebook(metadata=PY_KERNEL, cells=[
        v4.new_code_cell(code("dump"), outputs=[display({"image/png": b64(chart(100 + 2 * seed))})]),
        v4.new_code_cell(code("dump2"), outputs=[display({"image/png": b64(chart(101 + 2 * seed))})])]))
    return {"content": content, **columns}


def test_jsonl_and_parquet_dumps_carry_repository_path_and_licence(tmp_path):
    stack = {"max_stars_repo_name": "octo/plots", "max_stars_repo_path": "a.ipynb",
             "max_stars_repo_licenses": ["MIT", "Apache-2.0"]}
    v2 = {"repo_name": "octo/other", "path": "b.ipynb", "license": "BSD-3-Clause"}
    lines = [json.dumps(dump_row(0, **stack)), json.dumps(dump_row(1, **v2)), json.dumps({"text": "x"}),
             "{broken", ""] + [json.dumps(dump_row(seed)) for seed in range(2, 5)]
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    (dumps / "stack.jsonl").write_text("\n".join(lines) + "\n")
    parquet_rows = [dump_row(5, **stack), dump_row(6, **v2)]
    columns = sorted({name for row in parquet_rows for name in row})  # from_pylist reads row 0's
    pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in parquet_rows]),
                   dumps / "stack.parquet")
    size = (dumps / "stack.jsonl").stat().st_size
    # byte ranges of ~1/4 of the file: rows are split across tasks and none is lost or repeated
    stats = run_job("notebooks", [str(dumps)], str(tmp_path / "out"), workers=2, quiet=True,
                    assignments=(f"tasks.target_bytes={size // 4}",))
    assert stats["tasks"] > 2 and stats["tasks_failed"] == 0
    assert stats["rejected_by_reason"] == {"invalid_json": 1, "missing_field": 1}
    found = samples(tmp_path / "out")
    assert len(found) == 2 * 5 + 2 * 2  # 5 good JSONL rows and 2 parquet rows, 2 pairs each
    assert len({s["key"] for s in found}) == len(found)
    by_uri = {s["meta"]["metadata"]["uri"].rsplit("/", 1)[-1]: s["meta"] for s in found
              if s["meta"]["metadata"]["cell_index"] == 0}
    assert len(by_uri) == 7 and "stack.jsonl#offset=0" in by_uri
    for first in (by_uri["stack.jsonl#offset=0"], by_uri["stack.parquet#row=0"]):
        assert first["source"] == "octo/plots/a.ipynb"
        assert first["licence"] == "MIT, Apache-2.0"
        assert first["metadata"]["repository"] == "octo/plots" and first["metadata"]["path"] == "a.ipynb"
    row1 = by_uri["stack.parquet#row=1"]
    assert row1["source"] == "octo/other/b.ipynb" and row1["licence"] == "BSD-3-Clause"
    assert all(s["text"].endswith(("show(dump)", "show(dump2)")) for s in found)


def test_examples_directory_runs(tmp_path):
    """examples/notebooks, as `make demo` would run it: the pairs and rejects its README lists."""
    examples = Path(__file__).parents[2] / "examples" / "notebooks"
    stats = run_job("notebooks", [str(examples)], str(tmp_path / "out"), workers=1, quiet=True)
    assert stats["rejected_by_reason"] == {"duplicate_image": 1, "multiple_images": 2, "too_few_code_lines": 1}
    assert Counter(s["meta"]["metadata"]["mime"] for s in samples(tmp_path / "out")) == {
        "image/png": 3, "image/jpeg": 1, "image/svg+xml": 1, "text/html": 1}


def transparent_plot() -> bytes:
    """A matplotlib-style PNG with a transparent background: a line on alpha 0."""
    image = Image.new("RGBA", (120, 90), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(10, 80), (110, 10)], fill=(31, 119, 180, 255), width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_transparent_and_jpeg_outputs_are_stored_as_the_notebook_shows_them(tmp_path):
    """60 of 84 real notebook images have an alpha channel; readers that convert to RGB
    without compositing showed them black. The shard holds them on white, as PNG."""
    plan = Plan(tmp_path)
    plan.write("alpha.ipynb", [
        v4.new_code_cell(code("clear"), execution_count=1, outputs=[display({"image/png": b64(transparent_plot())})]),
        v4.new_code_cell(code("photo"), execution_count=2, outputs=[display({"image/jpeg": b64(chart(7, fmt="JPEG"))})]),
    ])
    out = tmp_path / "out"
    run_job("notebooks", [str(tmp_path / "alpha.ipynb")], str(out), workers=1, quiet=True,
            assignments=("notebooks.images.keep_original=true",))
    found = {s["text"].rsplit("show(", 1)[-1].rstrip(")"): s for s in job_samples(out)}
    assert {s["image_ext"] for s in found.values()} == {"png"}  # one image member for the corpus
    with Image.open(io.BytesIO(found["clear"]["image"])) as flat:
        assert flat.mode == "RGB" and flat.getpixel((100, 80)) == (255, 255, 255)  # not black
    for name, was in (("clear", "png RGBA"), ("photo", "jpeg RGB")):
        meta = found[name]["meta"]["metadata"]
        assert meta["flattened_from"] == was
        original = base64.b64decode(meta["original_image"]["base64"])
        assert same_pixels_as_shown(found[name]["image"], original)


def test_a_background_that_is_no_colour_is_refused_before_the_job_starts(tmp_path):
    from vlforge.errors import VlforgeError

    with pytest.raises(VlforgeError, match="notebooks.images.background"):
        run_job("notebooks", [str(tmp_path)], str(tmp_path / "out"), quiet=True,
                assignments=("notebooks.images.background=transparentish",))
