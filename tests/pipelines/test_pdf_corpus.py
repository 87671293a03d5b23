"""The pdf corpus (issue 5, path 2): PDFs -> pages -> a tiny Nougat checkpoint -> shards.

Random weights write noise, so the checkpoints used here carry a scripted output (see
tests/documents/tiny_nougat.py) and the tests check accounting, routing and the detectors.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from vlforge.config import resolve_options
from vlforge.contract import Part, Task, TaskContext
from vlforge.documents import nougat as nougat_module
from vlforge.errors import VlforgeError
from vlforge.pipelines.pdf import CORPUS, check_options
from vlforge.schemas import Reject, Sample, make_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "documents"))

ENGLISH = [["# Introduction", "We study the problem of reading documents.", "The results are in Table 1."],
           ["## Method", "Let x be the input and f(x) = Wx + b the output."]]
RUSSIAN = [["Введение", "Мы изучаем задачу чтения документов по изображению страницы."]]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    from tiny_nougat import build_test_checkpoints

    root = tmp_path_factory.mktemp("nougat")
    return build_test_checkpoints(root, "[MISSING_PAGE_EMPTY:2]")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from pdf_samples import write_encrypted_pdf, write_pdf

    root = tmp_path_factory.mktemp("pdfs")
    write_pdf(root / "paper.pdf", [*ENGLISH, []])  # two pages of text, then a blank one
    write_pdf(root / "russian.pdf", RUSSIAN)
    write_encrypted_pdf(root / "locked.pdf")
    (root / "junk.pdf").write_bytes(b"%PDF-1.7\nthis is not really a PDF\n")
    return root


def run_stream(tmp_path: Path, paths: list[Path], *assignments: str) -> list:
    """Every outcome of one task (reader, then the transcribe stage), in order."""
    options = resolve_options(CORPUS.defaults, None, assignments)
    task = Task(0, tuple(Part(str(p)) for p in paths))
    ctx = TaskContext("pdf", options, task, str(tmp_path / "out"))

    def read():
        for part in task.parts:
            yield from CORPUS.read(part, ctx)

    stream = read()
    for stage in CORPUS.stages:
        stream = stage(stream, ctx)
    return list(stream)


def shard_members(output: Path) -> dict[str, bytes]:
    members = {}
    for shard in sorted((output / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                members[member.name] = tar.extractfile(member).read()
    return members


def test_pdf_job_end_to_end(tmp_path, cli, checkpoints, inputs):
    output = tmp_path / "out"
    result = cli("run", "pdf", str(inputs), "-o", str(output), "--workers", "1", "-q",
                 "--set", f"nougat.model={checkpoints['script']}", "--set", "nougat.batch_size=2")
    assert result.returncode == 0, result.stderr
    stats = json.loads((output / "stats.json").read_text())
    assert stats["read"] == 6 == stats["accepted"] + stats["rejected"]  # 3 + 1 pages, 2 unopened files
    assert stats["accepted"] == 2
    assert stats["rejected_by_reason"] == {"blank_page": 1, "broken_pdf": 1, "encrypted_pdf": 1,
                                           "non_latin_script": 1}
    from tiny_nougat import SCRIPT_MARKDOWN

    members = shard_members(output)
    paper = str(inputs / "paper.pdf")
    for number in (1, 2):
        key = make_key("pdf", paper, number)
        assert sorted(name for name in members if name.startswith(f"{key}.")) == [
            f"{key}.json", f"{key}.png", f"{key}.txt"]
        assert members[f"{key}.txt"].decode() == SCRIPT_MARKDOWN
        record = json.loads(members[f"{key}.json"])
        assert record["text_kind"] == "markdown" and record["image_format"] == "png"
        assert (record["image_width"], record["image_height"]) == (672, 870)
        metadata = json.loads(record["metadata"])
        page = metadata["page"]
        assert page == {"number": number, "count": 3, "dpi": page["dpi"], "width": 672, "height": 870}
        assert 78 < page["dpi"] < 80  # 612 x 792 points fitted into 672 x 896 pixels
        assert Image.open(io.BytesIO(members[f"{key}.png"])).size == (672, 870)
        assert metadata["text_source"] == "nougat"
        assert json.loads(record["tools"])["nougat_model"] == "script"
    assert not any(b"[MISSING_PAGE" in data for data in members.values())
    rejects = pq.read_table(output / "rejects.parquet").to_pylist()
    by_item = {(Path(r["source"]).name, r["item"]): (r["stage"], r["reason"]) for r in rejects}
    assert by_item == {("paper.pdf", "page=3"): ("blank_pages", "blank_page"),
                       ("russian.pdf", "page=1"): ("non_latin_pages", "non_latin_script"),
                       ("locked.pdf", "document"): ("read", "encrypted_pdf"),
                       ("junk.pdf", "document"): ("read", "broken_pdf")}


def test_missing_model_is_a_one_line_error(tmp_path, cli, inputs):
    result = cli("run", "pdf", str(inputs / "paper.pdf"), "-o", str(tmp_path / "out"), "--workers", "1", "-q")
    assert result.returncode == 2  # refused before any task ran
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("vlforge: error:"), result.stderr
    assert "--set nougat.model=PATH" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # nothing claimed: the fixed command runs there


def test_check_options_says_how_to_fix():
    def options(*assignments):
        return resolve_options(CORPUS.defaults, None, assignments)

    with pytest.raises(VlforgeError, match="--set nougat.model=PATH"):
        check_options(options())
    with pytest.raises(VlforgeError, match="is not a directory"):
        check_options(options("nougat.model=/nonexistent/nougat"))


def test_option_errors(checkpoints):
    model = f"nougat.model={checkpoints['script']}"
    with pytest.raises(VlforgeError, match="non_latin must be one of reject, route"):
        check_options(resolve_options(CORPUS.defaults, None, (model, "nougat.non_latin=keep")))
    with pytest.raises(VlforgeError, match=r"pdf.size must be \[WIDTH, HEIGHT\]"):
        check_options(resolve_options(CORPUS.defaults, None, (model, "pdf.size=[672]")))
    assert check_options(resolve_options(CORPUS.defaults, None, (model,))).batch_size == 8


def test_non_latin_pages_are_routed_to_their_text_layer(tmp_path, checkpoints, inputs):
    outcomes = run_stream(tmp_path, [inputs / "russian.pdf", inputs / "paper.pdf"],
                          f"nougat.model={checkpoints['script']}", "nougat.non_latin=route")
    routed = outcomes[0]
    assert isinstance(routed, Sample) and routed.text_kind == "plain"
    assert routed.text == "\n".join(RUSSIAN[0])
    assert routed.metadata["text_source"] == "pdf_text_layer"
    assert routed.metadata["script"] == {"name": "CYRILLIC", "share": 1.0}
    assert [type(o).__name__ for o in outcomes] == ["Sample", "Sample", "Sample", "Reject"]


def test_loops_and_missing_pages_are_rejected(tmp_path, checkpoints, inputs):
    paper = inputs / "paper.pdf"
    loops = run_stream(tmp_path, [paper], f"nougat.model={checkpoints['loop']}", "nougat.loop_min_tokens=96")
    assert [o.reason for o in loops] == ["nougat_repetition", "nougat_repetition", "blank_page"]
    assert loops[0].item == "page=1" and loops[0].stage == "transcribe"
    missing = run_stream(tmp_path, [paper], f"nougat.model={checkpoints['missing']}")
    assert [o.reason for o in missing] == ["missing_page_marker", "missing_page_marker", "blank_page"]
    truncated = run_stream(tmp_path, [paper], f"nougat.model={checkpoints['loop']}", "nougat.max_new_tokens=40")
    assert [o.reason for o in truncated][:2] == ["nougat_truncated", "nougat_truncated"]


def test_every_page_accounts_with_random_weights(tmp_path, checkpoints, inputs):
    paths = sorted(inputs.glob("*.pdf"))
    outcomes = run_stream(tmp_path, paths, f"nougat.model={checkpoints['random']}", "nougat.batch_size=3",
                          "nougat.max_new_tokens=48")
    assert len(outcomes) == 6  # every page, and every file that does not open, once
    assert all(isinstance(o, Reject) and o.reason or isinstance(o, Sample) for o in outcomes)
    assert all("[MISSING_PAGE" not in o.text for o in outcomes if isinstance(o, Sample))


def test_batching_keeps_the_order_and_the_outputs(tmp_path, checkpoints, inputs):
    paths = sorted(inputs.glob("*.pdf"))
    model = f"nougat.model={checkpoints['script']}"
    one = run_stream(tmp_path, paths, model, "nougat.batch_size=1")
    three = run_stream(tmp_path, paths, model, "nougat.batch_size=3")
    assert [(type(o).__name__, getattr(o, "key", getattr(o, "item", None)), getattr(o, "text", None))
            for o in one] == [(type(o).__name__, getattr(o, "key", getattr(o, "item", None)),
                               getattr(o, "text", None)) for o in three]


def test_render_at_dpi_when_size_is_empty(tmp_path, checkpoints, inputs):
    outcomes = run_stream(tmp_path, [inputs / "paper.pdf"], f"nougat.model={checkpoints['script']}",
                          "pdf.size=", "pdf.dpi=96")
    page = outcomes[0].metadata["page"]
    assert (page["width"], page["height"], page["dpi"]) == (816, 1056, 96.0)
    assert outcomes[0].image_size == (816, 1056)


def test_a_failing_batch_rejects_its_pages_only(tmp_path, monkeypatch, checkpoints, inputs):
    def broken(self, images, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(nougat_module.NougatModel, "generate", broken)
    outcomes = run_stream(tmp_path, [inputs / "paper.pdf", inputs / "locked.pdf"],
                          f"nougat.model={checkpoints['script']}")
    assert [o.reason for o in outcomes] == ["model_error", "model_error", "blank_page", "encrypted_pdf"]
    assert "RuntimeError: CUDA out of memory" in outcomes[0].detail
