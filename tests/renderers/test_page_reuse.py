"""One page serves many items (BrowserConfig.page_reuse): what an earlier document did must
not show in a later one. Each probe is rendered after documents that try to leave something
behind and compared, byte for byte, with the same probe rendered by a fresh renderer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vlforge.errors import Rejected
from vlforge.renderers.browser import BrowserConfig, BrowserRenderer

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf")

# A document that tries every channel it has: storage, cookies (script and <meta>), a
# global, a web font, a history entry, a scroll position, a remote request.
POLLUTER = """<!doctype html><html><head>
<meta http-equiv="set-cookie" content="leak=meta">
<style>@font-face { font-family: Probe; src: url(probe.ttf); }
body { font: 48px Probe; height: 4000px; }</style>
<script>
window.leak = "global"; window.scrollTo(0, 2000); document.cookie = "leak=script";
try { localStorage.setItem("leak", "local"); sessionStorage.setItem("leak", "session"); } catch (e) {}
</script></head><body><p>polluter</p><img src="http://example.invalid/x.png"></body></html>"""

# What a document sees of its predecessors: the web font by name only (never declared
# here), the polluter's URL as a link (:visited), storage/cookies/globals when scripts run,
# and the screen size through a media query.
PROBE = """<!doctype html><html><head><style>
body { margin: 0; font: 40px Probe, monospace; }
a:link { color: rgb(0, 0, 255); } a:visited { color: rgb(255, 0, 0); }
@media (max-device-width: 400px) { body { background: rgb(255, 0, 0); } }
</style></head><body><p id="seen">nothing seen</p><a href="polluter.html">polluter</a>
<script>
const read = (what) => { try { return String(what()); } catch (e) { return "-"; } };
document.getElementById("seen").textContent = [() => localStorage.getItem("leak"),
  () => sessionStorage.getItem("leak"), () => document.cookie, () => window.leak,
  () => window.scrollY].map(read).join("|");
</script></body></html>"""

SMALL_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"><rect width="300" height="200" fill="#4a8"/><circle cx="150" cy="100" r="50"/></svg>'
LARGE_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="3000" height="100"><rect width="3000" height="100" fill="#84a"/><circle cx="50" cy="50" r="40"/></svg>'


@pytest.fixture
def book(tmp_path) -> Path:
    assert FONT.is_file(), f"{FONT} is missing: make system-deps installs fonts-dejavu-core"
    shutil.copy(FONT, tmp_path / "probe.ttf")
    (tmp_path / "polluter.html").write_text(POLLUTER, encoding="utf-8")
    return tmp_path


def pollute(renderer: BrowserRenderer, folder: Path) -> None:
    """Every kind of item the corpora render, each leaving what it can: as written
    content (one window, document.open), from a file (a web font), and at the very
    URL the probe is later loaded from (storage is per file)."""
    renderer.render_svg(LARGE_SVG, max_side=1000)  # another device scale factor
    renderer.render_svg(SMALL_SVG)  # another viewport
    renderer.render_html(POLLUTER)
    renderer.render_html(POLLUTER, base_url=str(folder))
    (folder / "doc.html").write_text(POLLUTER, encoding="utf-8")
    renderer.run_in_page(lambda page: page.goto((folder / "doc.html").as_uri()), file_roots=[folder])
    with pytest.raises(Rejected):
        renderer.render_html(POLLUTER, selector="#missing")  # an item that fails


def probe(renderer: BrowserRenderer, folder: Path) -> list[bytes]:
    """The probe as written content, from a file beside the polluter, and at its URL."""
    (folder / "doc.html").write_text(PROBE, encoding="utf-8")

    def shot(page):
        page.goto((folder / "doc.html").as_uri())
        return page.screenshot(type="png")

    return [renderer.render_html(PROBE, fail_on_blocked=True).png,
            renderer.render_html(PROBE, base_url=str(folder), fail_on_blocked=True).png,
            renderer.run_in_page(shot, fail_on_blocked=True, file_roots=[folder])]


@pytest.mark.parametrize("javascript", [False, True], ids=["scripts-off", "scripts-on"])
def test_a_document_renders_as_in_a_fresh_context_after_others(book, javascript):
    config = BrowserConfig(timeout_s=10, javascript=javascript)
    with BrowserRenderer(config) as fresh:
        expected = probe(fresh, book)
    with BrowserRenderer(config) as used:
        pollute(used, book)
        after = probe(used, book)
        pollute(used, book)
        again = probe(used, book)
    assert after == expected and again == expected


def test_the_probe_would_show_a_leaked_font(book):
    # The comparison above can fail: with the font declared, the probe's pixels change.
    declared = PROBE.replace("<style>", "<style>@font-face { font-family: Probe; src: url(probe.ttf); }")
    with BrowserRenderer(BrowserConfig(timeout_s=10)) as renderer:
        assert probe(renderer, book)[1] != renderer.render_html(declared, base_url=str(book)).png


def test_one_page_serves_many_items_and_is_replaced_after_page_reuse(book):
    with BrowserRenderer(BrowserConfig(timeout_s=10, page_reuse=3)) as renderer:
        pages = [renderer.run_in_page(lambda page: page) for _ in range(4)]
    assert pages[0] is pages[1] is pages[2] and pages[3] is not pages[0]
    with BrowserRenderer(BrowserConfig(timeout_s=10, javascript=True)) as renderer:
        first, second = (renderer.run_in_page(lambda page: page) for _ in range(2))
    assert first is not second  # scripts on: a fresh context per item


def test_blocked_requests_belong_to_the_item_that_made_them(book):
    with BrowserRenderer(BrowserConfig(timeout_s=10)) as renderer:
        polluted = renderer.render_html(POLLUTER, base_url=str(book))
        clean = renderer.render_html("<p>clean</p>", fail_on_blocked=True)
    assert polluted.blocked_requests == ["http://example.invalid/x.png"]
    assert clean.blocked_requests == []


def test_page_reuse_must_be_positive():
    with pytest.raises(ValueError, match="page_reuse"):
        BrowserConfig(page_reuse=0)
