"""E-books (EPUB 2 and 3) -> page screenshots paired with exactly the text on each page.

DeepSeek-VL rendered 860K English and 180K Chinese e-books "with different templates" into
image + text pairs; this is that job. The HTML corpus (pipelines.html) shares the page
machinery below.

What counts as an item (read = accepted + rejected):
    a page: one Sample (PNG + the page's text, plain or markdown) or one Reject. A book that
    cannot be opened is one Reject (item "book"), a spine item that cannot be laid out is
    one Reject (item "spine=N:HREF"). If the browser fails on one page after its retries,
    that page alone is rejected (item "spine=N/page=K").

The stream:
    read   open_epub (pipelines.epub): checks and unpacks the container into a temporary
           directory, lists the spine. Then every spine item goes through the paginator
           (renderers.paginate) with the book's template, in one browser per worker, several
           chapters per browser page: one outcome per page, in spine and page order.

Rejects: the book's (pipelines.epub: corrupt_container, not_epub, invalid_container,
drm_encrypted, container_too_large, invalid_package, empty_spine); a spine item's
(missing_spine_item, corrupt_entry, unsupported_media_type, nonlinear_skipped,
malformed_xhtml, no_body, empty_document, too_many_pages, vertical_writing, right_to_left,
text_mismatch, render_failed, render_timeout, browser_crash, unstable_layout); a page's
(blank_page, text_outside_page, blank_render, image_only_page, nearly_empty_page, and the
browser's reasons).

Templates: built-in ones (renderers/templates/*.css) and the user's CSS files; one is chosen
per book from the book's checksum, so a re-run, or the same file elsewhere, looks the same.
Keys: make_key("ebooks", path, spine_index, page_index).
"""

from __future__ import annotations

import functools
import importlib.metadata
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vlforge.contract import Corpus, Outcome, Part, TaskContext
from vlforge.pipelines.epub import Book, EpubError, Limits, SpineItem, open_epub
from vlforge.renderers.browser import (
    BrowserConfig,
    RenderError,
    is_uniform,
    png_size,
    worker_renderer,
)
from vlforge.renderers.paginate import (
    Document,
    Layout,
    Page,
    PageSpec,
    Settings,
    Template,
    builtin_templates,
    choose_template,
    load_template,
    paginate,
    squash,
)
from vlforge.schemas import Provenance, Reject, Sample, make_key


def page_defaults() -> dict[str, Any]:
    """Options every paginated corpus (ebooks, html) has."""
    return {
        "page": {"width": 1024, "height": 1024, "device_scale_factor": 1.0},  # CSS px
        # Built-in templates to choose from (renderers/templates/NAME.css) and CSS files of
        # your own (see serif.css for the --vlforge-* properties a template sets).
        "templates": sorted(builtin_templates()),
        "template_files": [],
        "template": "",  # one template for everything, by name, instead of choosing per book
        "text_kind": "plain",  # or "markdown": headings, list items, emphasis, code
        "pages": {
            # A page with fewer characters than this (whitespace aside) is "nearly empty":
            # kept or rejected (nearly_empty_page); with an image on it, it is an image page:
            # kept or rejected (image_only_page). A page with nothing on it is always rejected.
            "nearly_empty_chars": 16,
            "nearly_empty": "keep",
            "image_only": "keep",
        },
        "check_text": True,  # refuse documents whose page texts do not add up (text_mismatch)
        "max_pages": 1000,  # per document (chapter): longer ones -> too_many_pages
        "render": {
            # One browser page (a fresh hermetic context) serves this many layouts and
            # screenshots, or this many seconds, whichever ends first; then a new one.
            "units_per_call": 256,
            "call_budget_s": 60.0,
            "page_timeout_s": 10.0,  # one screenshot
            "load_timeout_s": 30.0,  # loading one document with its resources
            "retries": 1,  # after a browser crash or hang, before the page/chapter is rejected
        },
    }


DEFAULTS: dict[str, Any] = {
    # A book is a large unit of work (tens to hundreds of pages): one per task, so that
    # workers share a job's books and a resumed job redoes at most one book per worker.
    "tasks": {"target_bytes": 32 * 1024 * 1024, "max_files": 1},
    "ebooks": {
        **page_defaults(),
        "include_nonlinear": True,  # spine items with linear="no" (notes, pop-ups)
        "malformed_xhtml": "recover",  # parse as HTML like a browser tab would; or "reject"
        "max_unpacked_bytes": 1 << 30,  # container_too_large beyond this
        "max_image_pixels": 50_000_000,  # larger images are not unpacked (never shown)
    }
}

