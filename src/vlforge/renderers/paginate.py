"""Fixed-size pages of an HTML/XHTML document, each with exactly the text it shows.

The e-book (EPUB) and HTML corpora use this on top of BrowserRenderer.run_in_page, so the
browser stays hermetic (file:/data: only, scripts off) and crash/hang-safe.

How one document becomes pages:

    load      the document itself, from a file: URL, so its own stylesheets, images and
              fonts resolve where they live (inside the unpacked book)
    style     the template's CSS, then the geometry CSS: <body> becomes a fixed-height
              multi-column box whose columns march to the right, `columns` per page, with
              the gaps chosen so that page k is exactly the viewport scrolled to x = k * width.
              A document in vertical writing (writing-mode vertical-rl/-lr: Japanese,
              Chinese) keeps it: its columns are laid out along its inline axis, top to
              bottom, so page k is the viewport scrolled to y = k * height; inside a page
              its lines read top to bottom, right to left, as the book set them
    measure   every rendered text node is cut into pieces at page boundaries, from the boxes
              Chromium laid out (Range.getClientRects): all boxes of a piece fall on its
              page. Each piece knows its paragraph (block) and its inline emphasis.
    shoot     for each page that shows something: scroll to it, screenshot the viewport
    assemble  the pieces of a page, grouped into paragraphs -> plain text and markdown;
              ruby readings written as PaginationSettings.ruby says (write_ruby: Aozora
              Bunko's 茂平《もへい》, the base only, or inline), <rp> fallbacks never

What is checked. A document is refused (a Rejected error) when its pieces, joined, are not
document.body.innerText once whitespace is removed and case folded (text_mismatch:
something lost or doubled at a page break). Right-to-left and vertical documents are
paginated with their content in its own direction; page texts are in logical (reading)
order, and Layout.direction and Layout.writing_mode say how the book reads. A page counts the boxes
of its text that are not inside its image (`outside`; the corpora reject such pages). Text
that the document's CSS puts where no page shows it (the "visually hidden" idiom) is on no
page (`hidden_chars`). List markers are visible text, so page texts include them.

A fresh browser page (one hermetic context, a new renderer process) costs more than a
screenshot, so one renderer call works through documents and pages until it has done
`units_per_call` units (a layout or a screenshot) or spent `call_budget_s`; the next call
lays the current document out again where it stopped (layout is deterministic, which it
checks). A crash or hang costs the unit it happened in: a retry resumes right there.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vlforge.documents import mathml
from vlforge.errors import Rejected, VlforgeError
from vlforge.renderers.browser import BrowserRenderer

if TYPE_CHECKING:
    from playwright.sync_api import Page as BrowserPage

TEMPLATE_DIR = Path(__file__).with_name("templates")

# Piece flags, set by the measuring script (measure.js): how the text is styled...
ITALIC, BOLD, CODE, PRE, BREAK = 1, 2, 4, 8, 16
LATEX = 512  # a formula written as its TeX annotation: markdown keeps it as it is
STYLE = ITALIC | BOLD | CODE | PRE | BREAK | LATEX
# ...and ruby: a piece that is the reading of a ruby (its annotations), the first piece of
# the base that reading is of.
RUBY, RUBY_BASE = 1024, 2048
# ...and how the page's text differs from the document's (display transforms), by name.
TRANSFORMS = {32: "text-transform", 64: "small-caps", 128: "first-letter", 256: "generated", 512: "latex"}


@functools.cache
def measure_script() -> str:
    """The JavaScript function that styles a document into pages and measures its text,
    run with page.evaluate; it ships as package data (renderers/measure.js)."""
    return importlib.resources.files("vlforge.renderers").joinpath("measure.js").read_text(encoding="utf-8")


_TEMPLATE_PROPERTY = re.compile(r"--vlforge-([a-z-]+)\s*:\s*([0-9]+)(?:px)?\s*;")
_CSS_SPACE = re.compile(r"[ \t\n\r\f]+")  # what CSS collapses; no-break spaces stay
_MD_SPECIAL = re.compile(r"([\\`*_\[\]])")
RUBY_MODES = ("aozora", "base", "inline")


# --------------------------------------------------------------------------------------
# Templates and page geometry
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A page look: CSS applied after the document's own, plus margins and columns."""

    name: str
    css: str
    margins: tuple[int, int, int, int]  # top, right, bottom, left (CSS px)
    columns: int = 1

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.css.encode()).hexdigest()[:12]


