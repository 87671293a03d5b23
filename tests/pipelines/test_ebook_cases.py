"""E-books as they are: the hard cases of real EPUBs, on small books built here, through
the ebooks reader and its page filters in real Chromium. Each book's coverage is measured
by ebook_text, which reads the XHTML without the renderer."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from ebook_text import book_coverage, book_formulas
from test_ebooks import build_epub, read_book, xhtml

from vlforge.documents.epub import open_epub
from vlforge.schemas import Reject, Sample


def pages_by_document(outcomes: list) -> dict[str, list[str]]:
    pages: dict[str, list[str]] = {}
    for outcome in outcomes:
        if isinstance(outcome, Sample):
            pages.setdefault(outcome.metadata["chapter"]["href"], []).append(outcome.text)
    return pages


def assert_covered(path: Path, outcomes: list, share: float = 1.0, ruby: str = "aozora") -> None:
    found, total, per_doc = book_coverage(str(path), pages_by_document(outcomes), ruby)
    assert total and found / total >= share, per_doc


def test_case_changing_css_keeps_the_chapter_with_the_text_the_page_shows(tmp_path):
    style = ("<style>.loud{text-transform:uppercase} .caps{font-variant:small-caps}"
             " p.drop::first-letter{text-transform:uppercase;float:left;font-size:3em}"
             " dfn::after{content:', n.'} .stage::before{content:'('} .stage::after{content:')'}</style>")
    chapter = xhtml('<p class="loud">this text is a combination of cases.</p>'
                    '<p class="caps">The Gift of the Magi</p>'
                    '<p class="drop">once upon a time there was a lighthouse.</p>'
                    '<p><dfn>Abasement</dfn> a decent and customary mental attitude.</p>'
                    '<p>Then he <i class="stage">exits</i> quietly.</p>', head=style)
    path = build_epub(tmp_path / "cases.epub", [("c.xhtml", chapter)])
    outcomes = read_book(tmp_path, path)
    assert [type(o) for o in outcomes] == [Sample], [o for o in outcomes if isinstance(o, Reject)]
    sample = outcomes[0]
    assert sample.text == ("THIS TEXT IS A COMBINATION OF CASES.\n\nTHE GIFT OF THE MAGI\n\n"
                           "Once upon a time there was a lighthouse.\n\n"
                           "Abasement, n. a decent and customary mental attitude.\n\nThen he (exits) quietly.")
    assert sample.metadata["display_transforms"] == ["text-transform", "small-caps", "first-letter", "generated"]
    assert_covered(path, outcomes)


def test_a_page_without_display_transforms_says_so(tmp_path):
    path = build_epub(tmp_path / "plain.epub", [("c.xhtml", xhtml("<p>Nothing changes case here.</p>"))])
    sample, = read_book(tmp_path, path)
    assert sample.text == "Nothing changes case here." and sample.metadata["display_transforms"] == []


ENCRYPTION = ('<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
              'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:EncryptionMethod '
              'Algorithm="{algorithm}"/><enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData>'
              '</enc:EncryptedData></encryption>')


def test_encrypted_books_are_one_reject_with_their_own_reason(tmp_path):
    cipher = ENCRYPTION.format(algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc", uri="OEBPS/text/c.xhtml")
    books = {"cipher": {"encryption.xml": cipher.encode()}, "adept": {"rights.xml": b"<rights/>"}}
    for name, meta_inf in books.items():
        path = build_epub(tmp_path / f"{name}.epub", [("c.xhtml", b"\x93\x02 not xhtml")], meta_inf=meta_inf)
        reject, = read_book(tmp_path, path)
        assert (reject.reason, reject.item, reject.stage) == ("encrypted", "book", "read"), name


def test_adobe_obfuscated_fonts_are_restored_and_the_book_renders(tmp_path):
    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").read_bytes()
    uuid = "urn:uuid:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    key = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    obfuscated = bytes(b ^ key[i % 16] for i, b in enumerate(font[:1024])) + font[1024:]
    style = ("<style>@font-face{font-family:Book;src:url(../fonts/f.ttf)} p{font-family:Book}</style>")
    path = build_epub(tmp_path / "adobe.epub", [("c.xhtml", xhtml("<p>Obfuscated but readable.</p>", head=style))],
                      files={"fonts/f.ttf": obfuscated}, identifier=uuid,
                      meta_inf={"encryption.xml": ENCRYPTION.format(
                          algorithm="http://ns.adobe.com/pdf/enc#RC", uri="OEBPS/fonts/f.ttf").encode()})
    book = open_epub(str(path), tmp_path / "work")
    assert (book.root / "OEBPS/fonts/f.ttf").read_bytes() == font
    sample, = read_book(tmp_path, path)
    assert sample.text == "Obfuscated but readable."


def fixed_layout_epub(tmp_path: Path) -> Path:
    """A pre-paginated book: a text page designed at 800x1200, then a picture page."""
    viewport = '<meta name="viewport" content="width=800, height=1200"/>'
    text_page = xhtml('<p style="position:absolute;left:600px;top:1000px;margin:0">Designed page text.</p>',
                      head=viewport)
    picture = xhtml('<svg xmlns="http://www.w3.org/2000/svg" width="100%" height="100%" viewBox="0 0 800 1200">'
                    '<rect width="800" height="1200" fill="#369"/></svg>', head=viewport)
    path = build_epub(tmp_path / "fixed.epub", [("p1.xhtml", text_page), ("p2.xhtml", picture)])
    # rendition:layout for the whole book (OPF metadata), as fixed-layout books declare it
    from zipfile import ZipFile

    with ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    entries["OEBPS/content.opf"] = entries["OEBPS/content.opf"].replace(
        b"</metadata>", b'<meta property="rendition:layout">pre-paginated</meta></metadata>')
    with ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_fixed_layout_pages_render_at_their_viewport_and_picture_pages_have_their_reason(tmp_path):
    path = fixed_layout_epub(tmp_path)
    text_page, picture = read_book(tmp_path, path)
    # Laid out at 800x1200 and scaled into the 600x800 page: text near the bottom right
    # corner of the design is on the page, not cut off or moved to a second page.
    assert isinstance(text_page, Sample) and text_page.text == "Designed page text."
    assert text_page.metadata["layout"] == {"pre_paginated": True, "viewport": [800, 1200]}
    assert text_page.image_size == (600, 800) and text_page.metadata["pages"] == 1
    assert (picture.reason, picture.stage) == ("fixed_layout_image_page", "page_content")
    kept = read_book(tmp_path, path, "ebooks.pages.empty_text=keep")
    assert [o.text for o in kept if isinstance(o, Sample)] == ["Designed page text.", ""]
    assert_covered(path, kept)


def with_spine_direction(path: Path, direction: str) -> Path:
    """The book's spine reads `direction` (page-progression-direction)."""
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    entries["OEBPS/content.opf"] = entries["OEBPS/content.opf"].replace(
        b"<spine>", f'<spine page-progression-direction="{direction}">'.encode())
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_a_two_page_arabic_chapter_reads_right_to_left_in_logical_order(tmp_path):
    from PIL import Image, ImageOps

    lines = [f"هذا سطر قصير رقم {n}" for n in range(1, 41)]
    chapter = xhtml("".join(f"<p>{line}</p>" for line in lines), lang="ar").replace(b"<html ", b'<html dir="rtl" ')
    path = with_spine_direction(build_epub(tmp_path / "ar.epub", [("c.xhtml", chapter)]), "rtl")
    pages = read_book(tmp_path, path, "ebooks.template=serif")
    assert len(pages) >= 2 and all(isinstance(p, Sample) for p in pages), pages
    # Logical order: page 0 starts with line 1, the last page ends with line 40, nothing
    # lost or repeated between them.
    texts = [p.text.split("\n\n") for p in pages]
    assert [line for page in texts for line in page] == lines
    assert pages[0].metadata["chapter"]["direction"] == "rtl"
    assert pages[0].metadata["book"]["page_progression"] == "rtl"
    for page in pages:  # short lines stand at the right margin
        ink = ImageOps.invert(Image.open(io.BytesIO(page.image)).convert("L")).getbbox()
        assert ink[0] > 600 / 2 and ink[2] > 600 - 80 - 4, ink
    assert_covered(path, pages)


