"""Open, check and rasterise PDFs with pypdfium2 (PDFium): the core both document paths share.

    open_pdf(path, max_bytes=..., max_pages=...) -> PdfDocument     or raises Rejected
    doc.render_page(i, dpi=96)            -> PIL RGB image at that resolution
    doc.render_page(i, size=(672, 896))   -> PIL RGB image fitted into that box
    doc.page_text(i)                      -> the page's text layer, "\\n" line ends
    doc.page_size_points(i)               -> (width, height) in PDF points, /Rotate applied

Whatever the bytes are, the caller gets a PdfDocument or a vlforge Rejected with a stable
snake_case `reason` and a human `detail`; PDFium errors never escape. Document-level reasons:

    not_a_file        the path is missing, a directory or unreadable
    pdf_too_large     the file is larger than max_bytes (checked before PDFium reads it)
    encrypted_pdf     needs a password, uses an unsupported security handler, or is encrypted
                      at all (permissions-only "owner password" files too, unless
                      allow_encrypted=True: their owner restricted copying)
    broken_pdf        PDFium cannot parse it (garbage, truncated past repair, not a PDF)
    zero_pages        parses but has no pages
    too_many_pages    more than max_pages pages

Page-level reasons (the detail starts with "page N", 1-based), so a caller rejects that page and
goes on with the others: page_load_failed, page_too_large (the bitmap would exceed
max_page_pixels: a poster-sized page at 96 dpi is gigabytes), page_render_failed,
page_text_failed.

Form fields are not drawn (no init_forms): what is rendered then matches the text layer that
page_text reads, which holds no field values either. Rendering is PDFium's `render(scale)` +
`to_pil()`, the same calls a bare loop makes, with the bytes in RGB order straight from PDFium
(rev_byteorder) so PIL copies rather than swizzles; bench/rasterise.py checks the overhead.
"""

from __future__ import annotations

import functools
import importlib.metadata
import math
import os
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from vlforge.errors import Rejected

DEFAULT_DPI = 96.0  # Nougat's rasterisation default
POINTS_PER_INCH = 72.0
DEFAULT_MAX_PAGE_PIXELS = 40_000_000  # ~A0 at 150 dpi; 120 MB of RGB


@functools.lru_cache(maxsize=1)
def tool_versions() -> dict[str, str]:
    """pypdfium2 and the PDFium build it bundles, for provenance."""
    try:
        wrapper = importlib.metadata.version("pypdfium2")
    except importlib.metadata.PackageNotFoundError:
        wrapper = str(pdfium.PYPDFIUM_INFO)
    return {"pypdfium2": wrapper, "pdfium": str(pdfium.PDFIUM_INFO)}


def open_pdf(path: str | os.PathLike, *, max_bytes: int, max_pages: int,
             allow_encrypted: bool = False,
             max_page_pixels: int = DEFAULT_MAX_PAGE_PIXELS) -> PdfDocument:
    """The checked document, or Rejected with a document-level reason (module docstring)."""
    size = _file_size(Path(path))
    if size > max_bytes:
        raise Rejected("pdf_too_large", f"{size} bytes > max_bytes {max_bytes}")
    handle = _load(Path(path))
    try:
        _check_encryption(handle, allow_encrypted)
        pages = len(handle)
        if pages == 0:  # PDFium refuses most such files at load; in case one opens
            raise Rejected("zero_pages", "the PDF has no pages")
        if pages > max_pages:
            raise Rejected("too_many_pages", f"{pages} pages > max_pages {max_pages}")
    except BaseException:
        handle.close()
        raise
    return PdfDocument(handle, pages, max_page_pixels)


def _file_size(path: Path) -> int:
    try:
        stat = path.stat()
    except OSError as exc:
        raise Rejected("not_a_file", f"{type(exc).__name__}: {exc.strerror or exc}") from None
    if not path.is_file():
        raise Rejected("not_a_file", f"{path} is not a regular file")
    try:  # readable by us: PDFium's own "cannot read" would be mistaken for no pages (_load)
        path.open("rb").close()
    except OSError as exc:
        raise Rejected("not_a_file", f"{type(exc).__name__}: {exc.strerror or exc}") from None
    return stat.st_size


# PDFium's load error codes -> our reasons. Anything unknown is treated as a broken file.
_LOAD_ERRORS = {
    pdfium_c.FPDF_ERR_PASSWORD: ("encrypted_pdf", "the PDF needs a password to open"),
    pdfium_c.FPDF_ERR_SECURITY: ("encrypted_pdf", "unsupported security handler"),
    pdfium_c.FPDF_ERR_FORMAT: ("broken_pdf", "not a PDF, or damaged beyond repair"),
}
# PDFium refuses a document without pages but sets no error code for it: the code read back
# is whatever the previous failure left (a password error from the file before, say). So
# every load starts by failing on purpose with FPDF_ERR_FILE, on a path that cannot exist;
# seeing that code again after the real load failed means "parsed, but no pages". (The
# real file was stat'ed just before, so PDFium's own FILE error is not expected here.)
_NO_SUCH_FILE = b"/nonexistent/vlforge-reset-pdfium-last-error.pdf"


