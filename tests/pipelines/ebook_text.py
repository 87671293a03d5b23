"""How much of an EPUB's own text its page texts carry: measured without the renderer.

    book_texts(path)            spine document href -> its visible text, read from the XHTML
    coverage(doc_text, pages)   share of a document's characters that its page texts hold
    book_coverage(path, pages, ruby)  the same over a whole book ({href: [page text, ...]})
    book_formulas(path, pages)  (MathML formulas in the book, formulas written $...$ on its pages)

The visible text is read with the standard library's parsers (ElementTree for XHTML, the
HTML parser for what is not well-formed), never through Chromium: <head>, <script>,
<style>, `hidden` elements, inline `display: none`, ruby fallback parentheses (<rp>),
MathML annotations and the fallback content of objects are not shown, everything else
in <body> is. Ruby readings (<rt>) are written as the pages write them (`ruby`: aozora
茂平《もへい》, base 茂平, inline 茂平もへい; the ebooks option pages.ruby). A MathML formula is on a
page as LaTeX, whose characters are not the MathML's: formulas are counted apart (one
<math> element, one $...$ or $$...$$ on a page), their characters are not in the text.

Characters are compared as multisets, whitespace and format characters (zero-width
spaces, soft hyphens) aside, NFKC-folded and case-folded: the page shows text after CSS
case transforms, in its own direction; what counts is that every character of the book is
on some page of its own document.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import unquote

from vlforge.renderers.paginate import ruby_needs_bar

HIDDEN_TAGS = {"head", "script", "style", "template", "noscript", "rp", "annotation",
               "annotation-xml", "title"}
# Formulas are counted apart; what <object>, <video>, <audio> and <canvas> hold is their
# fallback, shown only where the element itself cannot be (SICP's cover: an SVG object
# whose fallback text is "SVG").
NOT_TEXT = HIDDEN_TAGS | {"math", "object", "video", "audio", "canvas"}
# Elements that start and end lines (paragraphs): Aozora's ｜ rule looks at the character
# before a ruby's base on its line.
BLOCK_TAGS = {"body", "p", "div", "section", "article", "aside", "header", "footer", "nav", "blockquote",
              "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "table", "tr",
              "td", "th", "caption", "figure", "figcaption", "pre", "hr", "br"}
ANNOTATION_TAGS = {"rt", "rtc"}
_FORMULA = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
_DISPLAY_NONE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _shown(element: ET.Element) -> bool:
    attributes = {_local(k): v for k, v in element.attrib.items()}
    if _local(element.tag) in NOT_TEXT or "hidden" in attributes:
        return False
    return not _DISPLAY_NONE.search(attributes.get("style") or "")


class _ShownText:
    """The shown text under an element, ruby readings written as `ruby` says (the pages'
    notation: aozora 茂平《もへい》, base 茂平, inline 茂平もへい)."""

    def __init__(self, ruby: str):
        self.ruby = ruby
        self.parts: list[str] = []

    def element(self, element: ET.Element) -> None:
        """Its text (its tail is the caller's)."""
        if not _shown(element):
            return
        tag = _local(element.tag)
        if tag in BLOCK_TAGS:  # a line starts and ends: no text before a ruby's base there
            self.parts.append("\n")
        if tag == "ruby":
            self._ruby(element)
            return
        self.parts.append(element.text or "")
        for child in element:
            self.element(child)
            self.parts.append(child.tail or "")
        if tag in BLOCK_TAGS:
            self.parts.append("\n")

    def _ruby(self, ruby: ET.Element) -> None:
        """A run of base content, then a run of annotations (<rt>, <rtc>): one reading of
        that base (mono ruby: one per character). <rp> is never text."""
        base_at, readings, annotating = len(self.parts), [], False
        for item in [ruby.text or ""] + [node for child in ruby for node in (child, child.tail or "")]:
            tag = _local(item.tag) if isinstance(item, ET.Element) else ""
            if tag in ANNOTATION_TAGS:
                annotating = True
                readings += [_plain(item)] if _shown(item) else []
            elif annotating and not tag and not item.strip():
                continue  # white space between annotations
            elif tag != "rp":
                if annotating:  # base content again: the reading before it is complete
                    self._write(base_at, readings)
                    base_at, readings, annotating = len(self.parts), [], False
                if tag:
                    self.element(item)
                else:
                    self.parts.append(item)
        self._write(base_at, readings)

    def _write(self, base_at: int, readings: list[str]) -> None:
        if not readings or self.ruby == "base":
            return
        reading = "".join(readings)
        if self.ruby == "inline":
            self.parts.append(reading)
            return
        base = "".join(self.parts[base_at:])
        before = base[:len(base) - len(base.lstrip())]  # white space inside the ruby, else the text before it
        before = before or next((self.parts[i] for i in range(base_at - 1, -1, -1) if self.parts[i]), "")
        if ruby_needs_bar(before, base.strip()):
            self.parts.insert(base_at, "｜")
        self.parts.append(f"《{reading.strip()}》")


def _plain(element: ET.Element) -> str:
    text = _ShownText("inline")
    text.element(element)
    return "".join(text.parts)


class _HtmlTree(HTMLParser):
    """An element tree from markup that is not well-formed XML: every end tag closes the
    element open last, as a browser's text would nest."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = ET.Element("document")
        self.open = [self.root]

    def handle_starttag(self, tag, attrs):
        element = ET.SubElement(self.open[-1], tag, {name: value or "" for name, value in attrs})
        if tag not in _VOID:
            self.open.append(element)

    def handle_endtag(self, tag):
        if tag not in _VOID and len(self.open) > 1:
            self.open.pop()

    def handle_data(self, data):
        parent = self.open[-1]
        if len(parent):
            parent[-1].tail = (parent[-1].tail or "") + data
        else:
            parent.text = (parent.text or "") + data


def visible_text(markup: bytes, ruby: str = "aozora") -> str:
    """The text a reader sees in a spine document's <body>, ruby as the pages write it."""
    try:
        root = ET.fromstring(markup)
    except ET.ParseError:
        parser = _HtmlTree()
        parser.feed(markup.decode("utf-8", "replace"))
        root = parser.root
    body = next((e for e in root.iter() if _local(e.tag) == "body"), None)
    if body is None:
        return ""
    text = _ShownText(ruby)
    text.element(body)
    return "".join(text.parts)


def characters(text: str) -> Counter:
    """The multiset of characters that coverage compares."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return Counter(c for c in folded if not c.isspace() and unicodedata.category(c) != "Cf")


def coverage(doc_text: str, page_texts: list[str]) -> tuple[int, int]:
    """(characters of the document found on its pages, characters of the document)."""
    wanted, found = characters(doc_text), characters("".join(page_texts))
    return sum((wanted & found).values()), sum(wanted.values())


def book_texts(path: str, read=visible_text) -> dict[str, str]:
    """Spine document path inside the container -> read(its markup) (its visible text), in spine order."""
    with zipfile.ZipFile(path) as archive:
        container = ET.fromstring(archive.read("META-INF/container.xml"))
        opf_path = next(e.get("full-path") for e in container.iter() if _local(e.tag) == "rootfile")
        package = ET.fromstring(archive.read(opf_path))
        base = posixpath.dirname(opf_path)
        manifest = {e.get("id"): (posixpath.normpath(posixpath.join(base, unquote(e.get("href", "")))),
                                  e.get("media-type", ""))
                    for e in package.iter() if _local(e.tag) == "item"}
        texts = {}
        for ref in (e for e in package.iter() if _local(e.tag) == "itemref"):
            href, media_type = manifest.get(ref.get("idref"), ("", ""))
            if media_type in ("application/xhtml+xml", "text/html") and href in archive.namelist():
                texts[href] = read(archive.read(href))
        return texts


def book_coverage(path: str, pages: dict[str, list[str]],
                  ruby: str = "aozora") -> tuple[int, int, dict[str, tuple[int, int]]]:
    """(found, total, per document) for a book whose page texts are `pages` by document,
    written with ruby readings as `ruby` (pages.ruby) says."""
    texts = book_texts(path, lambda markup: visible_text(markup, ruby))
    per_doc = {href: coverage(text, pages.get(href, [])) for href, text in texts.items()}
    return sum(f for f, _ in per_doc.values()), sum(t for _, t in per_doc.values()), per_doc


def formula_count(markup: bytes) -> int:
    """<math> elements in a spine document (outermost ones)."""
    return len(re.findall(rb"<(?:\w+:)?math[\s>]", markup))


def book_formulas(path: str, pages: dict[str, list[str]]) -> tuple[int, int]:
    """(MathML formulas in the book's spine documents, formulas written as LaTeX on its pages)."""
    in_book = sum(book_texts(path, formula_count).values())
    return in_book, sum(len(_FORMULA.findall(text)) for texts in pages.values() for text in texts)