def parse_template(name: str, css: str) -> Template:
    """A Template from CSS with `--vlforge-margin-top: 64px;` ... `--vlforge-columns: 2;`."""
    values = {key: int(value) for key, value in _TEMPLATE_PROPERTY.findall(css)}
    sides = ("top", "right", "bottom", "left")
    missing = [f"--vlforge-margin-{s}" for s in sides if f"margin-{s}" not in values]
    if missing:
        raise ValueError(f"template {name!r} does not set {', '.join(missing)} (integer px)")
    columns = values.get("columns", 1)
    if columns < 1:
        raise ValueError(f"template {name!r}: --vlforge-columns must be at least 1")
    return Template(name, css, tuple(values[f"margin-{s}"] for s in sides), columns)


def builtin_templates() -> dict[str, Template]:
    return {path.stem: parse_template(path.stem, path.read_text(encoding="utf-8"))
            for path in sorted(TEMPLATE_DIR.glob("*.css"))}


def load_template(path: str | Path) -> Template:
    """A user's template file; its name is the file name without `.css`."""
    path = Path(path)
    return parse_template(path.stem, path.read_text(encoding="utf-8"))


def choose_template(templates: Sequence[Template], digest: str) -> Template:
    """The template for a book, from a digest of its content: stable across re-runs and
    machines, spread evenly over the templates, independent of where the file lies."""
    if not templates:
        raise ValueError("no templates to choose from")
    ordered = sorted(templates, key=lambda t: t.name)
    return ordered[int(hashlib.sha256(digest.encode()).hexdigest()[:8], 16) % len(ordered)]


@dataclass(frozen=True)
class PageSpec:
    width: int = 1024  # CSS px; the PNG is width * device_scale pixels wide
    height: int = 1024
    device_scale: float = 1.0


def geometry_css(template: Template, spec: PageSpec, vertical: bool = False) -> str:
    """CSS that turns <body> into fixed-size pages laid side by side.

    The column gap is margin-left + margin-right, so `columns` columns plus one gap are
    exactly one page wide and page k starts at x = k * width. In vertical writing the
    columns follow the inline axis, downwards: the gap is margin-top + margin-bottom and
    page k starts at y = k * height (columns of a page stand one above the other).
    """
    top, right, bottom, left = template.margins
    n = template.columns
    content_w, content_h = spec.width - left - right, spec.height - top - bottom
    gap, across, along = (top + bottom, spec.height, content_h) if vertical else (left + right, spec.width, content_w)
    if across % n or along - (n - 1) * gap < 64 or min(content_w, content_h) < 64:
        side = "height" if vertical else "width"
        raise ValueError(f"template {template.name!r} does not fit a {spec.width}x{spec.height} "
                         f"page ({side} divisible by {n} and room for text needed)")
    return _GEOMETRY_CSS % {
        "W": spec.width, "H": spec.height, "top": top, "left": left, "cw": content_w,
        "ch": content_h, "n": n, "gap": gap,
    }


