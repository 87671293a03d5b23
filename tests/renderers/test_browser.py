"""Real-Chromium tests for vlforge.renderers.browser (no mocks)."""

from __future__ import annotations

import io
import os
import time

import pytest
from conftest import start_trap_server
from PIL import Image

from vlforge.errors import Rejected
from vlforge.renderers.browser import (
    BrowserConfig,
    BrowserRenderer,
    svg_intrinsic_size,
    worker_renderer,
)

TABLE_HTML = """<!doctype html><html><body>
<table id="t" border="1" style="border-collapse:collapse;font:14px sans-serif">
<tr><th>name</th><th>value</th></tr><tr><td>alpha</td><td>1.5</td></tr>
<tr><td>beta</td><td>2.25</td></tr></table></body></html>"""


@pytest.fixture(scope="module")
def renderer():
    with BrowserRenderer(BrowserConfig(timeout_s=10)) as r:
        yield r


def _img(png: bytes):
    return Image.open(io.BytesIO(png)).convert("RGB")


def _colours(png: bytes) -> int:
    return len(_img(png).getcolors(maxcolors=1 << 20) or ())


def test_table_element_png_matches_box(renderer):
    box = renderer.run_in_page(
        lambda p: (p.set_content(TABLE_HTML), p.query_selector("#t").bounding_box())[1]
    )
    res = renderer.render_html(TABLE_HTML, selector="#t")
    assert res.png.startswith(b"\x89PNG")
    assert _img(res.png).size == (res.width, res.height)
    assert abs(res.width - box["width"]) <= 1.01 and abs(res.height - box["height"]) <= 1.01
    assert _colours(res.png) > 2
    md = res.metadata
    assert md["browser_version"] == renderer.browser_version and md["javascript"] is False
    assert md["viewport"] == {"width": 1024, "height": 768} and md["device_scale_factor"] == 1.0


def test_full_page_css_and_missing_selector(renderer):
    res = renderer.render_html("<p>hello</p>", css="body{background:#ffeecc}")
    assert (res.width, res.height) == (1024, 768)
    assert _img(res.png).getpixel((1000, 700)) == (255, 238, 204)
    with pytest.raises(Rejected) as ei:
        renderer.render_html("<p>x</p>", selector="#nope")
    assert ei.value.reason == "selector_not_found"


def test_cjk_text_renders(renderer):
    res = renderer.render_html(
        '<span id="s" style="font-size:32px">漢字かなカナ한국어</span>', selector="#s"
    )
    assert res.width > 100 and _colours(res.png) > 2


def test_blank_and_zero_size_are_empty_render(renderer):
    for html, sel in (("<div id='d'></div>", "#d"), ("", None)):
        with pytest.raises(Rejected) as ei:
            renderer.render_html(html, selector=sel)
        assert ei.value.reason == "empty_render"


@pytest.fixture
def http_log():
    """A local HTTP server; the renderer must never reach it."""
    srv, _, hits = start_trap_server()
    yield srv.server_address[1], hits
    srv.shutdown()


def test_remote_requests_blocked_and_recorded(renderer, http_log):
    port, hits = http_log
    html = (
        f'<p>x</p><img src="http://example.com/x.png">'
        f'<img src="http://127.0.0.1:{port}/local.png">'
        f'<link rel="stylesheet" href="https://127.0.0.1:{port}/s.css">'
    )
    res = renderer.render_html(html)
    assert "http://example.com/x.png" in res.blocked_requests
    assert f"http://127.0.0.1:{port}/local.png" in res.blocked_requests
    with pytest.raises(Rejected) as ei:
        renderer.render_html(html, fail_on_blocked=True)
    assert ei.value.reason == "remote_request_blocked"
    assert "example.com/x.png" in ei.value.detail
    time.sleep(0.2)
    assert hits == []


def test_file_access_limited_to_base_dir(renderer, tmp_path):
    (tmp_path / "nb").mkdir()
    ok = Image.new("RGB", (30, 20), "red")
    ok.paste((0, 255, 0), (15, 0, 30, 20))  # two colours, so not "blank"
    ok.save(tmp_path / "nb" / "ok.png")
    Image.new("RGB", (30, 20), "blue").save(tmp_path / "secret.png")
    html = '<img id="a" src="ok.png"><img id="b" src="../secret.png">'
    res = renderer.render_html(html, base_url=str(tmp_path / "nb"), selector="#a")
    assert (res.width, res.height) == (30, 20)
    assert _img(res.png).getpixel((5, 5)) == (255, 0, 0)
    assert res.blocked_requests == [(tmp_path / "secret.png").as_uri()]


def test_script_does_not_run_without_javascript(renderer):
    html = (
        '<div id="d" style="width:50px;height:20px;background:#08f">a</div>'
        '<script>var d=document.getElementById("d");'
        'd.style.width="400px";d.textContent="JS RAN"</script>'
    )
    res = renderer.render_html(html, selector="#d")
    assert res.width == 50
    assert renderer.run_in_page(lambda p: (p.set_content(html), p.inner_text("#d"))[1]) == "a"