_POLICIES = ("keep", "reject")


# --------------------------------------------------------------------------------------
# Shared with the html corpus: options -> paginator settings, templates, browser
# --------------------------------------------------------------------------------------


def page_settings(opts: dict) -> Settings:
    page, render = opts["page"], opts["render"]
    for name in ("nearly_empty", "image_only"):
        if opts["pages"][name] not in _POLICIES:
            raise ValueError(f"pages.{name} must be one of {_POLICIES}, not {opts['pages'][name]!r}")
    if opts["text_kind"] not in ("plain", "markdown"):
        raise ValueError(f"text_kind must be plain or markdown, not {opts['text_kind']!r}")
    return Settings(PageSpec(page["width"], page["height"], page["device_scale_factor"]),
                    units_per_call=render["units_per_call"], call_budget_s=render["call_budget_s"],
                    page_timeout_s=render["page_timeout_s"], load_timeout_s=render["load_timeout_s"],
                    max_pages=opts["max_pages"], check_text=opts["check_text"])


@functools.lru_cache(maxsize=8)
def _browser_config(spec: PageSpec, timeout_s: float, retries: int) -> BrowserConfig:
    return BrowserConfig(viewport_width=spec.width, viewport_height=spec.height,
                         device_scale_factor=spec.device_scale, timeout_s=timeout_s, retries=retries)


def renderer_for(settings: Settings, opts: dict):
    """This worker's browser, set to the page size (one per worker process, reused)."""
    return worker_renderer(_browser_config(settings.spec, settings.call_timeout_s, opts["render"]["retries"]))


def templates_for(opts: dict) -> list[Template]:
    return list(_templates(tuple(opts["templates"]), tuple(opts["template_files"]), opts["template"]))


@functools.lru_cache(maxsize=8)
def _templates(names: tuple[str, ...], files: tuple[str, ...], forced: str) -> tuple[Template, ...]:
    builtin = builtin_templates()
    unknown = [name for name in names if name not in builtin]
    if unknown:
        raise ValueError(f"unknown template(s) {unknown}; built in: {sorted(builtin)}")
    pool = {name: builtin[name] for name in names}
    pool.update((t.name, t) for t in map(load_template, files))
    if forced:
        if forced not in pool and forced not in builtin:
            raise ValueError(f"template {forced!r} is neither built in nor in template_files")
        return (pool.get(forced) or builtin[forced],)
    if not pool:
        raise ValueError("no templates: set templates and/or template_files")
    return tuple(pool[name] for name in sorted(pool))


@functools.lru_cache(maxsize=1)
def tool_versions(browser_version: str) -> dict[str, str]:
    try:
        playwright = importlib.metadata.version("playwright")
    except importlib.metadata.PackageNotFoundError:
        playwright = "unknown"
    return {"chromium": browser_version, "playwright": playwright}


# --------------------------------------------------------------------------------------
# Shared with the html corpus: one page -> Sample or Reject
# --------------------------------------------------------------------------------------


def page_outcome(page: Page, layout: Layout, *, corpus: str, key: str, item: str,
                 provenance: Provenance, metadata: dict, opts: dict) -> Outcome:
    """The page as a Sample, or the reason it is not one."""
    problem = _page_problem(page, opts["pages"])
    if problem:
        return Reject(provenance.source, item, "render", *problem)
    text = page.text.markdown if opts["text_kind"] == "markdown" else page.text.plain
    width, height = png_size(page.png)
    metadata = {**metadata, "page_index": page.text.index, "pages": len(layout.pages),
                "text_chars": len(text), "images_on_page": page.text.images}
    return Sample(key, corpus, text, opts["text_kind"], provenance, image=page.png,
                  image_format="png", image_size=(width, height), metadata=metadata)


def _page_problem(page: Page, policy: dict) -> tuple[str, str] | None:
    text = page.text
    if page.error is not None:
        return page.error.reason, page.error.detail
    if text.blank:
        return "blank_page", "no visible text or image on the page"
    if text.outside:
        return "text_outside_page", f"{text.outside} text box(es) not inside the page image"
    chars = len(squash(text.plain))
    if chars < policy["nearly_empty_chars"]:
        if text.images and policy["image_only"] == "reject":
            return "image_only_page", f"{chars} characters and {text.images} image(s)"
        if not text.images and policy["nearly_empty"] == "reject":
            return "nearly_empty_page", f"{chars} characters"
    if chars and _could_be_one_colour(page.png) and is_uniform(page.png):  # text that does not show
        return "blank_render", "the page has text but its image is a single colour"
    return None