def test_a_two_page_vertical_japanese_chapter_reads_in_its_own_order(tmp_path):
    from PIL import Image, ImageOps

    sentence = "むかしむかし、ある山のふもとに、おじいさんとおばあさんがすんでいました。"
    lines = [f"第{n}話。" + sentence for n in range(1, 9)]
    style = "<style>html{writing-mode:vertical-rl}</style>"
    chapter = xhtml("".join(f"<p>{line}</p>" for line in lines), lang="ja", head=style)
    path = with_spine_direction(build_epub(tmp_path / "ja.epub", [("c.xhtml", chapter)]), "rtl")
    pages = read_book(tmp_path, path, "ebooks.template=serif")
    assert len(pages) == 2 and all(isinstance(p, Sample) for p in pages), pages
    # Reading order: page 0 starts with story 1, page 1 ends with story 8, every line once.
    assert [line for page in pages for line in page.text.split("\n\n")] == lines
    assert [p.metadata["page_index"] for p in pages] == [0, 1]
    meta = pages[0].metadata
    assert (meta["chapter"]["writing_mode"], meta["book"]["page_progression"]) == ("vertical-rl", "rtl")
    # Lines stand top to bottom and follow right to left: page 1 holds the last few lines,
    # in the right part of its image, the left part empty.
    ink = ImageOps.invert(Image.open(io.BytesIO(pages[1].image)).convert("L")).getbbox()
    assert ink[0] > 600 / 2 and ink[2] > 600 - 80 - 12 and ink[1] < 72 + 10, ink
    assert_covered(path, pages)