def test_svg_renders_at_intrinsic_size(renderer):
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80">'
        '<rect x="10" y="10" width="50" height="30" fill="red"/></svg>'
    )
    res = renderer.render_svg(svg)
    assert (res.width, res.height) == (120, 80)
    img = _img(res.png)
    assert img.getpixel((20, 20)) == (255, 0, 0) and img.getpixel((100, 70)) == (255, 255, 255)
    # clamped to max_side, aspect kept; viewBox-only and xmlns-less input
    res = renderer.render_svg(
        '<svg viewBox="0 0 400 100"><circle cx="50" cy="50" r="40"/></svg>', max_side=200
    )
    assert (res.width, res.height) == (200, 50)


def test_svg_remote_image_blocked(renderer):
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="50" height="50">'
        '<rect width="50" height="50" fill="green"/>'
        '<image href="https://example.com/a.png" width="10" height="10"/></svg>'
    )
    with pytest.raises(Rejected) as ei:
        renderer.render_svg(svg)
    assert ei.value.reason == "remote_request_blocked"
    assert "https://example.com/a.png" in ei.value.detail
    with pytest.raises(Rejected) as ei:
        renderer.render_svg("<svg><rect></svg>")
    assert ei.value.reason == "invalid_svg"


def test_svg_intrinsic_size_fallbacks():
    import xml.etree.ElementTree as ET

    def size(s):
        return svg_intrinsic_size(ET.fromstring(s))

    assert size('<svg width="72pt" height="1in"/>') == pytest.approx((96, 96))
    assert size('<svg width="100%" viewBox="0 0 30 10"/>') == (30, 10)
    assert size('<svg width="60" viewBox="0 0 30 10"/>') == (60, 20)
    assert size("<svg/>") == (800, 600)


def test_recovers_after_browser_killed(renderer):
    renderer.render_html("<p>warm</p>")
    old_pid = renderer.browser_pid
    os.kill(old_pid, 9)
    res = renderer.render_html(TABLE_HTML, selector="#t")
    assert res.width > 10 and renderer.browser_pid != old_pid


def test_renderer_crash_gives_browser_crash_then_recovers(renderer):
    with pytest.raises(Rejected) as ei:
        renderer.run_in_page(lambda p: (p.goto("chrome://crash"), p.set_content("x")))
    assert ei.value.reason == "browser_crash"
    assert renderer.render_html("<b>after crash</b>").width == 1024


def test_hang_times_out_and_renderer_survives():
    cfg = BrowserConfig(javascript=True, timeout_s=1.0, retries=1)
    with BrowserRenderer(cfg) as r:
        t0 = time.monotonic()
        with pytest.raises(Rejected) as ei:
            r.render_html("<p>x</p><script>while(true){}</script>")
        assert ei.value.reason == "render_timeout"
        assert time.monotonic() - t0 < 8
        # evaluate() has no Playwright timeout: only the watchdog can stop it.
        t0 = time.monotonic()
        with pytest.raises(Rejected) as ei:
            r.run_in_page(lambda p: p.evaluate("() => { while (true) {} }"))
        assert ei.value.reason == "render_timeout"
        assert time.monotonic() - t0 < 10
        res = r.render_html(
            '<p id="p">ok</p><script>document.getElementById("p")'
            '.textContent="javascript works"</script>',
            selector="#p",
        )
        assert res.width > 50 and res.metadata["javascript"] is True


def test_worker_renderer_is_cached_per_process():
    cfg = BrowserConfig(viewport_width=640, viewport_height=480)
    r1 = worker_renderer(cfg)
    assert worker_renderer(cfg) is r1
    assert worker_renderer(BrowserConfig(viewport_width=640, viewport_height=480)) is r1
    assert worker_renderer(BrowserConfig()) is not r1
    assert r1.render_html("<p>w</p>").width == 640


def _child_render(cfg, parent_renderer, queue):
    # Runs in a forked child that inherited the parent's cache and driver.
    try:
        r = worker_renderer(cfg)
        res = r.render_html("<p>child</p>")
        queue.put((r is not parent_renderer, res.width, r.browser_pid))
    except BaseException as exc:  # report instead of hanging the parent
        queue.put(repr(exc))


def test_worker_renderer_after_fork():
    import multiprocessing

    cfg = BrowserConfig(viewport_width=640, viewport_height=480)
    parent = worker_renderer(cfg)
    parent.render_html("<p>parent</p>")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_render, args=(cfg, parent, queue))
    proc.start()
    out = queue.get(timeout=30)
    proc.join(10)
    assert isinstance(out, tuple), out
    assert out[0] is True and out[1] == 640 and out[2] != parent.browser_pid
    assert parent.render_html("<p>parent again</p>").width == 640


def test_rejected_survives_pickle():
    import pickle

    err = pickle.loads(pickle.dumps(Rejected("too_large", "5 px")))
    assert (err.reason, err.detail, str(err)) == ("too_large", "5 px", "too_large: 5 px")