def _could_be_one_colour(png: bytes) -> bool:
    """Only a small PNG can be a single colour: deflate turns the long runs of one pixel into
    under 1/80 of the raw size, so a PNG above 1/64 of it need not be decoded (which costs
    as much as a tenth of the screenshot)."""
    width, height = png_size(png)
    return len(png) * 64 < width * height * 3


def chapter_counts(layout: Layout) -> dict:
    """Characters (whitespace aside) of a document: its DOM text, what its pages show (list
    markers included), and DOM text that no page shows. For coverage reports."""
    return {"text_chars": len(squash(layout.text)), "hidden_chars": layout.hidden_chars,
            "page_chars": sum(len(squash(p.plain)) for p in layout.pages)}


def render_metadata(settings: Settings, template: Template, layout: Layout) -> dict:
    """What every page of a document records about how it was rendered."""
    return {
        "template": template.name,
        "viewport": {"width": settings.spec.width, "height": settings.spec.height},
        "device_scale_factor": settings.spec.device_scale,
        "parsed_as": layout.parsed_as,
        "blocked_requests": len(layout.blocked),
    }


# --------------------------------------------------------------------------------------
# EPUB
# --------------------------------------------------------------------------------------


def read(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    opts = ctx.option("ebooks")
    workdir = Path(tempfile.mkdtemp(prefix="vlforge-epub-"))
    try:  # a finally, not a context manager: the generator may be closed half-way
        try:
            book = open_epub(part.path, workdir, Limits(opts["max_unpacked_bytes"], opts["max_image_pixels"]))
        except EpubError as exc:
            yield Reject(part.path, "book", "read", exc.reason, exc.detail)
            return
        yield from book_outcomes(book, opts)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def book_outcomes(book: Book, opts: dict) -> Iterator[Outcome]:
    settings = page_settings(opts)
    template = choose_template(templates_for(opts), book.checksum)
    chapters = []
    for item in book.spine:
        refusal = _refusal(item, opts)
        if refusal:
            yield Reject(book.source, _chapter_label(item), "read", *refusal)
        else:
            chapters.append(item)
    docs = [_document(item, template, book.root, opts) for item in chapters]
    renderer = renderer_for(settings, opts)
    layouts: dict[int, Layout] = {}
    for index, event in paginate(renderer, docs, settings):
        item = chapters[index]
        if isinstance(event, RenderError):
            yield Reject(book.source, _chapter_label(item), "render", event.reason, event.detail)
        elif isinstance(event, Layout):
            layouts[index] = event
        else:
            yield _chapter_page(book, item, event, layouts[index], template, settings, renderer, opts)


def _refusal(item: SpineItem, opts: dict) -> tuple[str, str] | None:
    if item.problem:
        return item.problem
    if not item.linear and not opts["include_nonlinear"]:
        return "nonlinear_skipped", "linear=\"no\" and include_nonlinear is off"
    return None


def _chapter_label(item: SpineItem) -> str:
    return f"spine={item.index}:{item.href}"


def _document(item: SpineItem, template: Template, root: Path, opts: dict) -> Document:
    """The chapter as the browser should load it: by its media type, not its file name
    (Chromium picks the parser from the extension), plus an HTML copy to recover with."""
    path = item.path
    if item.media_type == "application/xhtml+xml":
        url = _with_suffix(path, (".xhtml", ".xht")).as_uri()
        recover = _with_suffix(path, (".html",), copy_name=".recovered.html").as_uri()
        return Document(url, template, (str(root),), recover if opts["malformed_xhtml"] == "recover" else None)
    return Document(_with_suffix(path, (".html", ".htm")).as_uri(), template, (str(root),))


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
                  settings: Settings, renderer, opts: dict) -> Outcome:
    provenance = Provenance(book.source, book.checksum, tools=dict(tool_versions(renderer.browser_version)))
    metadata = {
        "book": {"title": book.title, "language": book.language, "identifier": book.identifier,
                 "epub_version": book.version},
        "chapter": {"spine_index": item.index, "href": item.href, "title": layout.title,
                    "language": layout.language, **chapter_counts(layout)},
        **render_metadata(settings, template, layout),
    }
    return page_outcome(page, layout, corpus="ebooks",
                        key=make_key("ebooks", book.source, item.index, page.text.index),
                        item=f"spine={item.index}/page={page.text.index}", provenance=provenance,
                        metadata=metadata, opts=opts)


CORPUS = Corpus(
    name="ebooks",
    description="EPUB 2/3 e-books -> fixed-size page screenshots + the exact text of each page",
    read=read,
    defaults=DEFAULTS,
    suffixes=(".epub",),
)
