"""Small PDFs made in the test run: text pages written with PDFium (pypdfium2), a
password-protected one written by hand, and a page of nothing."""

from __future__ import annotations

import ctypes
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
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <" + b"ab" * 32 + b"> /U <" + b"cd" * 32 + b"> /P -44 >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<" % (len(objects) + 1)
            + b"01" * 16 + b"> <" + b"01" * 16 + b">] >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    path.write_bytes(bytes(out))
    return path
