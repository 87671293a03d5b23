"""documents.pdf: checking, rasterising and reading PDFs written by hand here (no TeX needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from pdf_samples import encrypt_dict, pdf_bytes

from vlforge.documents.pdf import open_pdf
from vlforge.errors import Rejected

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pages": 100}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


TEXT_PAGE = {"content": b"BT /F1 24 Tf 72 700 Td (Hello page one) Tj ET\n1 0 0 rg 0 0 100 100 re f"}


def test_valid_pdf_pages_text_and_sizes(tmp_path):
    path = write(tmp_path, "ok.pdf", pdf_bytes([TEXT_PAGE, {"size": (300, 200), "rotate": 90,
                                                             "content": b"BT /F1 12 Tf 20 20 Td (Second) Tj ET"}]))
    with open_pdf(path, **LIMITS) as doc:
        assert doc.page_count == 2
        assert doc.page_text(0).strip() == "Hello page one"
        assert doc.page_text(1).strip() == "Second"
        assert doc.page_size_points(0) == (612, 792)
        assert doc.page_size_points(1) == (200, 300)  # /Rotate 90 turns the page
        with pytest.raises(IndexError):
            doc.page_text(2)


def test_render_dpi_size_and_colour_order(tmp_path):
    path = write(tmp_path, "ok.pdf", pdf_bytes([TEXT_PAGE, {"size": (300, 200), "rotate": 90}]))
    with open_pdf(path, **LIMITS) as doc:
        default = doc.render_page(0)
        assert default.mode == "RGB" and default.size == (816, 1056)  # 96 dpi, Nougat's default
        assert doc.render_page(0, dpi=72).size == (612, 792)
        assert doc.render_page(0, dpi=150).size == (1275, 1650)
        # The box 672x896 (Nougat's input, width x height): aspect kept, one side touches it.
        assert doc.render_page(0, size=(672, 896)).size == (672, 870)
        assert doc.render_page(0, size=(2000, 200)).size == (155, 200)
        assert doc.render_page(1, dpi=72).size == (200, 300)
        # The red square at the bottom-left corner comes out red (RGB, not BGR).
        assert default.getpixel((10, 1050)) == (255, 0, 0)
        assert default.getpixel((400, 10)) == (255, 255, 255)
        with pytest.raises(ValueError):
            doc.render_page(0, dpi=96, size=(10, 10))


def test_render_matches_a_bare_pypdfium2_render(tmp_path):
    path = write(tmp_path, "ok.pdf", pdf_bytes([TEXT_PAGE]))
    with open_pdf(path, **LIMITS) as doc:
        ours = doc.render_page(0, dpi=96)
    bare = pdfium.PdfDocument(str(path))
    try:
        theirs = bare[0].render(scale=96 / 72).to_pil()
    finally:
        bare.close()
    assert ours.tobytes() == theirs.tobytes()


def test_huge_page_is_a_page_level_reject(tmp_path):
    path = write(tmp_path, "poster.pdf", pdf_bytes([{"size": (14400, 14400)}, {}]))
    with open_pdf(path, **LIMITS, max_page_pixels=20_000_000) as doc:
        with pytest.raises(Rejected) as caught:
            doc.render_page(0)
        assert caught.value.reason == "page_too_large" and caught.value.detail.startswith("page 1 ")
        assert doc.render_page(1).size == (816, 1056)  # the other page is fine


def test_password_protected_pdf_is_rejected(tmp_path):
    doc_id = b"0123456789abcdef"
    data = pdf_bytes([{}], encrypt=encrypt_dict(b"secret", b"owner", doc_id), doc_id=doc_id)
    with pytest.raises(Rejected) as caught:
        open_pdf(write(tmp_path, "locked.pdf", data), **LIMITS)
    assert caught.value.reason == "encrypted_pdf" and "password" in caught.value.detail


def test_owner_password_only_pdf_is_rejected_unless_allowed(tmp_path):
    doc_id = b"fedcba9876543210"
    path = write(tmp_path, "owner.pdf", pdf_bytes([{}], encrypt=encrypt_dict(b"", b"owner", doc_id), doc_id=doc_id))
    with pytest.raises(Rejected) as caught:
        open_pdf(path, **LIMITS)
    assert caught.value.reason == "encrypted_pdf" and "revision 2" in caught.value.detail
    with open_pdf(path, **LIMITS, allow_encrypted=True) as doc:
        assert doc.page_count == 1


def test_zero_pages_too_many_pages_too_large_not_a_file(tmp_path):
    empty = pdfium.PdfDocument.new()
    empty.save(tmp_path / "empty.pdf")
    empty.close()
    cases = [
        (tmp_path / "empty.pdf", LIMITS, "zero_pages"),
        (write(tmp_path, "three.pdf", pdf_bytes([{}, {}, {}])), {**LIMITS, "max_pages": 2}, "too_many_pages"),
        (write(tmp_path, "big.pdf", pdf_bytes([{}])), {**LIMITS, "max_bytes": 100}, "pdf_too_large"),
        (tmp_path, LIMITS, "not_a_file"),
        (tmp_path / "missing.pdf", LIMITS, "not_a_file"),
    ]
    for path, limits, reason in cases:
        with pytest.raises(Rejected) as caught:
            open_pdf(path, **limits)
        assert caught.value.reason == reason, path
        assert not caught.value.detail.startswith("page ")  # the document, not one page


def test_garbage_and_truncated_files_never_crash(tmp_path):
    good = pdf_bytes([TEXT_PAGE, TEXT_PAGE, TEXT_PAGE])
    for name, data in [("garbage.pdf", bytes(range(256)) * 8), ("empty-file.pdf", b""),
                       ("header-only.pdf", b"%PDF-1.7\n")]:
        with pytest.raises(Rejected) as caught:
            open_pdf(write(tmp_path, name, data), **LIMITS)
        assert caught.value.reason == "broken_pdf", name
    for cut in range(16, len(good), max(1, len(good) // 40)):
        path = write(tmp_path, f"cut-{cut}.pdf", good[:cut])
        try:
            doc = open_pdf(path, **LIMITS)
        except Rejected as exc:
            assert exc.reason in ("broken_pdf", "zero_pages"), (cut, exc)
            continue
        with doc:  # what PDFium repaired must render or fail as a page-level reject
            for index in range(doc.page_count):
                try:
                    assert doc.render_page(index, dpi=24).mode == "RGB"
                except Rejected as exc:
                    assert re.match(rf"page {index + 1}\b", exc.detail), (index, exc.detail)
