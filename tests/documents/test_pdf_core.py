"""documents.pdf: checking, rasterising and reading PDFs written by hand here (no TeX needed)."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from vlforge.documents.pdf import PdfRejected, open_pdf

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pages": 100}


def pdf_bytes(pages: list[dict], encrypt: bytes = b"", doc_id: bytes = b"0123456789abcdef") -> bytes:
    """A valid PDF with a correct xref: catalog 1, page tree 2, Helvetica 3, then a page and
    its content stream per page. Page keys: size (points), content (a stream, left
    unencrypted: only pages of unencrypted files carry one), rotate."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for page in pages:
        number = len(objects) + 1
        width, height = page.get("size", (612, 792))
        rotate = f" /Rotate {page['rotate']}" if page.get("rotate") else ""
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}]{rotate} "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {number + 1} 0 R >>".encode())
        stream = page.get("content", b"")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(f"{number} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    return _assemble(objects, encrypt, doc_id)


def _assemble(objects: list[bytes], encrypt: bytes, doc_id: bytes) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    if encrypt:
        objects = [*objects, encrypt]
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    encrypt_ref = b" /Encrypt %d 0 R" % len(objects) if encrypt else b""
    hex_id = doc_id.hex().encode()
    out += (b"trailer\n<< /Size %d /Root 1 0 R%s /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, encrypt_ref, hex_id, hex_id, xref))
    return bytes(out)


# The standard security handler, revision 2 (40-bit RC4), from the PDF reference.
_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def encrypt_dict(user: bytes, owner: bytes, doc_id: bytes, permissions: int = -44) -> bytes:
    owner_key = hashlib.md5((owner + _PAD)[:32]).digest()[:5]
    o_entry = _rc4(owner_key, (user + _PAD)[:32])
    key = hashlib.md5((user + _PAD)[:32] + o_entry + struct.pack("<i", permissions) + doc_id).digest()[:5]
    u_entry = _rc4(key, _PAD)
    return (b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
            % (o_entry.hex().encode(), u_entry.hex().encode(), permissions))


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
        with pytest.raises(PdfRejected) as caught:
            doc.render_page(0)
        assert (caught.value.reason, caught.value.page) == ("page_too_large", 0)
        assert doc.render_page(1).size == (816, 1056)  # the other page is fine


def test_password_protected_pdf_is_rejected(tmp_path):
    doc_id = b"0123456789abcdef"
    data = pdf_bytes([{}], encrypt=encrypt_dict(b"secret", b"owner", doc_id), doc_id=doc_id)
    with pytest.raises(PdfRejected) as caught:
        open_pdf(write(tmp_path, "locked.pdf", data), **LIMITS)
    assert caught.value.reason == "encrypted_pdf" and "password" in caught.value.detail


def test_owner_password_only_pdf_is_rejected_unless_allowed(tmp_path):
    doc_id = b"fedcba9876543210"
    path = write(tmp_path, "owner.pdf", pdf_bytes([{}], encrypt=encrypt_dict(b"", b"owner", doc_id), doc_id=doc_id))
    with pytest.raises(PdfRejected) as caught:
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
        with pytest.raises(PdfRejected) as caught:
            open_pdf(path, **limits)
        assert caught.value.reason == reason, path
        assert caught.value.page is None


def test_garbage_and_truncated_files_never_crash(tmp_path):
    good = pdf_bytes([TEXT_PAGE, TEXT_PAGE, TEXT_PAGE])
    for name, data in [("garbage.pdf", bytes(range(256)) * 8), ("empty-file.pdf", b""),
                       ("header-only.pdf", b"%PDF-1.7\n")]:
        with pytest.raises(PdfRejected) as caught:
            open_pdf(write(tmp_path, name, data), **LIMITS)
        assert caught.value.reason == "broken_pdf", name
    for cut in range(16, len(good), max(1, len(good) // 40)):
        path = write(tmp_path, f"cut-{cut}.pdf", good[:cut])
        try:
            doc = open_pdf(path, **LIMITS)
        except PdfRejected as exc:
            assert exc.reason in ("broken_pdf", "zero_pages"), (cut, exc)
            continue
        with doc:  # what PDFium repaired must render or fail as a page-level reject
            for index in range(doc.page_count):
                try:
                    assert doc.render_page(index, dpi=24).mode == "RGB"
                except PdfRejected as exc:
                    assert exc.page == index
