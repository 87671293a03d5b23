"""How much of an EPUB's own text its page texts carry: measured without the renderer.

    book_texts(path)            spine document href -> its visible text, read from the XHTML
    coverage(doc_text, pages)   share of a document's characters that its page texts hold
    book_coverage(path, pages)  the same over a whole book ({href: [page text, ...]})
    book_formulas(path, pages)  (MathML formulas in the book, formulas written $...$ on its pages)

The visible text is read with the standard library's parsers (ElementTree for XHTML, the
HTML parser for what is not well-formed), never through Chromium: <head>, <script>,
<style>, `hidden` elements, inline `display: none`, ruby annotations (<rt>, <rp>) and
MathML annotations and the fallback content of objects are not shown, everything else
in <body> is. A MathML formula is on a
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

HIDDEN_TAGS = {"head", "script", "style", "template", "noscript", "rt", "rp", "annotation",
               "annotation-xml", "title"}
# Formulas are counted apart; what <object>, <video>, <audio> and <canvas> hold is their
# fallback, shown only where the element itself cannot be (SICP's cover: an SVG object
# whose fallback text is "SVG").
NOT_TEXT = HIDDEN_TAGS | {"math", "object", "video", "audio", "canvas"}
_FORMULA = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
_DISPLAY_NONE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _shown(tag: str, attributes: dict) -> bool:
    if tag in NOT_TEXT or "hidden" in attributes:
        return False
    return not _DISPLAY_NONE.search(attributes.get("style") or "")


def _xml_text(element: ET.Element) -> str:
    """The shown text under `element` (its tail is the caller's)."""
    if not _shown(_local(element.tag), {_local(k): v for k, v in element.attrib.items()}):
        return ""
    parts = [element.text or ""]
    for child in element:
        parts.append(_xml_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


class _HtmlText(HTMLParser):
    """The shown text of <body> from markup that is not well-formed XML."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # per open element: shown?
        self.in_body = False
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.in_body = self.in_body or tag == "body"
        if tag in _VOID:
            return
        self.stack.append((not self.stack or self.stack[-1]) and _shown(tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if self.in_body and (not self.stack or self.stack[-1]):
            self.parts.append(data)


def visible_text(markup: bytes) -> str:
    """The text a reader sees in a spine document's <body>."""
    try:
        root = ET.fromstring(markup)
    except ET.ParseError:
        parser = _HtmlText()
        parser.feed(markup.decode("utf-8", "replace"))
        return "".join(parser.parts)
    body = next((e for e in root.iter() if _local(e.tag) == "body"), None)
    return "" if body is None else _xml_text(body)


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


def book_coverage(path: str, pages: dict[str, list[str]]) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """(found, total, per document) for a book whose page texts are `pages` by document."""
    per_doc = {href: coverage(text, pages.get(href, [])) for href, text in book_texts(path).items()}
    return sum(f for f, _ in per_doc.values()), sum(t for _, t in per_doc.values()), per_doc


def formula_count(markup: bytes) -> int:
    """<math> elements in a spine document (outermost ones)."""
    return len(re.findall(rb"<(?:\w+:)?math[\s>]", markup))


def book_formulas(path: str, pages: dict[str, list[str]]) -> tuple[int, int]:
    """(MathML formulas in the book's spine documents, formulas written as LaTeX on its pages)."""
    in_book = sum(book_texts(path, formula_count).values())
    return in_book, sum(len(_FORMULA.findall(text)) for texts in pages.values() for text in texts)