def test_mathml_with_a_tex_annotation_is_written_as_latex(tmp_path):
    formula = ('<math xmlns="http://www.w3.org/1998/Math/MathML"{display}><semantics><mrow><msup><mi>x</mi><mn>2</mn>'
               '</msup><mo>+</mo><mi>y</mi></mrow><annotation encoding="application/x-tex">{tex}</annotation>'
               '</semantics></math>')
    inline = formula.format(display="", tex="x^2 + y")
    block = formula.format(display=' display="block"', tex="x^{2} + y_{b}")
    chapter = xhtml(f"<p>Inline {inline} here.</p><p>{block}</p>"
                    '<p>Bare <math xmlns="http://www.w3.org/1998/Math/MathML"><mi>z</mi></math> too.</p>')
    path = build_epub(tmp_path / "math.epub", [("m.xhtml", chapter)])
    plain, = read_book(tmp_path, path)
    assert plain.text == "Inline $x^2 + y$ here.\n\n$$x^{2} + y_{b}$$\n\nBare $z$ too."
    assert "latex" in plain.metadata["display_transforms"]
    markdown, = read_book(tmp_path, path, "ebooks.text_kind=markdown")
    assert "$$x^{2} + y_{b}$$" in markdown.text  # no markdown escapes inside the LaTeX


def test_mathml_without_annotation_is_converted_to_latex(tmp_path):
    """No TeX annotation (SICP's MathML): pandoc's MathML reader writes the LaTeX."""
    math = '<math xmlns="http://www.w3.org/1998/Math/MathML"{}>{}</math>'
    fraction = math.format(' display="block"', "<mfrac><mrow><mi>a</mi><mo>+</mo><mn>1</mn></mrow>"
                           "<msqrt><mi>b</mi></msqrt></mfrac>")
    power = math.format("", "<msup><mi>n</mi><mn>2</mn></msup><mo>&#x2212;</mo><mi>n</mi>")
    chapter = xhtml(f"<p>Square {power} and then</p><p>{fraction}</p><p>the end.</p>")
    path = build_epub(tmp_path / "mathml.epub", [("m.xhtml", chapter)])
    sample, = read_book(tmp_path, path)
    assert sample.text == "Square $n^{2} - n$ and then\n\n$$\\frac{a + 1}{\\sqrt{b}}$$\n\nthe end."
    assert sample.metadata["display_transforms"] == ["latex"]
    assert_covered(path, [sample])
    assert book_formulas(str(path), pages_by_document([sample])) == (2, 2)
