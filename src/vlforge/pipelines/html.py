"""HTML documents (exam questions, articles) -> page screenshots + the exact text of each page.

The same templates, pagination, per-page text and page filters as the e-book corpus
(pipelines.pages); MathML renders natively in Chromium. Inputs:

    .html .htm          loaded as they are, from where they are (relative images and CSS work)
    .xhtml .xht         parsed as XML; a file that is not well-formed is re-parsed as HTML
                        (malformed_xhtml: recover) or rejected (malformed_xhtml: reject)
    .md                 Markdown with HTML inside, GitHub-Pages/Jekyll style: the front matter
                        gives the title (and `lang`), Liquid tags ({% ... %}, {{ ... }}) and
                        HTML comments are dropped, then a small Markdown subset becomes HTML:
                        raw HTML blocks, ATX headings, paragraphs, lists, block quotes, fenced
                        code, rules, emphasis, code spans, links and images.

Items are pages: a Sample or a Reject each; a file that cannot be read (stage read) or
paginated (stage render) is one Reject (item "document"). Keys: make_key("html", path,
page_index). The template is chosen per document from its checksum.

The stream is the reader, then the page filters (pipelines.pages). A fresh browser page costs
several screenshots, so the reader renders the next `docs_per_call` files of its task together
and hands each file's outcomes out when the executor asks for that file (results never depend
on how files were grouped).
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlforge.config import opt
from vlforge.contract import Corpus, Outcome, Part, TaskContext
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
from vlforge.renderers.paginate import Document, Layout, Page, PaginationSettings, choose_template
from vlforge.schemas import Provenance, checksum, make_key

DEFAULTS: dict[str, Any] = {
    # Rendering dominates: tasks of up to 16 files (one renderer group each) spread a
    # directory of pages over the workers.
    "tasks": {
        "target_bytes": opt(8 * 1024 * 1024, "input bytes per task"),
        "max_files": opt(16, "files per task (one renderer group each), to spread a directory over the workers"),
    },
    "html": {
        **page_defaults(),
        "malformed_xhtml": opt("recover", "recover (re-parse as HTML) or reject .xhtml files that are not well-formed"),
        "docs_per_call": opt(16, "files rendered together (one browser page set-up for all)"),
        "max_file_bytes": opt(8 * 1024 * 1024, "larger files -> file_too_large"),
    }
}

SUFFIXES = (".html", ".htm", ".xhtml", ".xht", ".md")


# --------------------------------------------------------------------------------------
# Reading: files of a task rendered in groups
# --------------------------------------------------------------------------------------


def read(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    ahead = _rendered_ahead(ctx)
    if part.path not in ahead:
        ahead.update(_render_group(_group_from(part, ctx, ahead), ctx))
    yield from ahead.pop(part.path)


def _rendered_ahead(ctx: TaskContext) -> dict[str, list[Outcome]]:
    """Path -> outcomes of the task's files that were rendered together with an earlier one
    and wait for their own read(). Kept on the task's context: it lives and dies with the
    task, so tasks that share a worker never share it."""
    return ctx.state.setdefault("html_rendered_ahead", {})


def _group_from(part: Part, ctx: TaskContext, ready: dict) -> list[str]:
    """This file and the next ones of the task that this corpus reads, not yet rendered."""
    paths = [p.path for p in ctx.task.parts if p.path.lower().endswith(SUFFIXES)]
    start = paths.index(part.path) if part.path in paths else 0
    group = [p for p in paths[start:] if p not in ready][: ctx.option("html.docs_per_call")]
    return group if part.path in group else [part.path]


def _render_group(paths: list[str], ctx: TaskContext) -> dict[str, list[Outcome]]:
    opts = ctx.option("html")
    outcomes: dict[str, list[Outcome]] = {path: [] for path in paths}
    workdir = Path(tempfile.mkdtemp(prefix="vlforge-html-"))
    try:
        sources = []
        for path in paths:
            try:
                sources.append(_prepare(path, workdir, opts))
            except Rejected as error:
                outcomes[path].append(error.reject(path, "document", "read"))
        for source, outcome in _paginate_sources(sources, opts):
            outcomes[source.path].append(outcome)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return outcomes


@dataclass(frozen=True)
class _Source:
    """One input file, ready for the browser."""

    path: str
    checksum: str
    document: Document
    kind: str  # html, xhtml or markdown


def _prepare(path: str, workdir: Path, opts: dict) -> _Source:
    """The file ready for the browser, or Rejected when it cannot be read (the size limit
    keeps a huge file from ever reaching the browser)."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise Rejected("unreadable", f"{type(exc).__name__}: {exc.strerror or exc}") from None
    if len(data) > opts["max_file_bytes"]:
        raise Rejected("file_too_large", f"{len(data)} bytes > max_file_bytes")
    digest = checksum(data)
    template = choose_template(templates_for(opts), digest)
    folder = file.parent.resolve()
    roots = (str(folder), str(workdir))  # its own folder (images, CSS) and our copies
    base = folder.as_uri() + "/"
    suffix = file.suffix.lower()
    if suffix == ".md":
        try:
            html = markdown_to_html(data.decode("utf-8"), base)
        except UnicodeDecodeError as exc:
            raise Rejected("invalid_utf8", f"invalid UTF-8 at byte {exc.start}") from None
        return _Source(path, digest, Document(_write(workdir, path, html).as_uri(), template, roots), "markdown")
    if suffix in (".html", ".htm"):
        return _Source(path, digest, Document(file.resolve().as_uri(), template, roots), "html")
    recover = None
    if opts["malformed_xhtml"] == "recover":  # an HTML copy elsewhere, its links kept by <base>
        recover = _write(workdir, path, _with_base(data.decode("utf-8", "replace"), base)).as_uri()
    return _Source(path, digest, Document(file.resolve().as_uri(), template, roots, recover), "xhtml")


