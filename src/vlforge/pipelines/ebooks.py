"""E-books (EPUB 2 and 3) -> page screenshots paired with exactly the text on each page.

DeepSeek-VL rendered 860K English and 180K Chinese e-books "with different templates" into
image + text pairs; this is that job. The page machinery is shared with the HTML corpus
(pipelines.pages).

What counts as an item (read = accepted + rejected):
    a page: one Sample (PNG + the page's text, plain or markdown) or one Reject. A book that
    cannot be opened is one Reject (item "book"), a spine item that cannot be laid out is
    one Reject (item "spine=N:HREF"). If the browser fails on one page after its retries,
    that page alone is rejected (item "spine=N/page=K").

The stream:
    read     open_epub (documents.epub): checks and unpacks the container into a temporary
             directory, lists the spine. Then every spine item that is read (include_nonlinear
             decides for linear="no" ones) goes through the paginator (renderers.paginate)
             with the book's template, in one browser per worker, several chapters per
             browser page: one outcome per page, in spine and page order.
    blank_pages, text_outside_pages, page_content, blank_renders
             the page filters (pipelines.pages), in this order; then book_accounts,
             which notes per book its pages, characters and rejects by reason: the job
             summary (stats.json "summary": books with coverage, pages, rejects).

Rejects: the book's, stage read (documents.epub: corrupt_container, not_epub,
invalid_container, encrypted, container_too_large, invalid_package, empty_spine); a spine
item's, stage read (missing_spine_item, corrupt_entry, unsupported_media_type,
nonlinear_skipped) or render (malformed_xhtml, no_body, empty_document, too_many_pages,
text_mismatch, render_failed, render_timeout, browser_crash,
unstable_layout); a page's, stage render (the browser's reasons) or the filter's own
(blank_page, text_outside_page, empty_text_page, image_only_page, nearly_empty_page,
blank_render, fixed_layout_image_page). A page with an image and no text (a title page
drawn as a picture) is rejected as empty_text_page (fixed_layout_image_page for a
pre-paginated page) unless ebooks.pages.empty_text is keep.

Right-to-left and vertical (writing-mode vertical-rl: Japanese, Chinese) books are paginated
in their direction, text in logical order; metadata chapter.direction, chapter.writing_mode
and book.page_progression (a vertical-rl book's pages turn right to left: page_index is the
reading order). Fixed-layout pages are laid out at their own viewport.

Ruby (furigana) readings are written as pages.ruby says: aozora (default) 茂平《もへい》,
Aozora Bunko's notation, with ｜ where the base starts when 《》 alone would misread it;
base 茂平; inline 茂平もへい. Never <rp>'s fallback parentheses. Metadata ruby: the
page's readings (only on pages that have any).

Templates: built-in ones (renderers/templates/*.css) and the user's CSS files; one is chosen
per book from the book's checksum, so a re-run, or the same file elsewhere, looks the same.
Keys: make_key("ebooks", path, spine_index, page_index).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vlforge.config import opt
from vlforge.contract import Corpus, Outcome, Part, TaskContext
from vlforge.documents.epub import Book, Limits, SpineItem, open_epub
from vlforge.errors import Rejected
from vlforge.pipelines.pages import (
    check_page_options,
    document_counts,
    page_defaults,
    page_filters,
    page_sample,
    pagination_settings,
    render_metadata,
    rendered_pages,
    renderer_for,
    templates_for,
    tool_versions,
)
from vlforge.renderers.paginate import (
    Document,
    Layout,
    Page,
    PaginationSettings,
    Template,
    choose_template,
    squash,
)
from vlforge.schemas import Provenance, Sample, make_key

DEFAULTS: dict[str, Any] = {
    # A book is a large unit of work (tens to hundreds of pages): one per task, so that
    # workers share a job's books and a resumed job redoes at most one book per worker.
    "tasks": {
        "target_bytes": opt(32 * 1024 * 1024, "input bytes per task (a book is one task whatever its size)"),
        "max_files": opt(1, "books per task: one, so workers share a job's books and a resume redoes one"),
    },
    "ebooks": {
        **page_defaults(),
        "include_nonlinear": opt(True, 'read spine items with linear="no" (notes, pop-ups)'),
        "malformed_xhtml": opt("recover", "recover (parse as HTML like a browser tab) or reject XHTML that is not well-formed"),
        "max_unpacked_bytes": opt(1 << 30, "bytes a book may unpack to; more -> container_too_large"),
        "max_image_pixels": opt(50_000_000, "larger images are not unpacked (never shown)"),
    }
}


def read(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    opts = ctx.option("ebooks")
    workdir = Path(tempfile.mkdtemp(prefix="vlforge-epub-"))
    try:  # a finally, not a context manager: the generator may be closed half-way
        try:
            book = open_epub(part.path, workdir, Limits(opts["max_unpacked_bytes"], opts["max_image_pixels"]))
        except Rejected as error:
            yield error.reject(part.path, "book", "read")
            return
        text = {"source": part.path, "chapters": 0, "chapters_refused": 0, "text_chars": 0}
        yield from book_outcomes(book, opts, text)
        ctx.note("book_text", text)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def book_outcomes(book: Book, opts: dict, text: dict | None = None) -> Iterator[Outcome]:
    """Every page of the book (or why not); `text` gathers the chapters' text counts."""
    text = {"chapters": 0, "chapters_refused": 0, "text_chars": 0} if text is None else text
    settings = pagination_settings(opts)
    template = choose_template(templates_for(opts), book.checksum)
    chapters = []
    for item in book.spine:
        refusal = _refusal(item, opts)
        if refusal:
            text["chapters_refused"] += 1
            yield refusal.reject(book.source, _chapter_label(item), "read")
        else:
            chapters.append(item)
    docs = [_document(item, book, template, opts) for item in chapters]
    renderer = renderer_for(settings, opts)
    counted: set[int] = set()
    for index, layout, page in rendered_pages(renderer, docs, settings):
        item = chapters[index]
        if layout is None:
            text["chapters_refused"] += 1
            yield page.reject(book.source, _chapter_label(item), "render")
        else:
            if index not in counted:
                counted.add(index)
                text["chapters"] += 1
                text["text_chars"] += document_counts(layout)["text_chars"]
            yield _chapter_page(book, item, page, layout, template, settings, renderer.browser_version, opts)