def _load(path: Path) -> pdfium.PdfDocument:
    pdfium_c.FPDF_LoadDocument(_NO_SUCH_FILE, None)
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_FILE:
            raise Rejected("zero_pages", "PDFium parsed the file but found no pages (an empty "
                                            "or missing page tree)") from None
        reason, detail = _LOAD_ERRORS.get(exc.err_code, ("broken_pdf", f"PDFium error: {exc}"))
        raise Rejected(reason, detail) from None
    except OSError as exc:  # gone between the stat and the open
        raise Rejected("not_a_file", f"{type(exc).__name__}: {exc}") from None


def _check_encryption(handle: pdfium.PdfDocument, allow_encrypted: bool) -> None:
    """Refuses permissions-only encryption too: it opens, but its owner restricted use."""
    revision = pdfium_c.FPDF_GetSecurityHandlerRevision(handle)
    if revision != -1 and not allow_encrypted:
        raise Rejected("encrypted_pdf", f"encrypted (standard security handler revision {revision}), "
                                           "opens without a password; allow_encrypted is off")


class PdfDocument:
    """An open, checked PDF. Not thread-safe (PDFium is not): one per worker at a time."""

    def __init__(self, handle: pdfium.PdfDocument, page_count: int, max_page_pixels: int):
        self._pdf = handle
        self.page_count = page_count
        self.max_page_pixels = max_page_pixels

    def close(self) -> None:
        self._pdf.close()

    def __enter__(self) -> PdfDocument:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def page_size_points(self, index: int) -> tuple[float, float]:
        """(width, height) in PDF points (1/72 in) as displayed: /Rotate is applied."""
        page = self._page(index)
        try:
            return page.get_size()
        finally:
            page.close()

    def render_page(self, index: int, *, dpi: float | None = None,
                    size: tuple[int, int] | None = None) -> Image.Image:
        """The page as an RGB image.

        dpi:  pixels per inch (default 96, Nougat's); each side is ceil(points * dpi / 72)
              pixels, where a product within 1e-6 of a whole number counts as that number
              (792 pt at 150 dpi is 1650 px, not the 1651 that float rounding would give).
        size: (width, height) box: the page is scaled, aspect kept, to the largest size that
              fits inside the box, so one side equals the box (to the pixel) and the other is
              at most the box; nothing is padded or cropped (padding to the exact box is the
              model processor's job). dpi and size together are an error.
        """
        if dpi is not None and size is not None:
            raise ValueError("render_page takes dpi or size, not both")
        page = self._page(index)
        try:
            points = page.get_size()
            scale = _fit_scale(points, size) if size else _dpi_scale(points, dpi or DEFAULT_DPI)
            self._check_pixels(index, points, scale)
            try:
                return page.render(scale=scale, rev_byteorder=True).to_pil()
            except (pdfium.PdfiumError, ValueError, MemoryError) as exc:
                raise Rejected("page_render_failed", f"page {index + 1}: {exc}") from None
        finally:
            page.close()

    def page_text(self, index: int) -> str:
        """The text layer of the page in PDFium's reading order, with "\\n" line ends."""
        page = self._page(index)
        try:
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_range()
            finally:
                textpage.close()
        except pdfium.PdfiumError as exc:
            raise Rejected("page_text_failed", f"page {index + 1}: {exc}") from None
        finally:
            page.close()
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def _page(self, index: int) -> pdfium.PdfPage:
        if not 0 <= index < self.page_count:
            raise IndexError(f"page index {index} outside 0..{self.page_count - 1}")
        try:
            return self._pdf[index]
        except pdfium.PdfiumError as exc:
            raise Rejected("page_load_failed", f"page {index + 1}: {exc}") from None

    def _check_pixels(self, index: int, points: tuple[float, float], scale: float) -> None:
        width, height = (math.ceil(p * scale) for p in points)
        if width < 1 or height < 1:
            raise Rejected("page_render_failed", f"page {index + 1} is empty ({points} points)")
        if width * height > self.max_page_pixels:
            raise Rejected("page_too_large", f"page {index + 1} would be {width}x{height} pixels "
                                                f"> max_page_pixels {self.max_page_pixels}")


def _dpi_scale(points: tuple[float, float], dpi: float) -> float:
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    scale = dpi / POINTS_PER_INCH
    return _within(points, tuple(max(1, math.ceil(p * scale - 1e-6)) for p in points), scale)


def _fit_scale(points: tuple[float, float], box: tuple[int, int]) -> float:
    """The largest scale at which ceil(points * scale) fits inside box, per side."""
    (width, height), (box_w, box_h) = points, box
    if box_w < 1 or box_h < 1:
        raise ValueError(f"size must be positive, got {box}")
    if width <= 0 or height <= 0:
        return 1.0  # _check_pixels rejects the page
    return _within(points, box, min(box_w / width, box_h / height))


def _within(points: tuple[float, float], pixels: tuple[int, ...], scale: float) -> float:
    """`scale`, lowered by a few ulps if needed so that PDFium's ceil(points * scale) gives
    no more than `pixels` on either side (float error may push a side one pixel over)."""
    while any(math.ceil(p * scale) > limit for p, limit in zip(points, pixels, strict=True)):
        scale = math.nextafter(scale, 0.0)
    return scale
