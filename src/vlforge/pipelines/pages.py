"""Rendered pages as samples: what the paginated corpora (ebooks, html) share.

    page_defaults()           the options every paginated corpus has (page size, templates...)
    pagination_settings(opts) those options as the paginator's PaginationSettings
    check_page_options(name)  a corpus's check_options: those options checked before a job
    templates_for, renderer_for, tool_versions
    rendered_pages(...)       paginate() as (document index, layout, page) per page
    page_sample(...)          one page -> a Sample (or the Reject of a failed screenshot)
    page_filter(check)        a stage from a page check; the checks below, in this order:
        blank_pages           nothing on the page (always rejected)
        text_outside_pages    text boxes not inside the page image
        page_content          pages with an image and no text (rejected unless
                              pages.empty_text is keep: empty_text_page, or
                              fixed_layout_image_page for a pre-paginated page), nearly
                              empty and image-only pages, by the `pages` options
        blank_renders         text on the page but a single-colour image

A corpus reads (and renders) pages; the checks are its stages, so every page a check drops
is a ledger row naming that check. A page's text and ledger label travel to them in
`Sample.scratch`.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vlforge.config import opt
from vlforge.contract import Outcome, Stage, TaskContext
from vlforge.errors import Rejected, VlforgeError, exception_detail
from vlforge.renderers.browser import (
    BrowserConfig,
    BrowserRenderer,
    is_uniform,
    png_size,
    worker_renderer,
)
from vlforge.renderers.paginate import (
    Document,
    Layout,
    Page,
    PageSpec,
    PageText,
    PaginationSettings,
    Template,
    builtin_templates,
    load_template,
    paginate,
    squash,
)
from vlforge.schemas import Provenance, Sample

_POLICIES = ("keep", "reject")


def page_defaults() -> dict[str, Any]:
    """Options every paginated corpus (ebooks, html) has."""
    return {
        "page": {
            "width": opt(1024, "page width in CSS px (the PNG is width * device_scale_factor pixels)"),
            "height": opt(1024, "page height in CSS px"),
            "device_scale_factor": opt(1.0, "device pixels per CSS px of the screenshots"),
        },
        # Built-in templates to choose from (renderers/templates/NAME.css) and CSS files of
        # your own (see serif.css for the --vlforge-* properties a template sets).
        "templates": opt(sorted(builtin_templates()),
                         "built-in templates to choose from per document (renderers/templates/NAME.css)"),
        "template_files": opt([], "CSS files of your own templates (see serif.css for the --vlforge-* properties)"),
        "template": opt("", "one template for everything, by name, instead of choosing per document"),
        "text_kind": opt("plain", "page text as plain or markdown (headings, list items, emphasis, code)"),
        "pages": {
            # A page whose text is empty (whitespace only) but that shows an image (a title
            # page drawn as a picture) has no text to pair with its image: rejected
            # (empty_text_page) unless empty_text is keep. A page with fewer characters than
            # nearly_empty_chars (whitespace aside) is "nearly empty": kept or rejected
            # (nearly_empty_page); with an image on it, it is an image page: kept or rejected
            # (image_only_page). A page with nothing on it is always rejected (blank_page).
            "empty_text": opt("reject", "keep or reject (empty_text_page) pages with an image and no text at all"),
            "nearly_empty_chars": opt(16, "fewer characters than this (whitespace aside): a nearly empty page"),
            "nearly_empty": opt("keep", "keep or reject (nearly_empty_page) nearly empty pages without images"),
            "image_only": opt("keep", "keep or reject (image_only_page) nearly empty pages with an image"),
            # Ruby (furigana): the reading set in small type above (vertical text: beside) its
            # base. <rp> fallback parentheses are never page text.
            "ruby": opt("aozora", "ruby readings in page texts: aozora (茂平《もへい》, Aozora Bunko's "
                        "notation), base (茂平: the base text only) or inline (茂平もへい)"),
        },
        "check_text": opt(True, "refuse documents whose page texts do not add up (text_mismatch)"),
        "max_pages": opt(1000, "pages per document (chapter) at most; longer ones -> too_many_pages"),
        "render": {
            # One browser page (a fresh hermetic context) serves this many layouts and
            # screenshots, or this many seconds, whichever ends first; then a new one.
            "units_per_call": opt(256, "layouts and screenshots per browser page (fresh context) at most"),
            "call_budget_s": opt(60.0, "seconds per browser page before a new one is started"),
            "page_timeout_s": opt(10.0, "seconds for one screenshot"),
            "load_timeout_s": opt(30.0, "seconds for loading one document with its resources (images, objects, fonts)"),
            "retries": opt(1, "retries after a browser crash or hang before the page/chapter is rejected"),
        },
    }


# --------------------------------------------------------------------------------------
# Options -> paginator settings, templates, browser
# --------------------------------------------------------------------------------------


def pagination_settings(opts: dict) -> PaginationSettings:
    page, render = opts["page"], opts["render"]
    for name in ("empty_text", "nearly_empty", "image_only"):
        if opts["pages"][name] not in _POLICIES:
            raise ValueError(f"pages.{name} must be one of {_POLICIES}, not {opts['pages'][name]!r}")
    if opts["text_kind"] not in ("plain", "markdown"):
        raise ValueError(f"text_kind must be plain or markdown, not {opts['text_kind']!r}")
    return PaginationSettings(
        PageSpec(page["width"], page["height"], page["device_scale_factor"]),
        units_per_call=render["units_per_call"], call_budget_s=render["call_budget_s"],
        page_timeout_s=render["page_timeout_s"], load_timeout_s=render["load_timeout_s"],
        max_pages=opts["max_pages"], check_text=opts["check_text"], ruby=opts["pages"]["ruby"])


def check_page_options(section: str) -> Callable[[dict], None]:
    """A corpus's check_options: its `section`'s page options must make paginator settings
    and templates, else a VlforgeError naming what is wrong, before any document is read."""

    def check(options: dict) -> None:
        try:
            pagination_settings(options[section])
            templates_for(options[section])
        except ValueError as error:
            raise VlforgeError(str(error)) from None

    return check


@functools.lru_cache(maxsize=8)
def _browser_config(spec: PageSpec, timeout_s: float, retries: int) -> BrowserConfig:
    return BrowserConfig(viewport_width=spec.width, viewport_height=spec.height,
                         device_scale_factor=spec.device_scale, timeout_s=timeout_s, retries=retries)


def renderer_for(settings: PaginationSettings, opts: dict) -> BrowserRenderer:
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
# Pages -> Samples
# --------------------------------------------------------------------------------------


def rendered_pages(renderer: BrowserRenderer, docs: Sequence[Document],
                   settings: PaginationSettings) -> Iterator[tuple[int, Layout | None, Page | Rejected]]:
    """(document index, its layout, one of its pages) in document and page order, or
    (document index, None, why) for a document that was refused as a whole."""
    layouts: dict[int, Layout] = {}
    for index, event in paginate(renderer, docs, settings):
        if isinstance(event, Layout):
            layouts[index] = event
        else:
            yield index, layouts.get(index), event


def page_sample(page: Page, layout: Layout, *, corpus: str, key: str, item: str,
                provenance: Provenance, metadata: dict, opts: dict) -> Outcome:
    """The page as a Sample for the page filters, or the Reject of its failed screenshot.

    `item` is the page's ledger label (the filters reject under it, not under the key).
    """
    if page.error is not None:
        return page.error.reject(provenance.source, item, "render")
    text = page.text.markdown if opts["text_kind"] == "markdown" else page.text.plain
    metadata = {**metadata, "page_index": page.text.index, "pages": len(layout.pages),
                "text_chars": len(text), "images_on_page": page.text.images,
                "display_transforms": list(page.text.transforms),
                **({"ruby": page.text.ruby} if page.text.ruby else {})}
    image = {} if page.png is None else {"image": page.png, "image_format": "png", "image_size": png_size(page.png)}
    return Sample(key, corpus, text, opts["text_kind"], provenance, metadata=metadata,
                  scratch={"page": page.text, "item": item}, **image)


def document_counts(layout: Layout) -> dict:
    """Characters (whitespace aside) of a document: its DOM text as the pages write it (ruby
    in their notation), what its pages show (list markers included), and DOM text that no
    page shows. For coverage reports."""
    return {"text_chars": len(squash(layout.text)) + layout.ruby_chars, "hidden_chars": layout.hidden_chars,
            "page_chars": sum(len(squash(p.plain)) for p in layout.pages)}


def render_metadata(settings: PaginationSettings, template: Template, layout: Layout) -> dict:
    """What every page of a document records about how it was rendered (a fixed-layout page:
    no template, laid out at its own viewport and scaled into the page)."""
    fixed = layout.fixed_viewport
    return {
        "template": "" if fixed else template.name,
        "layout": {"pre_paginated": bool(fixed), "viewport": list(fixed) if fixed else None},
        "viewport": {"width": settings.spec.width, "height": settings.spec.height},
        "device_scale_factor": settings.spec.device_scale,
        "parsed_as": layout.parsed_as,
        "blocked_requests": len(layout.blocked),
    }


# --------------------------------------------------------------------------------------
# Page filters: the stages of a paginated corpus
# --------------------------------------------------------------------------------------

# A check raises Rejected for a page it drops: (the sample, its page text, the `pages` options).
PageCheck = Callable[[Sample, PageText, dict], None]


def page_filter(check: PageCheck, section: str) -> Stage:
    """A stage named after `check` that drops the pages it rejects; `section` is the corpus's
    option section (its `pages` options are the policies)."""

    def stage(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
        policy = ctx.option(f"{section}.pages")
        for outcome in outcomes:
            error = _problem(check, outcome, policy) if isinstance(outcome, Sample) else None
            if error is not None:
                outcome = error.reject(outcome.provenance.source, outcome.scratch["item"], check.__name__)
            yield outcome

    stage.__name__ = check.__name__
    return stage


def _problem(check: PageCheck, sample: Sample, policy: dict) -> Rejected | None:
    try:
        check(sample, sample.scratch["page"], policy)
    except Rejected as error:
        return error
    except Exception as exc:  # one bad page must not fail the task (as in per_sample)
        return Rejected("stage_error", exception_detail(exc))
    return None


def page_filters(section: str) -> tuple[Stage, ...]:
    """The page checks in the order they apply: a page is dropped by the first that fails."""
    return tuple(page_filter(check, section)
                 for check in (blank_pages, text_outside_pages, page_content, blank_renders))


def blank_pages(sample: Sample, text: PageText, policy: dict) -> None:
    if text.blank:
        raise Rejected("blank_page", "no visible text or image on the page")


def text_outside_pages(sample: Sample, text: PageText, policy: dict) -> None:
    if text.outside:
        raise Rejected("text_outside_page", f"{text.outside} text box(es) not inside the page image")


def page_content(sample: Sample, text: PageText, policy: dict) -> None:
    """Pages with an image and no text, nearly empty pages, and pages that are mostly an
    image, kept or rejected by policy (a page with neither text nor image is a blank_page)."""
    if not sample.text.strip() and policy["empty_text"] == "reject":
        if text.fixed_layout:  # a designed page that is a picture: comics, art books, scans
            raise Rejected("fixed_layout_image_page", f"a fixed-layout page with no text, {text.images} image(s)")
        raise Rejected("empty_text_page", f"no text, {text.images} image(s)")
    chars = len(squash(text.plain))
    if chars >= policy["nearly_empty_chars"]:
        return
    if text.images and policy["image_only"] == "reject":
        raise Rejected("image_only_page", f"{chars} characters and {text.images} image(s)")
    if not text.images and policy["nearly_empty"] == "reject":
        raise Rejected("nearly_empty_page", f"{chars} characters")


def blank_renders(sample: Sample, text: PageText, policy: dict) -> None:
    """Text that does not show: the page has text but its image is a single colour."""
    if squash(text.plain) and _could_be_one_colour(sample.image) and is_uniform(sample.image):
        raise Rejected("blank_render", "the page has text but its image is a single colour")


def _could_be_one_colour(png: bytes) -> bool:
    """Only a small PNG can be a single colour: deflate turns the long runs of one pixel into
    under 1/80 of the raw size, so a PNG above 1/64 of it need not be decoded (which costs
    as much as a tenth of the screenshot)."""
    width, height = png_size(png)
    return len(png) * 64 < width * height * 3