def _refusal(item: SpineItem, opts: dict) -> Rejected | None:
    """Why a spine item is not read: its own problem, or a non-linear item left out."""
    if item.problem:
        return item.problem
    if not item.linear and not opts["include_nonlinear"]:
        return Rejected("nonlinear_skipped", "linear=\"no\" and include_nonlinear is off")
    return None


def _chapter_label(item: SpineItem) -> str:
    return f"spine={item.index}:{item.href}"


def _document(item: SpineItem, book: Book, template: Template, opts: dict) -> Document:
    """The chapter as the browser should load it: by its media type, not its file name
    (Chromium picks the parser from the extension), plus an HTML copy to recover with."""
    path, roots = item.path, (str(book.root),)
    layout = {"pre_paginated": item.pre_paginated, "viewport": book.viewport}
    if item.media_type == "application/xhtml+xml":
        url = _with_suffix(path, (".xhtml", ".xht")).as_uri()
        recover = _with_suffix(path, (".html",), copy_name=".recovered.html").as_uri()
        return Document(url, template, roots, recover if opts["malformed_xhtml"] == "recover" else None, **layout)
    return Document(_with_suffix(path, (".html", ".htm")).as_uri(), template, roots, **layout)


def _with_suffix(path: Path, suffixes: tuple[str, ...], copy_name: str = "") -> Path:
    """`path` if its name ends in one of `suffixes`, else a copy next to it that does (so
    relative links still resolve)."""
    if not copy_name and path.suffix.lower() in suffixes:
        return path
    copy = path.with_name(path.name + (copy_name or ".vlforge" + suffixes[0]))
    if not copy.exists():
        shutil.copyfile(path, copy)
    return copy


def _chapter_page(book: Book, item: SpineItem, page: Page, layout: Layout, template: Template,
                  settings: PaginationSettings, browser_version: str, opts: dict) -> Outcome:
    provenance = Provenance(book.source, book.checksum, tools=dict(tool_versions(browser_version)))
    metadata = {
        "book": {"title": book.title, "language": book.language, "identifier": book.identifier,
                 "epub_version": book.version, "page_progression": book.progression or "default"},
        "chapter": {"spine_index": item.index, "href": item.href, "title": layout.title,
                    "language": layout.language, "direction": layout.direction,
                    "writing_mode": layout.writing_mode, **document_counts(layout)},
        **render_metadata(settings, template, layout),
    }
    return page_sample(page, layout, corpus="ebooks",
                       key=make_key("ebooks", book.source, item.index, page.text.index),
                       item=f"spine={item.index}/page={page.text.index}", provenance=provenance,
                       metadata=metadata, opts=opts)


def book_accounts(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
    """The last stage: passes everything through and notes, per book, the pages kept, their
    characters, and the rejects by reason (for the job summary)."""
    books: dict[str, dict] = {}
    for outcome in outcomes:
        source = outcome.provenance.source if isinstance(outcome, Sample) else outcome.source
        row = books.setdefault(source, {"source": source, "pages": 0, "page_chars": 0, "rejects": {}})
        if isinstance(outcome, Sample):
            row["pages"] += 1
            row["page_chars"] += len(squash(outcome.text))
        else:
            row["rejects"][outcome.reason] = row["rejects"].get(outcome.reason, 0) + 1
        yield outcome
    for row in books.values():
        ctx.note("book_pages", row)


def job_summary(output_dir: str, facts: list[dict]) -> dict:
    """stats.json's "summary": per book, the pages kept, the rejects by reason, and coverage:
    the share of its laid-out chapters' text (whitespace aside) that kept pages carry
    (chapters refused whole are counted in chapters_refused, their text is unknown)."""
    books: dict[str, dict] = {}
    for task in facts:
        for name in ("book_text", "book_pages"):
            for row in task.get(name, []):
                books.setdefault(row["source"], {}).update(row)
    rows = []
    for source in sorted(books):
        row = {"source": source, "pages": 0, "page_chars": 0, "rejects": {}, "chapters": 0,
               "chapters_refused": 0, "text_chars": 0, **books[source]}
        total = row["text_chars"]
        row["coverage"] = round(min(row["page_chars"], total) / total, 4) if total else None
        rows.append(row)
    return {"books": rows, "pages": sum(r["pages"] for r in rows),
            "rejects": dict(sum((Counter(r["rejects"]) for r in rows), Counter()))}


CORPUS = Corpus(
    name="ebooks",
    description="EPUB 2/3 e-books -> fixed-size page screenshots + the exact text of each page",
    read=read,
    stages=(*page_filters("ebooks"), book_accounts),
    defaults=DEFAULTS,
    check_options=check_page_options("ebooks"),
    suffixes=(".epub",),
    summarize=job_summary,
)