def _write(workdir: Path, path: str, html: str) -> Path:
    target = workdir / (hashlib.sha1(path.encode()).hexdigest()[:16] + ".html")
    target.write_text(html, encoding="utf-8")
    return target


def _paginate_sources(sources: list[_Source], opts: dict) -> Iterator[tuple[_Source, Outcome]]:
    if not sources:
        return
    settings = pagination_settings(opts)
    renderer = renderer_for(settings, opts)
    for index, layout, page in rendered_pages(renderer, [s.document for s in sources], settings):
        source = sources[index]
        if layout is None:
            yield source, page.reject(source.path, "document", "render")
        else:
            yield source, _page(source, page, layout, settings, renderer.browser_version, opts)


def _page(source: _Source, page: Page, layout: Layout, settings: PaginationSettings,
          browser_version: str, opts: dict) -> Outcome:
    metadata = {"document": {"title": layout.title, "language": layout.language,
                             "format": source.kind, **document_counts(layout)},
                **render_metadata(settings, source.document.template, layout)}
    provenance = Provenance(source.path, source.checksum, tools=dict(tool_versions(browser_version)))
    return page_sample(page, layout, corpus="html", key=make_key("html", source.path, page.text.index),
                       item=f"page={page.text.index}", provenance=provenance, metadata=metadata, opts=opts)


# --------------------------------------------------------------------------------------
# XHTML recovery and Markdown
# --------------------------------------------------------------------------------------

_HEAD_TAG = re.compile(r"<head\b[^>]*>", re.I)
_HTML_TAG = re.compile(r"<html\b[^>]*>", re.I)


def _with_base(html: str, base: str) -> str:
    """`html` with a <base> so that, written elsewhere, its relative links still resolve."""
    tag = f'<base href="{html_lib.escape(base)}">'
    for pattern in (_HEAD_TAG, _HTML_TAG):
        match = pattern.search(html)
        if match:
            return html[: match.end()] + tag + html[match.end():]
    return tag + html


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.S)
_DROPPED = re.compile(r"<!--.*?-->|{%.*?%}|{{.*?}}", re.S)
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_HAN = re.compile(r"[\u3400-\u9fff]")