# !important everywhere: the document's CSS must not move the page grid.
_GEOMETRY_CSS = """
html { margin: 0 !important; padding: 0 !important; border: 0 !important;
  overflow: hidden !important; width: %(W)dpx; height: %(H)dpx !important;
  min-width: 0 !important; max-width: none !important; min-height: 0 !important;
  max-height: none !important; transform: none !important; zoom: 1 !important;
  columns: auto !important; }
body { display: block !important; position: absolute !important; float: none !important;
  left: %(left)dpx !important; top: %(top)dpx !important; right: auto !important;
  bottom: auto !important; margin: 0 !important; padding: 0 !important; border: 0 !important;
  box-sizing: content-box !important; width: %(cw)dpx !important; height: %(ch)dpx !important;
  min-width: 0 !important; max-width: none !important; min-height: 0 !important;
  max-height: none !important; overflow: visible !important; transform: none !important;
  zoom: 1 !important; column-count: %(n)d !important; column-width: auto !important;
  column-gap: %(gap)dpx !important; column-fill: auto !important; column-rule: none !important;
  hyphens: none !important; }
body * { column-count: auto !important; column-width: auto !important;
  column-span: none !important; hyphens: none !important; overflow-wrap: break-word; }
body :is(img, svg, video, canvas, object, embed, iframe) { max-width: 100%% !important;
  max-height: %(ch)dpx !important; object-fit: contain; break-inside: avoid; }
body pre { white-space: pre-wrap !important; }
body table { max-width: 100%%; }
"""


