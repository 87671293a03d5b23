"""The e-book corpus: EPUBs built here with zipfile -> pages through real Chromium.

Containers are checked without a browser (open_epub); books are rendered through the
reader in this process, and a whole job (bad books among good ones) through the engine.
"""

from __future__ import annotations

import hashlib
import io
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import job_samples, output_digests, start_trap_server

from vlforge.config import resolve_options
from vlforge.contract import Part, Task, TaskContext
from vlforge.documents.epub import Limits, open_epub
from vlforge.engines.runner import run_job
from vlforge.errors import Rejected
from vlforge.pipelines.ebooks import CORPUS
from vlforge.renderers.browser import is_uniform
from vlforge.renderers.paginate import squash
from vlforge.schemas import Reject, Sample, make_key

REPO = Path(__file__).resolve().parents[2]
SMALL_PAGES = ("ebooks.page.width=600", "ebooks.page.height=800")
EN_TEXT = ("The keeper trimmed the wick and wrote the weather in the log before the light was lit. "
           "Ships trusted the beam only as far as they trusted the person who tended it. ")
ZH_TEXT = "守灯人每天修剪灯芯，把天气写进日志。船只信任灯光，是因为信任守灯的人。"


# -- building EPUBs -----------------------------------------------------------------------

def xhtml(body: str, lang: str = "en", head: str = "", title: str = "Chapter") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml" '
            f'lang="{lang}" xml:lang="{lang}"><head><title>{title}</title>{head}</head>'
            f"<body>{body}</body></html>").encode()


def build_epub(path: Path, chapters: list[tuple[str, bytes]], *, files: dict[str, bytes] | None = None,
               spine_extra: str = "", meta_inf: dict[str, bytes] | None = None,
               mimetype: bytes = b"application/epub+zip", identifier: str = "urn:uuid:1234",
               version: str = "3.0") -> Path:
    """A real EPUB: `chapters` are (file name under OEBPS/text/, content) in spine order."""
    manifest = "".join(f'<item id="c{i}" href="text/{name}" media-type="application/xhtml+xml"/>'
                       for i, (name, _) in enumerate(chapters))
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters))) + spine_extra
    opf = (f'<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="{version}" '
           f'unique-identifier="uid"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
           f'<dc:identifier id="uid">{identifier}</dc:identifier><dc:title>Test Book</dc:title>'
           f"<dc:language>en</dc:language></metadata><manifest>{manifest}</manifest>"
           f"<spine>{spine}</spine></package>")
    container = (b'<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:'
                 b'opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" '
                 b'media-type="application/oebps-package+xml"/></rootfiles></container>')
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", mimetype, zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", container)
        for name, data in (meta_inf or {}).items():
            archive.writestr(f"META-INF/{name}", data)
        archive.writestr("OEBPS/content.opf", opf)
        for name, data in chapters:
            archive.writestr(f"OEBPS/text/{name}", data, zipfile.ZIP_DEFLATED)
        for name, data in (files or {}).items():
            archive.writestr(f"OEBPS/{name}", data, zipfile.ZIP_DEFLATED)
    return path


