"""Small PDFs made in the test run: text pages written with PDFium (pypdfium2), and PDFs
written byte by byte (a valid xref, optional RC4 encryption by the standard security
handler) for the cases PDFium will not write: encrypted, odd page sizes, rotation."""

from __future__ import annotations

import ctypes
import hashlib
import struct
from pathlib import Path

# DejaVu Sans covers Latin, Cyrillic, Greek and Arabic (fonts-dejavu-core, a Chromium dependency).
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
LETTER = (612.0, 792.0)  # points


def write_pdf(path: Path, pages: list[list[str]], size: tuple[float, float] = LETTER) -> Path:
    """A PDF whose page i shows the lines pages[i] (an empty list: a blank page), with a
    real text layer (an embedded TrueType font, Unicode text)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    pdf = pdfium.PdfDocument.new()
    data = FONT.read_bytes()
    buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    font = raw.FPDFText_LoadFont(pdf.raw, buffer, len(data), raw.FPDF_FONT_TRUETYPE, True)
    for lines in pages:
        page = pdf.new_page(*size)
        for number, line in enumerate(lines):
            _add_line(pdf, page, font, line, 72.0, size[1] - 90.0 - 22.0 * number)
        page.gen_content()
        page.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.save(str(path))
    pdf.close()
    return path


def _add_line(pdf, page, font, text: str, x: float, y: float) -> None:
    import pypdfium2.raw as raw

    obj = raw.FPDFPageObj_CreateTextObj(pdf.raw, font, 16.0)
    encoded = (text + "\0").encode("utf-16-le")
    wide = ctypes.create_string_buffer(encoded, len(encoded))
    raw.FPDFText_SetText(obj, ctypes.cast(wide, raw.FPDF_WIDESTRING))
    raw.FPDFPageObj_Transform(obj, 1, 0, 0, 1, x, y)
    raw.FPDFPage_InsertObject(page.raw, obj)


def write_encrypted_pdf(path: Path) -> Path:
    """One page behind the standard security handler, with a user password that is not
    empty: PDFium cannot open it without the password."""
    doc_id = b"0123456789abcdef"
    path.write_bytes(pdf_bytes([{}], encrypt=encrypt_dict(b"secret", b"owner", doc_id), doc_id=doc_id))
    return path


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