# --------------------------------------------------------------------------------------
# Inputs and results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """What to load: a file: URL, its template, the folders it may read, and, for XHTML,
    an HTML-parsed copy to fall back on when it is not well-formed (None: refuse it)."""

    url: str
    template: Template
    roots: tuple[str, ...] = ()
    recover_url: str | None = None
    # A fixed-layout page: laid out at its own viewport (its <meta name="viewport">, else
    # `viewport`), without the template, scaled to fit the page image; one page.
    pre_paginated: bool = False
    viewport: tuple[int, int] | None = None


@dataclass(frozen=True)
class PaginationSettings:
    spec: PageSpec = field(default_factory=PageSpec)
    # Work per browser page (one fresh context): a layout or a screenshot is one unit. More
    # means fewer page set-ups; a crash or hang costs the unit it happened in, nothing more.
    units_per_call: int = 256
    call_budget_s: float = 60.0  # no new unit is started in a call after this long
    page_timeout_s: float = 10.0  # one screenshot
    load_timeout_s: float = 30.0  # loading one document (its images, stylesheets, fonts)
    max_pages: int = 1000  # a longer document is refused (too_many_pages)
    check_text: bool = True  # refuse documents whose pieces do not add up (text_mismatch)
    # Ruby readings in page texts: aozora 茂平《もへい》, base 茂平, inline 茂平もへい.
    ruby: str = "aozora"

    def __post_init__(self):
        if self.ruby not in RUBY_MODES:
            raise VlforgeError(f"pages.ruby must be one of {', '.join(RUBY_MODES)}, not {self.ruby!r}")

    @property
    def call_timeout_s(self) -> float:
        """Hard limit for one browser call (the renderer's watchdog): the budget plus one
        unit that started just before it ran out."""
        return self.call_budget_s + self.load_timeout_s + self.page_timeout_s


@dataclass
class PageText:
    index: int
    plain: str
    markdown: str
    images: int = 0  # images, SVGs, videos... shown on the page
    outside: int = 0  # boxes of this page's text that are not inside its image
    fixed_layout: bool = False  # a pre-paginated page, laid out as designed
    # How the page shows its text differently from the document's characters: CSS case
    # transforms, small capitals, drop caps, generated content (names in TRANSFORMS).
    transforms: tuple[str, ...] = ()
    ruby: int = 0  # ruby readings on the page (a base with its reading is one)

    @property
    def blank(self) -> bool:
        return not self.plain.strip() and not self.images


@dataclass
class Layout:
    """A laid-out document: its pages' texts and what the browser said about it."""

    pages: list[PageText]
    text: str  # document.body.innerText: what the pages' texts add up to
    hidden_chars: int  # characters in the DOM text that no page shows (placed off-page)
    title: str
    language: str
    parsed_as: str  # "xhtml" or "html" (HTML also for malformed XHTML that was recovered)
    url: str
    signature: list
    blocked: list[str] = field(default_factory=list)  # requests the router refused
    fixed_viewport: tuple[int, int] | None = None  # the viewport a fixed-layout page was laid out at
    direction: str = "ltr"  # the document's own (its body's) direction: "rtl" for Arabic, Hebrew...
    writing_mode: str = "horizontal-tb"  # its body's: vertical-rl for vertical Japanese, Chinese
    # Characters (whitespace aside) that the pages' ruby notation adds to `text` (《》 and ｜
    # in aozora), or takes from it (negative: the readings, left out in base).
    ruby_chars: int = 0

    @property
    def vertical(self) -> bool:
        """Pages follow one another downwards (page k at y = k * height), not to the right."""
        return self.writing_mode.startswith("vertical")


@dataclass
class Page:
    text: PageText
    png: bytes | None = None  # None for a blank page (nothing to shoot) or a failed one
    error: Rejected | None = None  # why its screenshot failed


# What paginate() yields, in document order: (document index, event). Per document either
# one Rejected (refused or failed as a whole), or its Layout followed by all its Pages.
Event = tuple[int, "Layout | Rejected | Page"]


# --------------------------------------------------------------------------------------
# Paginating documents
# --------------------------------------------------------------------------------------


def paginate(renderer: BrowserRenderer, docs: Sequence[Document], settings: PaginationSettings) -> Iterator[Event]:
    """Lay out each document and shoot its pages, many documents per browser page.

    Documents share browser pages (see the module docstring): results never depend on
    where one call ended and the next began.
    """
    yield from _Session(renderer, docs, settings).events()


class _Session:
    """Where the work stands (document, page): a call picks up there, also after a crash,
    so a retried call redoes only the unit that failed."""

    def __init__(self, renderer: BrowserRenderer, docs: Sequence[Document], settings: PaginationSettings):
        self.renderer, self.docs, self.settings = renderer, docs, settings
        self.doc = 0  # the document in progress
        self.layout: Layout | None = None  # its layout, once known
        self.page = 0  # its next page
        self.out: list[Event] = []
        self.roots = tuple(dict.fromkeys(root for d in docs for root in d.roots))

    def events(self) -> Iterator[Event]:
        while self.doc < len(self.docs):
            try:
                self.renderer.run_in_page(self._work, file_roots=self.roots)
            except Rejected as exc:  # retries spent: the unit in progress fails alone
                self._fail(exc)
            yield from self.out
            self.out = []

    def _fail(self, exc: Rejected) -> None:
        if self.layout is None:
            self._emit(exc)
            self._next_document()
        else:
            self._emit(Page(self.layout.pages[self.page], error=exc))
            self._advance_page()

    def _emit(self, event: Layout | Rejected | Page) -> None:
        self.out.append((self.doc, event))

    def _next_document(self) -> None:
        self.doc, self.layout, self.page = self.doc + 1, None, 0

    def _advance_page(self) -> None:
        self.page += 1
        if self.layout is not None and self.page >= len(self.layout.pages):
            self._next_document()

    def _work(self, page: BrowserPage) -> None:
        budget = _Budget(self.settings)
        while self.doc < len(self.docs) and budget.left():
            budget.spend()
            if not self._load(page, self.docs[self.doc]):
                continue
            shot = False  # at least one page per load, so that every call makes progress
            while self.layout is not None and (budget.left() or not shot):
                if self._shoot_next(page):
                    budget.spend()
                    shot = True
                self._advance_page()

    def _load(self, page: BrowserPage, doc: Document) -> bool:
        """Lay the current document out in `page`; False when it is done with (refused)."""
        blocked_before = len(page.vlforge_blocked_requests)
        try:
            if self.layout is None:
                self.layout = lay_out(page, doc, self.settings)
                self.layout.blocked = page.vlforge_blocked_requests[blocked_before:]
                self._emit(self.layout)
            else:
                _relayout(page, doc, self.settings, self.layout)
            return True
        except Rejected as exc:  # about this document, not the browser: go on
            if self.layout is None:
                self._emit(exc)
                self._next_document()
            else:  # its remaining pages cannot be trusted
                for text in self.layout.pages[self.page:]:
                    self._emit(Page(text, error=exc))
                self._next_document()
            return False

    def _shoot_next(self, page: BrowserPage) -> bool:
        """Shoot the next page; False for a blank page, which needs no screenshot."""
        text = self.layout.pages[self.page]
        if text.blank:
            self._emit(Page(text))
            return False
        self._emit(Page(text, png=shoot(page, text.index, self.settings, self.layout.vertical)))
        return True


class _Budget:
    """How much one browser call may still do: units and seconds."""

    def __init__(self, settings: PaginationSettings):
        self.units = settings.units_per_call
        self.deadline = time.monotonic() + settings.call_budget_s

    def left(self) -> bool:
        return self.units > 0 and time.monotonic() < self.deadline

    def spend(self) -> None:
        self.units -= 1


def lay_out(page: BrowserPage, doc: Document, settings: PaginationSettings) -> Layout:
    """Load, style and measure `doc` in `page`; raises Rejected for a refused document."""
    raw, url = _load_and_measure(page, doc, settings)
    _check_document(raw, settings)
    _formulas_as_latex(raw)
    ruby_chars = write_ruby(raw["pieces"], settings.ruby)
    layout = _layout(raw, url, ruby_chars)
    if not layout.pages:
        raise Rejected("empty_document", "no visible text or image")
    return layout


def _load_and_measure(page: BrowserPage, doc: Document, settings: PaginationSettings) -> tuple[dict, str]:
    config = _script_config(doc, settings, walk=True)
    _open(page, doc.url, settings)
    raw = page.evaluate(measure_script(), config)
    if raw.get("error") != "parsererror":
        return raw, doc.url
    if doc.recover_url is None:
        raise Rejected("malformed_xhtml", "the XHTML is not well-formed XML")
    # The HTML parser recovers from anything, the way a browser tab shows a broken page.
    _open(page, doc.recover_url, settings)
    return page.evaluate(measure_script(), config), doc.recover_url


def _relayout(page: BrowserPage, doc: Document, settings: PaginationSettings, layout: Layout) -> None:
    """The same document laid out again in a fresh page, to shoot its later pages."""
    _open(page, layout.url, settings)
    raw = page.evaluate(measure_script(), _script_config(doc, settings, False, len(layout.pages)))
    if raw.get("signature") != layout.signature:  # e.g. a font that did not load in time
        raise Rejected("unstable_layout", f"{raw.get('signature')} != {layout.signature}")


def _open(page: BrowserPage, url: str, settings: PaginationSettings) -> None:
    page.goto(url, wait_until="load", timeout=settings.load_timeout_s * 1000)


def _script_config(doc: Document, settings: PaginationSettings, walk: bool, pages: int = 0) -> dict:
    return {"templateCss": doc.template.css, "geometryCss": geometry_css(doc.template, settings.spec),
            "verticalGeometryCss": geometry_css(doc.template, settings.spec, vertical=True),
            "width": settings.spec.width, "height": settings.spec.height,
            "maxPages": settings.max_pages, "walk": walk, "pages": pages,
            "fixed": doc.pre_paginated, "viewport": doc.viewport}


def _check_document(raw: dict, settings: PaginationSettings) -> None:
    """Whole-document refusals, before any screenshot is spent on it."""
    if raw.get("error") == "no_body":
        raise Rejected("no_body", "the document has no <body>")
    if raw.get("error") == "too_many_pages":
        raise Rejected("too_many_pages", f"about {raw['pages']} pages > max_pages={settings.max_pages}")
    if settings.check_text:
        _check_text(raw)


def _check_text(raw: dict) -> None:
    """The pieces, in order, must be the document's rendered text, whitespace aside and
    NFKC-folded (innerText shows MathML's automatic italic `<mi>x</mi>` as U+1D465, a style
    of the letter that the page texts keep as a plain "x"). Generated content is in no text
    node, small capitals are capitals on the page only, and a formula written as its LaTeX
    shows MathML characters: those differences are display transforms (PageText.transforms;
    such a piece carries what innerText has as its fifth item), so the comparison uses
    that and leaves case aside."""
    shown = "".join(piece[4] if len(piece) > 4 else piece[3] for piece in raw["pieces"])
    pieces = unicodedata.normalize("NFKC", squash(shown)).casefold()
    expected = unicodedata.normalize("NFKC", squash(raw["text"])).casefold()
    if pieces != expected:
        at = next((i for i, (a, b) in enumerate(zip(pieces, expected, strict=False)) if a != b),
                  min(len(pieces), len(expected)))
        raise Rejected("text_mismatch", f"pages give {len(pieces)} chars, the document "
                          f"{len(expected)}; first difference at {at}: "
                          f"{pieces[at:at + 20]!r} vs {expected[at:at + 20]!r}")


def _formulas_as_latex(raw: dict) -> None:
    """Formulas without a TeX annotation of their own come as [..., fence, MathML chars,
    MathML markup]: written as LaTeX (documents.mathml), all of a document in one go. One
    that does not convert shows its MathML characters, as the page does, and is no 'latex'."""
    formulas = [piece for piece in raw["pieces"] if len(piece) > 5]
    for piece, latex in zip(formulas, mathml.to_latex([piece.pop() for piece in formulas]), strict=True):
        if latex is None:
            piece[2] &= ~LATEX
            piece[3] = piece[4]
        else:
            piece[3] = piece[3] + latex + piece[3]


def write_ruby(pieces: list, mode: str) -> int:
    """Ruby readings in the pieces as `mode` writes them: aozora 茂平《もへい》 (Aozora Bunko's
    notation, with ｜ where the base starts when 《》 alone would read more or less than the
    base), base 茂平, inline 茂平もへい (what innerText has). A rewritten piece keeps
    innerText's text as its source. Returns the characters (whitespace aside) this adds.

    Mono ruby (one reading per base character) is written per character, 漢《かん》字《じ》:
    Aozora Bunko gives every 《》 one base and converts each back to its own <ruby>, so the
    notation keeps the pairing the book marked up and shows; a group reading stays whole."""
    added, base = 0, None  # base: the piece that opens the base of the next reading
    for index, piece in enumerate(pieces):
        if piece[2] & RUBY_BASE:
            base = index
        if piece[2] & RUBY and mode != "inline":
            added += _write_reading(pieces, index if base is None else base, index, mode)
            base = None
    return added


def _write_reading(pieces: list, base: int, reading: int, mode: str) -> int:
    """pieces[reading], the reading of pieces[base:reading], written as `mode` says."""
    if mode == "base":
        return _rewrite(pieces[reading], "")
    text = "".join(piece[3] for piece in pieces[base:reading])
    # White space inside the ruby (markup laid out on several lines) goes outside the
    # notation: the bar right before the base, 《》 right after it.
    lead, trail = text[:len(text) - len(text.lstrip())], text[len(text.rstrip()):]
    added = _rewrite(pieces[reading], f"《{pieces[reading][3].strip()}》{trail}")
    for piece in reversed(pieces[base:reading]):
        if piece[3].rstrip() != piece[3]:
            _rewrite(piece, piece[3].rstrip())
        if piece[3]:
            break
    if base < reading and ruby_needs_bar(lead or _text_before(pieces, base), text.strip()):
        first = next((piece for piece in pieces[base:reading] if piece[3].strip()), pieces[base])
        space = len(first[3]) - len(first[3].lstrip())
        added += _rewrite(first, first[3][:space] + "｜" + first[3][space:])
    return added


def _rewrite(piece: list, text: str) -> int:
    """Write `text` for the piece, keeping what innerText has; the characters it adds."""
    if len(piece) == 4:
        piece.append(piece[3])
    added = len(squash(text)) - len(squash(piece[3]))
    piece[3] = text
    return added


def _text_before(pieces: list, index: int) -> str:
    """The text before pieces[index] in its paragraph (its block), up to the piece before."""
    for earlier in range(index - 1, -1, -1):
        if pieces[earlier][1] != pieces[index][1]:
            return ""
        if pieces[earlier][3]:
            return pieces[earlier][3]
    return ""


# Aozora Bunko's kinds of characters (its converter's, aozora2html): 《》 reads the run of
# characters of one kind just before it; other characters (punctuation, spaces) are of no kind.
_AOZORA_KINDS = re.compile(
    "(?P<hiragana>[ぁ-んゝゞ])|(?P<katakana>[ァ-ンーヽヾヴ])|(?P<zenkaku>[０-９Ａ-Ｚａ-ｚΑ-Ωα-ωА-Яа-я−＆’，．])"
    "|(?P<hankaku>[A-Za-z0-9#\\-&',])"
    "|(?P<kanji>[々※仝〆〇ヶ\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f])")


def _aozora_kind(char: str) -> str | None:
    match = _AOZORA_KINDS.fullmatch(char)
    return match.lastgroup if match else None


def ruby_needs_bar(before: str, base: str) -> bool:
    """Whether Aozora notation needs ｜ before `base` (after the text `before`) for its 《》
    to read exactly the base: unless the base is one run of one kind of character and
    the character before it is not of that kind."""
    kinds = {_aozora_kind(char) for char in base}
    if len(kinds) != 1 or None in kinds:
        return True
    return bool(before) and _aozora_kind(before[-1]) in kinds


def squash(text: str) -> str:
    """Text with all whitespace removed: how page texts are compared with a chapter's."""
    return "".join(text.split())


def shoot(page: BrowserPage, index: int, settings: PaginationSettings, vertical: bool = False) -> bytes:
    """Screenshot page `index` of the document laid out in `page` (pages of a vertical
    document stand one below the other)."""
    x, y = (0, index * settings.spec.height) if vertical else (index * settings.spec.width, 0)
    scrolled = page.evaluate("([x, y]) => { window.scrollTo(x, y); return [window.scrollX, window.scrollY]; }", [x, y])
    if scrolled != [x, y]:
        raise Rejected("scroll_failed", f"page {index}: scrolled to {scrolled}, not {[x, y]}")
    return page.screenshot(type="png", animations="disabled", caret="hide",
                           timeout=settings.page_timeout_s * 1000)

# --------------------------------------------------------------------------------------
# From measured pieces to page texts
# --------------------------------------------------------------------------------------


def _layout(raw: dict, url: str, ruby_chars: int = 0) -> Layout:
    hidden = sum(len(squash(piece[3])) for piece in raw["pieces"] if piece[0] < 0)
    return Layout(assemble_pages(raw), raw["text"], hidden, raw["title"], raw["lang"],
                  "xhtml" if raw["contentType"] == "application/xhtml+xml" else "html",
                  url, raw["signature"], fixed_viewport=tuple(raw["fixed"]) if raw.get("fixed") else None,
                  direction=raw.get("direction", "ltr"), writing_mode=raw.get("writingMode", "horizontal-tb"),
                  ruby_chars=ruby_chars)


def assemble_pages(raw: dict) -> list[PageText]:
    """Page texts from the measured pieces: [page, block, flags, text(, source)] in document order."""
    n = raw["pages"]
    by_page: list[list] = [[] for _ in range(n)]
    for piece in raw["pieces"]:
        if piece[0] >= 0:  # -1: text that no page shows
            by_page[piece[0]].append(piece)
    images, outside = Counter(raw["imagePages"]), dict(raw["outside"])
    items_seen: set[int] = set()  # list items whose marker was written (on an earlier page)
    pages = []
    for index, pieces in enumerate(by_page):
        plain, markdown = _page_texts(pieces, raw["blocks"], items_seen)
        pages.append(PageText(index, plain, markdown, images[index], outside.get(str(index), 0),
                              bool(raw.get("fixed")), _transforms(pieces),
                              sum(1 for piece in pieces if piece[2] & RUBY)))
    return pages


def _transforms(pieces: list) -> tuple[str, ...]:
    kinds = 0
    for piece in pieces:
        kinds |= piece[2]
    return tuple(name for bit, name in TRANSFORMS.items() if kinds & bit)


def _page_texts(pieces: list, blocks: list[dict], items_seen: set[int]) -> tuple[str, str]:
    plain: list[str] = []
    markdown: list[str] = []
    previous_gap = 0
    for block_index, group in _paragraphs(pieces):
        runs = _collapse(group)
        if not runs:
            continue
        block = blocks[block_index]
        marker = _list_marker(block, items_seen)
        separator = "\n" * max(previous_gap, block["gap"]) if plain else ""
        plain.append(separator + (marker[0] + " " if marker and marker[0] else "")
                     + "".join(text for _, text in runs))
        markdown.append(separator + _markdown_paragraph(block, runs, marker))
        previous_gap = block["gap"]
    return "".join(plain), "".join(markdown)


def _paragraphs(pieces: list) -> Iterator[tuple[int, list]]:
    """Consecutive pieces of the same block: one paragraph (or the page's part of one)."""
    group: list = []
    for piece in pieces:
        if group and piece[1] != group[-1][1]:
            yield group[-1][1], group
            group = []
        group.append(piece)
    if group:
        yield group[-1][1], group


def _collapse(group: list) -> list[tuple[int, str]]:
    """(flags, text) runs with white space collapsed as CSS does it across inline pieces:
    runs of spaces become one, none at the start or end of a line."""
    runs: list[tuple[int, str]] = []
    at_line_start = True
    for _, _, all_flags, text, *_ in group:
        flags = all_flags & STYLE
        if flags & BREAK:
            _trim_end(runs)
            runs.append((flags, "\n"))
            at_line_start = True
            continue
        if not flags & PRE:
            text = _CSS_SPACE.sub(" ", text)
            if at_line_start:
                text = text.lstrip(" ")
        if text:
            runs.append((flags, text))
            at_line_start = text.endswith((" ", "\n")) and not flags & PRE
    _trim_end(runs)
    while runs and runs[0][1] == "\n":
        runs.pop(0)
    return runs


def _trim_end(runs: list[tuple[int, str]]) -> None:
    while runs and not runs[-1][0] & PRE and runs[-1][1] != "\n":
        flags, text = runs[-1]
        text = text.rstrip(" ")
        if text:
            runs[-1] = (flags, text)
            return
        runs.pop()
    while runs and runs[-1][0] & PRE and runs[-1][1].endswith("\n"):
        flags, text = runs[-1]
        runs[-1] = (flags, text.rstrip("\n"))
        if not runs[-1][1]:
            runs.pop()
        else:
            return


def _list_marker(block: dict, items_seen: set[int]) -> tuple[str, str] | None:
    """(visible marker, markdown marker) for the first paragraph of a list item, else None."""
    item = block.get("item")
    if not item or item[0] in items_seen:
        return None
    items_seen.add(item[0])
    return item[1], "  " * item[3] + item[2]


def _markdown_paragraph(block: dict, runs: list[tuple[int, str]], marker: tuple[str, str] | None) -> str:
    if block["pre"]:
        return "```\n" + "".join(text for _, text in runs) + "\n```"
    text = "".join(_markdown_run(flags, text) for flags, text in _merge_runs(runs))
    if block["heading"]:
        text = "#" * block["heading"] + " " + text.replace("\n", " ")
    elif marker:
        text = f"{marker[1]} {text}"
    if block["quote"]:
        text = "\n".join("> " * block["quote"] + line for line in text.split("\n"))
    return text


def _merge_runs(runs: list[tuple[int, str]]) -> list[tuple[int, str]]:
    merged: list[tuple[int, str]] = []
    for flags, text in runs:
        if merged and merged[-1][0] == flags:
            merged[-1] = (flags, merged[-1][1] + text)
        else:
            merged.append((flags, text))
    return merged


def _markdown_run(flags: int, text: str) -> str:
    if text == "\n":
        return "  \n"  # a hard line break
    core = text.strip(" ")
    if not core:
        return text
    lead, trail = text[: len(text) - len(text.lstrip(" "))], text[len(text.rstrip(" ")):]
    if flags & LATEX:
        return text
    if flags & CODE:
        return f"{lead}`{core}`{trail}"
    core = _MD_SPECIAL.sub(r"\\\1", core)
    marker = "*" * ((1 if flags & ITALIC else 0) + (2 if flags & BOLD else 0))
    return f"{lead}{marker}{core}{marker}{trail}"