def png(width: int, height: int, colour=(200, 60, 60)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def huge_png(side: int = 20_000) -> bytes:
    """A real side x side PNG (1-bit, so building it is cheap), streamed row by row."""
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data)))
    packer = zlib.compressobj(1)
    row = b"\x00" + b"\x55" * ((side + 7) // 8)
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def source_text(chapter: bytes) -> str:
    """The chapter's text read from its XHTML with ElementTree: independent of the browser."""
    body = next(e for e in ET.fromstring(chapter).iter() if e.tag.endswith("body"))
    return squash("".join(body.itertext()))


def context(tmp_path: Path, path: Path, *assignments: str) -> TaskContext:
    options = resolve_options(CORPUS.defaults, None, (*SMALL_PAGES, *assignments))
    return TaskContext("ebooks", options, Task(0, (Part(str(path)),)), str(tmp_path / "out"))


def read_book(tmp_path: Path, path: Path, *assignments: str) -> list:
    """The book's outcomes as the executor gets them: the reader, then every stage."""
    ctx = context(tmp_path, path, *assignments)
    outcomes = CORPUS.read(Part(str(path)), ctx)
    for stage in CORPUS.stages:
        outcomes = stage(outcomes, ctx)
    return list(outcomes)


# -- containers (no browser) ----------------------------------------------------------------

def test_container_problems_refuse_the_book(tmp_path):
    good = build_epub(tmp_path / "good.epub", [("a.xhtml", xhtml("<p>x</p>"))])
    data = good.read_bytes()
    cases = {
        "corrupt_container": data[: len(data) // 2],
        "not_epub": build_epub(tmp_path / "m.epub", [], mimetype=b"application/zip").read_bytes(),
        "encrypted": build_epub(tmp_path / "d.epub", [("a.xhtml", b"????")], meta_inf={
            "encryption.xml": b'<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
            b'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:EncryptionMethod '
            b'Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><enc:CipherData><enc:CipherReference '
            b'URI="OEBPS/text/a.xhtml"/></enc:CipherData></enc:EncryptedData></encryption>'}).read_bytes(),
        "empty_spine": build_epub(tmp_path / "e.epub", []).read_bytes(),
    }
    for reason, content in cases.items():
        path = tmp_path / f"{reason}.epub"
        path.write_bytes(content)
        with pytest.raises(Rejected) as caught:
            open_epub(str(path), tmp_path / reason)
        assert caught.value.reason == reason


def test_unpacking_is_safe_and_restores_obfuscated_fonts(tmp_path):
    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").read_bytes()[:4000]
    identifier = "urn:uuid:12345678-1234-1234-1234-123456789abc"
    key = hashlib.sha1(identifier.encode()).digest()
    obfuscated = bytes(b ^ key[i % 20] for i, b in enumerate(font[:1040])) + font[1040:]
    encryption = (b'<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                  b'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:EncryptionMethod '
                  b'Algorithm="http://www.idpf.org/2008/embedding"/><enc:CipherData><enc:CipherReference '
                  b'URI="OEBPS/fonts/f.ttf"/></enc:CipherData></enc:EncryptedData></encryption>')
    path = build_epub(tmp_path / "b.epub", [("a.xhtml", xhtml("<p>x</p>")), ("b.html", xhtml("<p>y</p>"))],
                      files={"fonts/f.ttf": obfuscated, "images/huge.png": huge_png(), "../../escape.txt": b"x"},
                      meta_inf={"encryption.xml": encryption}, identifier=identifier,
                      spine_extra='<itemref idref="nowhere"/>')
    book = open_epub(str(path), tmp_path / "work", Limits(max_image_pixels=50_000_000))
    assert (book.root / "OEBPS/fonts/f.ttf").read_bytes() == font
    assert not (tmp_path / "escape.txt").exists() and book.dropped["OEBPS/../../escape.txt"] == "unsafe_name"
    assert book.dropped["OEBPS/images/huge.png"].startswith("image_too_large")
    assert [item.problem.reason if item.problem else None for item in book.spine] == [None, None, "missing_spine_item"]
    assert (book.title, book.language, book.identifier) == ("Test Book", "en", identifier)


# -- books through the browser ---------------------------------------------------------------

def test_book_pages_add_up_per_chapter_with_metadata(tmp_path):
    english = xhtml("<h1>One</h1>" + "".join(f"<p>{EN_TEXT * 3}</p>" for _ in range(12)))
    chinese = xhtml("<h1>第二章</h1>" + "".join(f"<p>{ZH_TEXT * 6}</p>" for _ in range(10)), lang="zh")
    figure = xhtml('<p>A figure.</p><img src="../images/f.png" alt="figure"/>')
    # EPUB 2, and XHTML in a .html file (the parser must follow the media type, not the name).
    chapters = [("one.xhtml", english), ("two.html", chinese), ("three.xhtml", figure)]
    path = build_epub(tmp_path / "book.epub", chapters, files={"images/f.png": png(300, 200)}, version="2.0")
    outcomes = read_book(tmp_path, path)
    assert all(isinstance(o, Sample) for o in outcomes), [o for o in outcomes if isinstance(o, Reject)]
    for spine, (_, chapter) in enumerate(chapters):
        pages = [o for o in outcomes if o.metadata["chapter"]["spine_index"] == spine]
        assert squash("".join(p.text for p in pages)) == source_text(chapter)
        assert [p.key for p in pages] == [make_key("ebooks", str(path), spine, i) for i in range(len(pages))]
    assert {o.metadata["chapter"]["spine_index"] for o in outcomes} == {0, 1, 2}
    assert sum(o.metadata["chapter"]["spine_index"] == 1 for o in outcomes) >= 2  # Chinese spans pages
    sample = outcomes[-1]
    meta = sample.metadata
    assert meta["images_on_page"] == 1 and meta["text_chars"] == len("A figure.")
    assert meta["book"]["title"] == "Test Book" and meta["chapter"]["href"] == "OEBPS/text/three.xhtml"
    assert meta["viewport"] == {"width": 600, "height": 800} and meta["device_scale_factor"] == 1.0
    assert meta["template"] in ("serif", "sans", "two-column") and meta["book"]["epub_version"] == "2.0"
    assert {o.metadata["parsed_as"] for o in outcomes} == {"xhtml"}
    assert sample.provenance.tools["chromium"] and sample.image_size == (600, 800)
    assert all(not is_uniform(o.image) for o in outcomes)


def test_markdown_text_and_user_template(tmp_path):
    template = tmp_path / "mine.css"
    template.write_text(":root { --vlforge-margin-top: 20px; --vlforge-margin-right: 30px; "
                        "--vlforge-margin-bottom: 20px; --vlforge-margin-left: 30px; }\n"
                        "body { font-family: 'DejaVu Sans' !important; font-size: 14px !important; }")
    chapter = xhtml("<h2>Title</h2><p>Some <em>stressed</em> words.</p><ul><li>first</li></ul>")
    path = build_epub(tmp_path / "md.epub", [("c.xhtml", chapter)])
    sample, = read_book(tmp_path, path, "ebooks.text_kind=markdown", f"ebooks.template_files={template}",
                        "ebooks.template=mine")
    assert sample.text_kind == "markdown" and sample.metadata["template"] == "mine"
    assert sample.text == "## Title\n\nSome *stressed* words.\n\n- first"


TITLE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 200" width="300" height="200">'
             '<rect width="300" height="200" fill="#eee"/><text x="20" y="80" font-size="28">THE TEST BOOK</text>'
             '<text x="20" y="140" font-size="18">by A. N. Author</text></svg>')


def test_page_policies_for_image_and_nearly_empty_pages(tmp_path):
    # A title page as Standard Ebooks make it: title and author drawn in an SVG, no text.
    title = xhtml('<section class="titlepage"><h1 style="display:none">The Test Book</h1>'
                  '<img src="../images/titlepage.svg" alt=""/></section>')
    chapters = [("titlepage.xhtml", title), ("img.xhtml", xhtml('<img src="../images/f.png" alt=""/>')),
                ("short.xhtml", xhtml("<p>Fin.</p>")), ("plate.xhtml", xhtml('<p>Plate I.</p><img src="../images/f.png"/>'))]
    path = build_epub(tmp_path / "p.epub", chapters, files={"images/f.png": png(300, 200),
                                                            "images/titlepage.svg": TITLE_SVG.encode()})
    default = read_book(tmp_path, path)
    assert [type(o).__name__ for o in default] == ["Reject", "Reject", "Sample", "Sample"]
    assert [o.reason for o in default[:2]] == ["empty_text_page", "empty_text_page"]
    assert [o.stage for o in default[:2]] == ["page_content", "page_content"]
    assert [o.text for o in default[2:]] == ["Fin.", "Plate I."]
    kept = read_book(tmp_path, path, "ebooks.pages.empty_text=keep")
    assert [(type(o).__name__, o.text) for o in kept] == [("Sample", ""), ("Sample", ""), ("Sample", "Fin."),
                                                          ("Sample", "Plate I.")]
    assert kept[0].metadata["images_on_page"] == 1 and not is_uniform(kept[0].image)
    refused = read_book(tmp_path, path, "ebooks.pages.empty_text=keep", "ebooks.pages.image_only=reject",
                        "ebooks.pages.nearly_empty=reject")
    assert [o.reason for o in refused] == ["image_only_page", "image_only_page", "nearly_empty_page",
                                           "image_only_page"]


def test_bad_inputs_are_rejected_and_the_job_goes_on(tmp_path):
    """Broken containers, broken chapters and hostile content, in one job: rejects or safe
    renders, every item accounted for, and nothing leaves the machine."""
    server, remote, hits = start_trap_server()
    books = tmp_path / "books"
    good = build_epub(books / "a-good.epub", [("c.xhtml", xhtml(f"<p>{EN_TEXT}</p>"))])
    (books / "b-truncated.epub").write_bytes(good.read_bytes()[:200])
    chapters = [
        ("ok.xhtml", xhtml(f"<p>{EN_TEXT}</p>")),
        ("malformed.xhtml", b'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Unclosed <b>tag</p></body>'),
        ("script.xhtml", xhtml("<p>Original text.</p><script>document.body.textContent='HACKED'</script>")),
        ("remote.xhtml", xhtml(f'<p>Remote refs.</p><img src="{remote}/i.png"/>',
                               head=f'<link rel="stylesheet" href="{remote}/s.css"/>')),
        ("tall.xhtml", xhtml('<p>Above the wall.</p><div style="height:100000px"></div><p>Below the wall.</p>')),
        ("huge.xhtml", xhtml('<p>Next to a huge image.</p><img src="../images/huge.png" alt="huge"/>')),
        ("invisible.xhtml", xhtml('<p style="color:transparent">Words nobody can see.</p>')),
    ]
    build_epub(books / "c-mixed.epub", chapters, files={"images/huge.png": huge_png()},
               spine_extra='<itemref idref="missing"/>')
    try:
        stats = run_job("ebooks", [str(books)], str(tmp_path / "out"), workers=1, quiet=True,
                        assignments=SMALL_PAGES)
    finally:
        server.shutdown()
    assert hits == [] and stats["tasks_failed"] == 0
    assert stats["read"] == stats["accepted"] + stats["rejected"]
    reasons = stats["rejected_by_reason"]
    assert reasons["corrupt_container"] == 1 and reasons["missing_spine_item"] == 1
    assert reasons["blank_render"] == 1  # the invisible words: text that does not show
    assert reasons["blank_page"] >= 60  # the tall element: 100000 px of nothing, no screenshots
    joined: dict[str, str] = {}
    for sample in job_samples(tmp_path / "out"):
        assert sample["members"] == ["json", "png", "txt"] and sample["meta"]["text_kind"] == "plain"
        if "c-mixed" in sample["meta"]["source"]:
            href = sample["meta"]["metadata"]["chapter"]["href"].rsplit("/", 1)[-1]
            joined[href] = joined.get(href, "") + sample["text"]
    assert joined["malformed.xhtml"].startswith("Unclosed tag")
    assert joined["script.xhtml"] == "Original text."
    assert joined["remote.xhtml"] == "Remote refs."
    assert "Above the wall." in joined["tall.xhtml"] and "Below the wall." in joined["tall.xhtml"]
    assert joined["huge.xhtml"] == "Next to a huge image."
    ledger = pq.read_table(tmp_path / "out" / "rejects.parquet").to_pylist()
    assert {r["reason"] for r in ledger} == {"corrupt_container", "missing_spine_item", "blank_page", "blank_render"}
    # Per-book accounting in stats.json: pages, coverage of the book's text, rejects by reason.
    books = {Path(row["source"]).name: row for row in stats["summary"]["books"]}
    assert books["a-good.epub"]["pages"] == 1 and books["a-good.epub"]["coverage"] == 1.0
    assert books["b-truncated.epub"]["rejects"] == {"corrupt_container": 1} and books["b-truncated.epub"]["pages"] == 0
    mixed = books["c-mixed.epub"]
    assert mixed["chapters"] == 7 and mixed["chapters_refused"] == 1 and 0.5 < mixed["coverage"] < 1.0
    assert mixed["rejects"]["missing_spine_item"] == 1 and mixed["rejects"]["blank_render"] == 1
    assert sum(row["pages"] for row in books.values()) == stats["accepted"] == stats["summary"]["pages"]


def test_demo_book_rerun_is_byte_identical(tmp_path, cli):
    demo = REPO / "examples" / "ebooks" / "lighthouse.epub"
    for run in ("one", "two"):
        cli("run", "ebooks", str(demo), "--output", str(tmp_path / run), "--workers", "1", "-q",
            *[arg for kv in SMALL_PAGES for arg in ("--set", kv)], check=True)
    assert output_digests(tmp_path / "one") == output_digests(tmp_path / "two")
    samples = job_samples(tmp_path / "one")
    languages = {s["meta"]["metadata"]["chapter"]["language"] for s in samples}
    assert languages == {"en", "zh-Hans"} and any("守灯" in s["text"] for s in samples)
    assert all(s["text"].strip() and s["image_ext"] == "png" for s in samples)