def markdown_to_html(text: str, base: str) -> str:
    """A standalone HTML document from Jekyll-style Markdown (see the module docstring)."""
    front, body = _front_matter(text.replace("\r\n", "\n"))
    body = _DROPPED.sub("", body)
    codes: list[str] = []
    body = _FENCE.sub(lambda m: _stash(codes, m.group(1)), body)
    blocks = [_block(b.strip("\n"), codes) for b in re.split(r"\n[ \t]*\n", body) if b.strip()]
    title = front.get("title", "")
    lang = front.get("lang") or ("zh" if len(_HAN.findall(body)) > len(body) // 10 else "")
    return (f'<!doctype html><html lang="{html_lib.escape(lang)}"><head><meta charset="utf-8">'
            f'<base href="{html_lib.escape(base)}"><title>{html_lib.escape(title)}</title></head>'
            f"<body>{''.join(blocks)}</body></html>")


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    fields = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t")):
            fields[key.strip()] = value.strip().strip("\"'")
    return fields, text[match.end():]


def _stash(codes: list[str], code: str) -> str:
    codes.append(code)
    return f"\n\n\x00CODE{len(codes) - 1}\x00\n\n"


def _block(block: str, codes: list[str]) -> str:
    stripped = block.strip()
    if stripped.startswith("\x00CODE"):
        return f"<pre><code>{html_lib.escape(codes[int(stripped[5:-1])])}</code></pre>"
    if stripped.startswith("<"):
        return block  # raw HTML block, as Markdown passes it through
    heading = re.match(r"(#{1,6})[ \t]+(.*?)[ \t#]*$", stripped)
    if heading and "\n" not in stripped:
        level = len(heading.group(1))
        return f"<h{level}>{_inline(heading.group(2))}</h{level}>"
    if re.fullmatch(r"([-*_])([ \t]*\1){2,}", stripped):
        return "<hr>"
    lines = stripped.split("\n")
    if all(line.lstrip().startswith(">") for line in lines):
        inner = "\n".join(re.sub(r"^\s*> ?", "", line) for line in lines)
        return f"<blockquote>{_block(inner, codes)}</blockquote>"
    for pattern, tag in ((r"[-*+][ \t]+", "ul"), (r"\d{1,9}[.)][ \t]+", "ol")):
        if re.match(pattern, stripped):
            return _list(lines, pattern, tag)
    return f"<p>{_inline(stripped)}</p>"


def _list(lines: list[str], pattern: str, tag: str) -> str:
    """Items start with a marker; other lines continue the item before them."""
    items: list[str] = []
    for line in lines:
        marker = re.match(r"[ \t]*" + pattern, line)
        if marker or not items:
            items.append(line[marker.end():] if marker else line)
        else:
            items[-1] += " " + line.strip()
    return f"<{tag}>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + f"</{tag}>"


_INLINE = (
    (re.compile(r"`([^`]+)`"), lambda m: f"<code>{html_lib.escape(m.group(1))}</code>"),
    (re.compile(r"!\[([^\]]*)\]\(([^)\s]+)[^)]*\)"),
     lambda m: f'<img alt="{html_lib.escape(m.group(1))}" src="{html_lib.escape(m.group(2))}">'),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)"), lambda m: f'<a href="{html_lib.escape(m.group(2))}">{m.group(1)}</a>'),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), lambda m: f"<strong>{m.group(2)}</strong>"),
    (re.compile(r"(?<![*\w])([*_])(?=\S)(.+?)(?<=\S)\1(?![*\w])"), lambda m: f"<em>{m.group(2)}</em>"),
)


def _inline(text: str) -> str:
    """Inline Markdown to HTML; inline HTML already in the text passes through."""
    for pattern, replace in _INLINE:
        text = pattern.sub(replace, text)
    return text.replace("  \n", "<br>")


CORPUS = Corpus(
    name="html",
    description="HTML/XHTML documents and Markdown-with-HTML pages -> page screenshots + exact page text",
    read=read,
    stages=page_filters("html"),
    defaults=DEFAULTS,
    suffixes=SUFFIXES,
    check_options=check_page_options("html"),
)
