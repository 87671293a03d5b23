"""Real-Chromium tests for vlforge.renderers.paginate: pages, their texts, and the checks."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import start_trap_server
from PIL import Image, ImageOps

from vlforge.errors import Rejected
from vlforge.renderers.browser import BrowserConfig, BrowserRenderer, is_uniform
from vlforge.renderers.paginate import (
    Document,
    Layout,
    Page,
    PageSpec,
    PaginationSettings,
    builtin_templates,
    choose_template,
    geometry_css,
    lay_out,
    paginate,
    parse_template,
    shoot,
    squash,
)

SPEC = PageSpec(600, 800)  # smaller than the 1024x1024 default: the tests shoot many pages
SETTINGS = PaginationSettings(SPEC, page_timeout_s=10.0, load_timeout_s=20.0)
TEMPLATES = builtin_templates()
WORDS = "the keeper wrote every change of weather in a careful log before dawn".split()


@pytest.fixture(scope="module")
def renderer():
    config = BrowserConfig(viewport_width=SPEC.width, viewport_height=SPEC.height,
                           timeout_s=SETTINGS.call_timeout_s)
    with BrowserRenderer(config) as r:
        yield r


def token_text(paragraphs: int, start: int = 1) -> list[str]:
    """Paragraphs of words with a unique token (t0001, t0002...) every fifth word."""
    out, k = [], start
    for p in range(paragraphs):
        words = []
        for w in range(40 + (p * 7) % 25):
            words.append(f"t{k:04d}" if w % 5 == 0 else WORDS[(k + w) % len(WORDS)])
            k += w % 5 == 0
        out.append(" ".join(words))
    return out


def write_doc(tmp_path, name: str, body: str, head: str = "", lang: str = "en") -> str:
    path = tmp_path / name
    path.write_text(f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{name}</title>'
                    f"{head}</head><body>{body}</body></html>", encoding="utf-8")
    return path.as_uri()


def doc(tmp_path, name: str, body: str, template: str = "serif", **kwargs) -> Document:
    return Document(write_doc(tmp_path, name, body, **kwargs), TEMPLATES[template], (str(tmp_path),))


def run(renderer, docs, settings=SETTINGS) -> list[tuple[Layout | Rejected, list[Page]]]:
    """paginate() grouped per document: (layout or error, pages)."""
    results: dict[int, list] = {}
    for index, event in paginate(renderer, docs, settings):
        if isinstance(event, Page):
            results[index][1].append(event)
        else:
            results[index] = [event, []]
    return [tuple(results[i]) for i in range(len(docs))]


def tokens(text: str) -> list[int]:
    return [int(t) for t in re.findall(r"\bt(\d{4})\b", text)]


# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_pages_add_up_to_the_document_in_order(renderer, tmp_path, template):
    paragraphs = token_text(30)
    body = "<h1>A heading</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs)
    (layout, pages), = run(renderer, [doc(tmp_path, "long.html", body, template)])
    assert len(pages) >= 3 and all(page.png for page in pages)
    joined = "".join(page.text.plain for page in pages)
    # Nothing lost or doubled at page breaks: the pages give the source text exactly...
    assert squash(joined) == squash("A heading" + "".join(paragraphs)) == squash(layout.text)
    # ...and every token once, in order, each page a run of consecutive tokens.
    assert tokens(" ".join(page.text.plain for page in pages)) == list(range(1, max(tokens(joined)) + 1))
    assert all(page.text.plain.strip() and page.text.outside == 0 for page in pages)
    for page in pages:
        image = Image.open(io.BytesIO(page.png))
        assert image.size == (SPEC.width, SPEC.height) and not is_uniform(page.png)


def test_every_token_lies_on_the_page_that_claims_it(renderer, tmp_path):
    """An independent check of the text-to-page mapping: find each token in the laid-out
    DOM by searching the text, and check its box is inside the page whose text has it."""
    document = doc(tmp_path, "two.html", "".join(f"<p>{p}</p>" for p in token_text(24)), "two-column")

    def locate(page):
        layout = lay_out(page, document, SETTINGS)
        boxes = page.evaluate(_FIND_TOKENS_JS)
        return layout, boxes

    layout, boxes = renderer.run_in_page(locate, file_roots=document.roots)
    assert len(layout.pages) >= 2
    for page in layout.pages:
        for token in tokens(page.plain):
            left, top, right, bottom = boxes[f"t{token:04d}"]
            x0 = page.index * SPEC.width
            assert x0 <= left and right <= x0 + SPEC.width and 0 <= top and bottom <= SPEC.height


_FIND_TOKENS_JS = r"""() => {
  const boxes = {}, range = document.createRange();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const m of node.data.matchAll(/t\d{4}/g)) {
      range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
      const r = range.getBoundingClientRect();
      boxes[m[0]] = [r.left, r.top, r.right, r.bottom];
    }
  }
  return boxes;
}"""


def test_batches_and_reruns_give_identical_pages(renderer, tmp_path):
    document = doc(tmp_path, "batch.html", "".join(f"<p>{p}</p>" for p in token_text(20)), "sans")
    (_, once), = run(renderer, [document])
    (_, again), = run(renderer, [document])
    (_, batched), = run(renderer, [document], PaginationSettings(SPEC, units_per_call=1))
    assert len(once) >= 3
    assert len(once) == len(again) == len(batched)
    for a, b, c in zip(once, again, batched, strict=True):
        assert a.png == b.png == c.png and a.text == b.text == c.text


def test_markdown_and_plain_text_structure(renderer, tmp_path):
    body = ("<h2>Supplies</h2><p>Keep the <em>lens</em> clean and the <strong>wick</strong> short; "
            "run <code>log()</code> nightly.</p><ul><li>oil</li><li>wicks</li></ul>"
            "<ol><li>light</li><li>wind</li></ol><blockquote><p>Trust the light.</p></blockquote>"
            "<p>one line<br>two line</p><pre>a  b\n  c</pre>")
    (layout, pages), = run(renderer, [doc(tmp_path, "md.html", body)])
    page = pages[0].text
    assert page.plain == ("Supplies\n\nKeep the lens clean and the wick short; run log() nightly.\n\n"
                          "• oil\n\n• wicks\n\n1. light\n\n2. wind\n\nTrust the light.\n\n"
                          "one line\ntwo line\n\na  b\n  c")
    assert page.markdown == ("## Supplies\n\nKeep the *lens* clean and the **wick** short; run `log()` "
                             "nightly.\n\n- oil\n\n- wicks\n\n1. light\n\n2. wind\n\n> Trust the light."
                             "\n\none line  \ntwo line\n\n```\na  b\n  c\n```")


def test_chinese_renders_as_real_glyphs(renderer, tmp_path):
    """Each character must be drawn as its own glyph: with a missing font they would all be
    the same empty box, so crops of different characters would be identical."""
    chars = "永和九年歲在癸丑"
    document = doc(tmp_path, "zh.html", f'<p id="p" style="font-size:40px">{chars}</p>', "sans", lang="zh")

    def shoot_with_boxes(page):
        layout = lay_out(page, document, SETTINGS)
        boxes = page.evaluate("""() => { const n = document.getElementById('p').firstChild, r = document.createRange();
            return [...n.data].map((c, i) => { r.setStart(n, i); r.setEnd(n, i + 1);
            const b = r.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; }); }""")
        return layout, boxes, shoot(page, 0, SETTINGS)

    layout, boxes, png = renderer.run_in_page(shoot_with_boxes, file_roots=document.roots)
    assert layout.pages[0].plain == chars
    image = Image.open(io.BytesIO(png)).convert("L")
    crops = [image.crop(tuple(round(v) for v in box)).tobytes() for box in boxes]
    assert all(min(crop) < 128 for crop in crops)  # ink in every character's box
    assert len(set(crops)) == len(chars)  # and eight different shapes


def test_right_to_left_documents_are_paginated(renderer, tmp_path):
    rtl = doc(tmp_path, "r.html", "<p>שלום עולם</p>", head='<style>body{direction:rtl}</style>', lang="he")
    (layout, pages), = run(renderer, [rtl])
    assert layout.direction == "rtl" and pages[0].text.plain == "שלום עולם"


JA_SENTENCE = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"


@pytest.mark.parametrize("template", ["serif", "two-column"])
def test_vertical_documents_page_downwards_with_their_text_in_reading_order(renderer, tmp_path, template):
    """Vertical Japanese: pages follow one another (page k is the viewport at y = k * height),
    each page's lines read top to bottom, right to left, and the texts add up in order."""
    paragraphs = [f"第{n}段。" + JA_SENTENCE * (1 + n % 3) for n in range(1, 25)]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    head = "<style>html{writing-mode:vertical-rl}</style>"
    (layout, pages), = run(renderer, [doc(tmp_path, "v.html", body, template, head=head, lang="ja")])
    assert layout.writing_mode == "vertical-rl" and layout.vertical and len(pages) >= 2
    joined = "".join(page.text.plain for page in pages)
    assert squash(joined) == squash("".join(paragraphs)) == squash(layout.text)
    numbers = [int(n) for n in re.findall(r"第(\d+)段", "".join(p.text.plain + "|" for p in pages))]
    assert numbers == list(range(1, 25))  # nothing lost or doubled at a page break
    assert all(page.text.outside == 0 and page.png for page in pages)
    # The first line of page 0 is its rightmost column, starting at the top margin.
    image = Image.open(io.BytesIO(pages[0].png)).convert("L")
    top, right, bottom, left = TEMPLATES[template].margins
    first_line = image.crop((SPEC.width - right - 40, 0, SPEC.width, SPEC.height))
    ink = ImageOps.invert(first_line).getbbox()
    assert ink and ink[1] < top + 20, ink
    if template == "two-column":  # columns of a vertical page stand one above the other
        halves = [image.crop((0, 0, SPEC.width, SPEC.height // 2)), image.crop((0, SPEC.height // 2, SPEC.width, SPEC.height))]
        assert all(ImageOps.invert(half).getbbox() for half in halves)


def test_malformed_xhtml_is_recovered_as_html_or_refused(renderer, tmp_path):
    bad = '<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Broken <b>nesting</p> here &nbsp; too</body></html>'
    (tmp_path / "bad.xhtml").write_text(bad, encoding="utf-8")
    (tmp_path / "bad.html").write_text(bad, encoding="utf-8")
    strict = Document((tmp_path / "bad.xhtml").as_uri(), TEMPLATES["serif"], (str(tmp_path),))
    lenient = Document(strict.url, strict.template, strict.roots, (tmp_path / "bad.html").as_uri())
    (refused, _), (layout, pages) = run(renderer, [strict, lenient])
    assert refused.reason == "malformed_xhtml"
    assert layout.parsed_as == "html" and "Broken nesting" in pages[0].text.plain


def test_too_many_pages_is_refused_before_any_screenshot(renderer, tmp_path):
    body = "".join(f"<p>{p}</p>" for p in token_text(30))
    (refused, pages), = run(renderer, [doc(tmp_path, "many.html", body)], PaginationSettings(SPEC, max_pages=2))
    assert refused.reason == "too_many_pages" and pages == []


def test_text_placed_off_the_page_is_not_on_any_page(renderer, tmp_path):
    body = '<h1 style="position:absolute;left:-999em">Hidden title</h1><p>Visible words.</p>'
    (layout, pages), = run(renderer, [doc(tmp_path, "hidden.html", body)])
    assert [p.text.plain for p in pages] == ["Visible words."]
    assert layout.hidden_chars == len("Hiddentitle") and "Hidden title" in layout.text


def test_overflowing_text_is_marked_outside(renderer, tmp_path):
    tall = "<br>".join(f"line {i}" for i in range(80))
    body = f'<p>Before.</p><p style="display:inline-block">{tall}</p>'  # monolithic, taller than a page
    (layout, pages), = run(renderer, [doc(tmp_path, "tall.html", body)])
    assert any(page.text.outside for page in pages) and layout.hidden_chars > 0


def test_a_crashing_document_fails_alone(renderer, tmp_path):
    good = doc(tmp_path, "good.html", "<p>good document</p>")
    crash = Document("chrome://crash", TEMPLATES["serif"])
    (first, p1), (failed, _), (last, p3) = run(renderer, [good, crash, good])
    assert isinstance(failed, Rejected) and failed.reason == "browser_crash"
    assert p1[0].png == p3[0].png and p3[0].text.plain == "good document"


def test_remote_requests_are_blocked_and_counted(renderer, tmp_path):
    server, url, hits = start_trap_server()
    try:
        body = f'<p>Text stays.</p><img src="{url}/x.png"><p style="background:url({url}/bg.png)">more</p>'
        head = f'<link rel="stylesheet" href="{url}/remote.css"><script src="{url}/x.js"></script>'
        (layout, pages), = run(renderer, [doc(tmp_path, "remote.html", body, head=head)])
    finally:
        server.shutdown()
    assert hits == []
    assert len(layout.blocked) >= 2 and all(u.startswith(url) for u in layout.blocked)
    assert pages[0].text.plain == "Text stays.\n\nmore"


# --------------------------------------------------------------------------------------
# Templates (no browser)
# --------------------------------------------------------------------------------------


def test_templates_parse_fit_and_are_chosen_deterministically():
    assert {"serif", "sans", "two-column"} <= set(TEMPLATES) and TEMPLATES["two-column"].columns == 2
    for template in TEMPLATES.values():
        assert "column-count" in geometry_css(template, PageSpec())
    chosen = [choose_template(list(TEMPLATES.values()), f"sha256:{i}").name for i in range(60)]
    assert chosen == [choose_template(list(TEMPLATES.values()), f"sha256:{i}").name for i in range(60)]
    assert set(chosen) == set(TEMPLATES)  # every template gets books
    with pytest.raises(ValueError, match="margin-left"):
        parse_template("bad", ":root { --vlforge-margin-top: 1px; --vlforge-margin-right: 1px; "
                              "--vlforge-margin-bottom: 1px; }")
    three = parse_template("three", ":root { --vlforge-margin-top: 9px; --vlforge-margin-right: 9px; "
                                    "--vlforge-margin-bottom: 9px; --vlforge-margin-left: 9px; --vlforge-columns: 3; }")
    with pytest.raises(ValueError, match="divisible"):
        geometry_css(three, PageSpec(1024, 1024))


def test_svg_objects_show_on_every_page_they_are_on(renderer, tmp_path):
    """An <object> SVG figure is a frame of its own; off screen until its page is scrolled
    to, it must still be painted in that page's screenshot (every time, not most times)."""
    # Like SICP's figures: a stylesheet with a web font, text, many shapes.
    (tmp_path / "f.ttf").write_bytes(Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").read_bytes())
    (tmp_path / "fig.css").write_text("@font-face{font-family:Fig;src:url(f.ttf)} text{font-family:Fig}")
    shapes = "".join(f'<circle cx="{10 + i % 28 * 10}" cy="{10 + i // 28 * 10}" r="4" fill="#d01010"/>'
                     for i in range(28 * 19))
    (tmp_path / "fig.svg").write_text('<?xml-stylesheet href="fig.css" type="text/css"?>'
                                      '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200">'
                                      f'<rect width="300" height="200" fill="#d01010"/>{shapes}'
                                      '<text x="10" y="190" font-size="9">(cons 1 2)</text></svg>', encoding="utf-8")
    figure = '<p style="break-before:column">Figure.</p><object data="fig.svg" type="image/svg+xml">SVG</object>'
    (layout, pages), = run(renderer, [doc(tmp_path, "figs.html", figure * 8)])
    assert len(pages) == 8
    for page in pages:
        pixels = np.asarray(Image.open(io.BytesIO(page.png)).convert("RGB")).astype(int)
        red = int(((pixels[..., 0] > 180) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)).sum())
        assert red > 300 * 200 * 0.9, (page.text.index, red)
