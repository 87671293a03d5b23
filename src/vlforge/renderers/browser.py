"""Hermetic headless-Chromium renderer.

Used by the notebook job (screenshot HTML outputs, rasterise SVG outputs) and,
through :meth:`BrowserRenderer.run_in_page`, by the e-book paginator.

Design notes (why things are the way they are):

* One browser per worker process, reused across items: launching Chromium costs
  ~0.5-1 s. One page, reset between items (an about:blank navigation, the item's
  viewport), serves up to ``page_reuse`` items: a fresh *context* per item costs a
  new renderer process and its first paint (~0.1-0.3 s, more than a small
  screenshot). Scripts are off, so a document cannot leave cookies, storage or
  globals behind; with JavaScript on, every item gets a fresh context.
* Hermetic: every request goes through a context-level route; only ``file:``,
  ``data:`` and ``about:blank`` are continued. Launch flags additionally point DNS
  and the proxy at nothing, so even requests Playwright cannot route (preconnects,
  DNS prefetch) cannot leave the machine.
* Hangs: Playwright timeouts do not cover every call (``page.evaluate`` and
  ``browser.new_context`` have none), so a watchdog thread SIGKILLs the browser
  when an item overruns; the blocked Playwright call then fails with
  "target closed" and we relaunch. This is the only thing that is allowed to
  happen from another thread, because the sync Playwright API is not thread-safe.
* The sync Playwright API allows only one driver per thread, so the driver is
  shared (ref-counted) between all renderers of a thread.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import math
import os
import re
import shutil
import signal
import struct
import tempfile
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse
from urllib.request import url2pathname

from vlforge.errors import Rejected
from vlforge.images import png_bytes, to_rgb

if TYPE_CHECKING:  # imported lazily at runtime so importing vlforge stays cheap
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

T = TypeVar("T")

DEFAULT_EXECUTABLE = "/usr/bin/chromium"

# Flags requested by the project: headless, no sandbox (containers), and no
# background traffic (updates, sync, field trials).
BASE_CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)

# Defence in depth below the request router: no name resolves and every
# connection (loopback included) goes to a dead proxy on the discard port.
HERMETIC_CHROMIUM_ARGS: tuple[str, ...] = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--mute-audio",
    "--hide-scrollbars",  # scrollbars would otherwise eat into screenshots
    "--font-render-hinting=none",  # more stable glyph rasterisation across hosts
    # file: documents count as one origin, so the SVG figure of an <object> (a frame of its
    # own) is not a cross-origin frame, which Chromium stops rendering while it is off
    # screen and resumes a frame or two after it scrolls into view: a screenshot taken
    # just after the scroll would catch it unpainted, some runs and not others. What a
    # page may load is still the route's decision (file roots), and page scripts are off.
    "--allow-file-access-from-files",
)

SVG_NS = "http://www.w3.org/2000/svg"
SVG_FALLBACK_SIZE = (800.0, 600.0)

# CSS absolute units in CSS px (96 dpi); em/ex use the 16px default font size.
_CSS_UNITS = {
    "": 1.0,
    "px": 1.0,
    "pt": 96 / 72,
    "pc": 16.0,
    "in": 96.0,
    "cm": 96 / 2.54,
    "mm": 96 / 25.4,
    "q": 96 / 101.6,
    "em": 16.0,
    "ex": 8.0,
}
_LENGTH_RE = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([a-z%]*)\s*$", re.I)
_DOCTYPE_RE = re.compile(r"^\s*<!doctype[^>]*>", re.I)

# Seconds the watchdog waits beyond timeout_s, so that Playwright's own (cleaner)
# timeout normally fires first and the kill only catches calls without one.
_WATCHDOG_GRACE_S = 1.0
_CLOSE_TIMEOUT_S = 10.0


def _default_executable() -> str:
    return os.environ.get("VLFORGE_CHROMIUM") or DEFAULT_EXECUTABLE


@dataclass(frozen=True)
class BrowserConfig:
    executable: str = field(default_factory=_default_executable)
    viewport_width: int = 1024
    viewport_height: int = 768
    device_scale_factor: float = 1.0
    javascript: bool = False
    timeout_s: float = 20.0  # per page/item, hard limit (watchdog-enforced)
    retries: int = 1  # relaunch+retry after a crash/hang before giving up
    max_pixels: int = 40_000_000  # refuse screenshots larger than this
    # file: URLs are only served from the document's base dir and the
    # renderer's own temp dir, so an output cannot screenshot ~/.ssh/id_rsa.
    restrict_file_access: bool = True
    extra_args: tuple[str, ...] = ()
    # Items one page serves, reset between them, before its context is replaced (bounds
    # what a long-lived renderer process accumulates); 1: a fresh context per item.
    # JavaScript on always means a fresh context per item.
    page_reuse: int = 256

    def __post_init__(self) -> None:
        if self.viewport_width <= 0 or self.viewport_height <= 0:
            raise ValueError("viewport must be positive")
        if self.device_scale_factor <= 0 or self.timeout_s <= 0:
            raise ValueError("device_scale_factor and timeout_s must be positive")
        if self.retries < 0 or self.max_pixels <= 0:
            raise ValueError("retries must be >= 0 and max_pixels > 0")
        if self.page_reuse < 1:
            raise ValueError("page_reuse must be at least 1")




@dataclass
class RenderResult:
    png: bytes
    width: int
    height: int
    blocked_requests: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)


class _Retryable(Rejected):
    """Internal: the attempt failed for infrastructure reasons (crash/hang) and may be retried;
    its own class so that item-level rejections raised by the work are never retried."""


# --------------------------------------------------------------------------
# Shared Playwright driver: one per (process, thread), ref-counted.
# --------------------------------------------------------------------------

_DRIVERS: dict[tuple[int, int], list] = {}  # key -> [Playwright, refcount]
_DRIVERS_LOCK = threading.Lock()


def _driver_key() -> tuple[int, int]:
    return (os.getpid(), threading.get_ident())


def _acquire_driver() -> Playwright:
    # A second sync_playwright() in the same thread raises ("inside the asyncio
    # loop"), so all renderers of a thread share one driver.
    from playwright.sync_api import sync_playwright

    key = _driver_key()
    with _DRIVERS_LOCK:
        entry = _DRIVERS.get(key)
        if entry is None:
            entry = _DRIVERS[key] = [sync_playwright().start(), 0]
        entry[1] += 1
        return entry[0]


def _release_driver() -> None:
    key = _driver_key()
    with _DRIVERS_LOCK:
        entry = _DRIVERS.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _DRIVERS[key]
    _quietly(entry[0].stop)


def _quietly(fn: Callable[[], Any]) -> None:
    # Cleanup must never mask the real error or take down the worker.
    try:
        fn()
    except Exception:
        pass


def _kill_pid(pid: int | None) -> None:
    """SIGKILL the browser and, if it leads its own process group (Playwright
    launches it detached), its zygotes/renderers too, so a renderer spinning in
    JavaScript is not left burning a core until it notices the parent died."""
    if not pid:
        return
    try:
        if os.getpgid(pid) == pid and pid != os.getpgid(0):
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Watchdog:
    """Kills the browser if the guarded block overruns (see module docstring)."""

    def __init__(self, seconds: float, pid: int | None) -> None:
        self.fired = False
        self._pid = pid
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        _kill_pid(self._pid)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


# --------------------------------------------------------------------------
# Small pure helpers
# --------------------------------------------------------------------------


def png_size(png: bytes) -> tuple[int, int]:
    """Width/height from the IHDR chunk, without decoding the image."""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n":
        raise Rejected("empty_render", "screenshot is not a PNG")
    return struct.unpack(">II", png[16:24])


def is_uniform(png: bytes) -> bool:
    """True if every pixel has the same value (a blank render)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        extrema = img.getextrema()
    if isinstance(extrema[0], (int, float)):  # single-band image
        extrema = (extrema,)
    return all(lo == hi for lo, hi in extrema)


def _inject_head(html: str, snippet: str) -> str:
    # Insert after the doctype: anything before it would flip the document
    # into quirks mode. The HTML parser hoists <base>/<style> into <head>.
    if not snippet:
        return html
    m = _DOCTYPE_RE.match(html)
    cut = m.end() if m else 0
    return html[:cut] + snippet + html[cut:]


def _file_url_to_path(url: str) -> Path | None:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    return Path(url2pathname(parsed.path))


def _normalise_base_url(base_url: str) -> tuple[str, Path | None]:
    """Return (href for <base>, local directory or None)."""
    if "://" not in base_url and not base_url.startswith(("file:", "data:")):
        path = Path(base_url).resolve()
        href = path.as_uri() + ("/" if path.is_dir() else "")
        return href, path if path.is_dir() else path.parent
    local = _file_url_to_path(base_url)
    if local is not None and local.is_dir() and not base_url.endswith("/"):
        base_url += "/"  # otherwise the last path segment is dropped on resolve
    if local is not None and not local.is_dir():
        local = local.parent
    return base_url, local


def _css_length(value: str | None) -> float | None:
    """Parse an absolute CSS length to px; None for missing/percent/invalid."""
    if not value:
        return None
    m = _LENGTH_RE.match(value)
    if not m or m.group(2).lower() not in _CSS_UNITS:
        return None
    px = float(m.group(1)) * _CSS_UNITS[m.group(2).lower()]
    return px if px > 0 and math.isfinite(px) else None


def _viewbox_size(root: ET.Element) -> tuple[float, float] | None:
    parts = re.split(r"[\s,]+", (root.get("viewBox") or "").strip())
    try:
        w, h = float(parts[2]), float(parts[3])
    except (IndexError, ValueError):
        return None
    return (w, h) if w > 0 and h > 0 and math.isfinite(w * h) else None


def svg_intrinsic_size(root: ET.Element) -> tuple[float, float]:
    """width/height attributes, else viewBox (keeping its aspect), else 800x600."""
    w, h = _css_length(root.get("width")), _css_length(root.get("height"))
    vb = _viewbox_size(root)
    if w and h:
        return w, h
    if vb and (w or h):  # one side given: derive the other from the aspect ratio
        return (w, w * vb[1] / vb[0]) if w else (h * vb[0] / vb[1], h)
    return vb or SVG_FALLBACK_SIZE


def _parse_svg(svg: str | bytes) -> tuple[bytes, ET.Element]:
    """Validate the SVG and return (document bytes, root element).

    Chromium renders a malformed XML file as a (non-blank!) error page, so we
    must reject bad input ourselves.
    """
    data = svg.encode("utf-8") if isinstance(svg, str) else bytes(svg)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise Rejected("invalid_svg", f"XML parse error: {exc}") from None
    if root.tag == "svg":
        # Hand-written SVG without xmlns: fine inline in HTML, but as a
        # standalone document Chromium would show it as an XML tree.
        data = re.sub(rb"<svg\b", b'<svg xmlns="%s"' % SVG_NS.encode(), data, count=1)
        root = ET.fromstring(data)
    if root.tag != f"{{{SVG_NS}}}svg":
        raise Rejected("invalid_svg", f"root element is {root.tag!r}, not svg")
    return data, root


def _composite(png: bytes, background: str) -> bytes:
    """Flatten a transparent screenshot onto a CSS colour (a translucent colour keeps the
    alpha channel: the result is the screenshot seen through it)."""
    from PIL import Image, ImageColor

    try:
        rgba = ImageColor.getcolor(background, "RGBA")
    except ValueError:
        raise Rejected("invalid_argument", f"unknown background {background!r}") from None
    with Image.open(io.BytesIO(png)) as img:
        if rgba[3] == 255:
            return png_bytes(to_rgb(img, rgba[:3]))
        out = Image.new("RGBA", img.size, rgba)
        out.alpha_composite(img.convert("RGBA"))
    return png_bytes(out)


def _blocked_detail(urls: list[str]) -> str:
    shown = ", ".join(urls[:5]) + (f" (+{len(urls) - 5} more)" if len(urls) > 5 else "")
    return f"{len(urls)} request(s) blocked: {shown}"


# --------------------------------------------------------------------------
# Per-item state
# --------------------------------------------------------------------------


@dataclass
class _Item:
    """What a single attempt needs: routing policy and what it observed."""

    file_roots: tuple[Path, ...]
    viewport: tuple[int, int]
    device_scale_factor: float
    blocked: list[str] = field(default_factory=list)
    crashed: bool = False
    attempts: int = 0

    def allows(self, url: str) -> bool:
        if url.startswith("data:") or url == "about:blank":
            return True
        path = _file_url_to_path(url)
        if path is None:
            return False
        if not self.file_roots:  # restriction disabled
            return True
        resolved = path.resolve()
        return any(resolved.is_relative_to(root) for root in self.file_roots)

    def check_blocked(self, fail_on_blocked: bool) -> None:
        if fail_on_blocked and self.blocked:
            remote = [u for u in self.blocked if not u.startswith("file:")]
            reason = "remote_request_blocked" if remote else "local_file_blocked"
            raise Rejected(reason, _blocked_detail(self.blocked))


@dataclass
class _WarmPage:
    """The page kept between items, its context, and what the context was made for."""

    context: BrowserContext
    device_scale_factor: float  # fixed for a context's life
    viewport: tuple[int, int]  # what the page is set to now
    uses_left: int
    page: Page | None = None


# --------------------------------------------------------------------------
# The renderer
# --------------------------------------------------------------------------


class BrowserRenderer:
    """A lazily launched, self-healing headless Chromium.

    Not thread-safe: use it from the thread that first rendered with it
    (worker_renderer() gives each process/thread its own).
    """

    def __init__(self, config: BrowserConfig | None = None) -> None:
        self.config = config or BrowserConfig()
        self._browser: Browser | None = None
        self._browser_pid: int | None = None
        self._version: str | None = None
        self._has_driver = False
        self._owner: tuple[int, int] | None = None
        self._tmpdir: Path | None = None
        self._warm: _WarmPage | None = None
        self._current: _Item | None = None  # the item whose requests the router judges now
        self.launches = 0  # how many times Chromium was (re)started; for stats

    # ---- lifecycle -------------------------------------------------------

    def __enter__(self) -> BrowserRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def browser_version(self) -> str:
        if self._version is None:
            self._ensure_browser()
        return self._version or ""

    @property
    def browser_pid(self) -> int | None:
        """PID of the Chromium browser process (None before launch)."""
        return self._browser_pid

    def close(self) -> None:
        """Close the browser and temp files; a later render relaunches."""
        if self._owner is not None and self._owner[0] != os.getpid():
            self._forget()  # inherited through fork: the parent owns those
            return
        self._teardown(graceful=True)
        if self._has_driver:
            self._has_driver = False
            _release_driver()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        self._owner = None

    def _forget(self) -> None:
        # After fork the Playwright objects belong to the parent's driver; we
        # must neither use nor close them, just drop the references.
        self._browser = self._browser_pid = self._version = None
        self._warm = None
        self._has_driver = False
        self._tmpdir = None
        self._owner = None

    def _check_owner(self) -> None:
        if self._owner is None:
            return
        if self._owner[0] != os.getpid():
            self._forget()
        elif self._owner[1] != threading.get_ident():
            raise RuntimeError("BrowserRenderer used from a thread other than its owner")

    def _ensure_browser(self) -> Browser:
        self._check_owner()
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        self._teardown(graceful=False)  # disconnected: collect what is left
        return self._launch()

    def _launch(self) -> Browser:
        if not self._has_driver:
            _acquire_driver()
            self._has_driver = True
            self._owner = _driver_key()
        driver = _DRIVERS[_driver_key()][0]
        cfg = self.config
        try:
            browser = driver.chromium.launch(
                executable_path=cfg.executable,
                headless=True,
                args=[*BASE_CHROMIUM_ARGS, *HERMETIC_CHROMIUM_ARGS, *cfg.extra_args],
                timeout=max(cfg.timeout_s, 30.0) * 1000,
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
            )
        except Exception as exc:
            raise Rejected("browser_launch_failed", f"{cfg.executable}: {exc}") from None
        self._browser, self._version = browser, browser.version
        self._browser_pid = self._query_browser_pid(browser)
        self.launches += 1
        return browser

    @staticmethod
    def _query_browser_pid(browser: Browser) -> int | None:
        # Playwright does not expose the process of launch(); CDP does. The
        # pid is what lets the watchdog kill a wedged browser.
        try:
            session = browser.new_browser_cdp_session()
            info = session.send("SystemInfo.getProcessInfo")
            _quietly(session.detach)
        except Exception:
            return None
        return next((p["id"] for p in info["processInfo"] if p["type"] == "browser"), None)

    def _teardown(self, graceful: bool) -> None:
        browser, pid = self._browser, self._browser_pid
        self._browser = self._browser_pid = None
        self._warm = None  # its context goes with the browser
        if browser is None:
            return
        if not graceful:
            _kill_pid(pid)  # a wedged browser may not answer close()
        with _Watchdog(_CLOSE_TIMEOUT_S, pid):
            _quietly(browser.close)

    def _private_dir(self) -> Path:
        if self._tmpdir is None or not self._tmpdir.is_dir():
            self._tmpdir = Path(tempfile.mkdtemp(prefix="vlforge-browser-")).resolve()
        return self._tmpdir

    # ---- attempt / retry machinery --------------------------------------

    def _run(self, item: _Item, work: Callable[[Page, _Item], T]) -> T:
        """Run `work` on a hermetic page (reset or fresh) with timeout/crash/retry handling."""
        last: _Retryable | None = None
        for attempt in range(self.config.retries + 1):
            item.attempts = attempt + 1
            item.blocked.clear()
            item.crashed = False
            try:
                return self._attempt(item, work)
            except _Retryable as exc:
                last = exc
                self._teardown(graceful=False)  # relaunch on the next attempt
        assert last is not None
        n = self.config.retries + 1
        raise Rejected(last.reason, f"{last.detail} (gave up after {n} attempt(s))")

    def _attempt(self, item: _Item, work: Callable[[Page, _Item], T]) -> T:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        page = self._page_with_relaunch(item)
        watchdog = _Watchdog(self.config.timeout_s + _WATCHDOG_GRACE_S, self._browser_pid)
        healthy = False  # set when the browser is known to be fine afterwards
        released = False
        try:
            with watchdog:
                try:
                    result = work(page, item)
                except Exception as exc:
                    # Item-level rejections (Rejected) and bugs in a caller's
                    # fn say nothing about the browser; Playwright errors might.
                    healthy = not isinstance(exc, PlaywrightError)
                    raise
                self._release_page(page)  # inside the watchdog: resetting can hang too
                released = healthy = True
                return result
        except PlaywrightTimeout as exc:
            raise _Retryable("render_timeout", _first_line(exc)) from None
        except PlaywrightError as exc:
            if watchdog.fired:
                raise _Retryable("render_timeout", f"exceeded {self.config.timeout_s}s") from None
            if item.crashed or not self._browser_alive() or _looks_like_crash(exc):
                raise _Retryable("browser_crash", _first_line(exc)) from None
            self._drop_warm()  # the browser is fine; the page's state is not known
            healthy = released = True
            raise Rejected("render_failed", _first_line(exc)) from None
        finally:
            if watchdog.fired:
                healthy = False  # the browser was killed, possibly after success
            if not healthy:
                self._teardown(graceful=False)  # don't touch a wedged page
            elif not released:
                self._release_after_rejection(page)

    def _browser_alive(self) -> bool:
        return self._browser is not None and self._browser.is_connected()

    # ---- the page an item runs in --------------------------------------
    #
    # A new context costs a new renderer process and its first paint (~100-300 ms, the
    # bulk of a small screenshot); a page that is reset between items costs one
    # about:blank navigation. Without JavaScript a document cannot write cookies,
    # storage or globals (file: and data: responses set no cookies either), and
    # whatever it leaves in the shared caches (a decoded image, a web font's bytes) is
    # what a fresh context would load again: the next document renders the same pixels
    # (tests/renderers/test_page_reuse.py). With JavaScript on, every item gets a fresh
    # context, as before. Routing and crash reports go to the item in progress
    # (self._current), so one context's handlers serve every item it runs.

    def _page_with_relaunch(self, item: _Item) -> Page:
        # A browser that died between items (OOM killer, external kill) is often
        # still reported connected until the next call fails; that is not the
        # item's fault, so relaunch once without spending a retry.
        from playwright.sync_api import Error as PlaywrightError

        self._current = item
        for first in (True, False):
            self._ensure_browser()
            try:
                with _Watchdog(_CLOSE_TIMEOUT_S, self._browser_pid):
                    return self._page_for(item)
            except PlaywrightError as exc:
                self._teardown(graceful=False)
                if not first:
                    raise Rejected("browser_crash", _first_line(exc)) from None
        raise AssertionError("unreachable")

    def _page_for(self, item: _Item) -> Page:
        """The warm page when it suits the item (same device scale factor, uses left),
        set to the item's viewport; otherwise a new context and page."""
        warm = self._warm
        if warm is not None and (warm.device_scale_factor != item.device_scale_factor or warm.uses_left <= 0):
            self._drop_warm()
            warm = None
        if warm is None:
            warm = _WarmPage(self._new_context(item), item.device_scale_factor, item.viewport,
                             self.config.page_reuse if self._reusable() else 1)
            warm.page = self._new_page(warm.context)
            self._warm = warm
        elif warm.viewport != item.viewport:
            warm.page.set_viewport_size({"width": item.viewport[0], "height": item.viewport[1]})
            warm.viewport = item.viewport
        warm.uses_left -= 1
        return warm.page

    def _release_after_rejection(self, page: Page) -> None:
        # The item's own error is what the caller must see, not a failed reset.
        try:
            with _Watchdog(_CLOSE_TIMEOUT_S, self._browser_pid):
                self._release_page(page)
        except Exception:
            self._drop_warm()

    def _reusable(self) -> bool:
        return self.config.page_reuse > 1 and not self.config.javascript

    def _release_page(self, page: Page) -> None:
        """After an item: reset the warm page for the next one, or close its context.

        The about:blank navigation replaces the document (its DOM, scroll position,
        styles; set_content could not write into an XML document left by an SVG or an
        e-book chapter), and requests the old document still had queued reach the
        router before it returns, while they are still this item's."""
        warm = self._warm
        if warm is None or warm.page is not page:
            return
        if warm.uses_left <= 0:
            self._drop_warm()
            return
        page.goto("about:blank")

    def _drop_warm(self) -> None:
        warm, self._warm = self._warm, None
        if warm is not None:
            with _Watchdog(_CLOSE_TIMEOUT_S, self._browser_pid):
                _quietly(warm.context.close)

    def _new_context(self, item: _Item) -> BrowserContext:
        cfg = self.config
        context = self._browser.new_context(
            viewport={"width": item.viewport[0], "height": item.viewport[1]},
            screen={"width": item.viewport[0], "height": item.viewport[1]},
            device_scale_factor=item.device_scale_factor,
            java_script_enabled=cfg.javascript,
            service_workers="block",  # they would bypass page-level routing
            accept_downloads=False,
            locale="en-US",  # fixed so number/date formatting is reproducible
            timezone_id="UTC",
            color_scheme="light",
            reduced_motion="reduce",
        )
        context.set_default_timeout(cfg.timeout_s * 1000)
        context.set_default_navigation_timeout(cfg.timeout_s * 1000)
        context.route("**/*", lambda route: self._route(route, self._current))
        if cfg.javascript:
            # WebSockets are not seen by route(); without connect_to_server the
            # socket is served by a mock, i.e. never touches the network.
            context.route_web_socket(re.compile(".*"), lambda ws: self._route_ws(ws, self._current))
        return context

    def _new_page(self, context: BrowserContext) -> Page:
        page = context.new_page()
        # A renderer crash (e.g. chrome://crash, OOM) only kills the page, not
        # the browser; remember it so the error is classified as a crash.
        page.on("crash", lambda _page: setattr(self._current, "crashed", True))
        return page

    @staticmethod
    def _route(route: Any, item: _Item) -> None:
        url = route.request.url
        if item.allows(url):
            route.continue_()
        else:
            item.blocked.append(url)
            route.abort("blockedbyclient")

    @staticmethod
    def _route_ws(ws: Any, item: _Item) -> None:
        item.blocked.append(ws.url)
        ws.close()

    def _item(
        self,
        *,
        file_roots: tuple[Path, ...] = (),
        viewport: tuple[int, int] | None = None,
        device_scale_factor: float | None = None,
    ) -> _Item:
        cfg = self.config
        roots = (self._private_dir(), *file_roots) if cfg.restrict_file_access else ()
        return _Item(
            file_roots=roots,
            viewport=viewport or (cfg.viewport_width, cfg.viewport_height),
            device_scale_factor=device_scale_factor or cfg.device_scale_factor,
        )

    def _metadata(self, item: _Item, **extra: Any) -> dict:
        return {
            "browser_version": self._version,
            "viewport": {"width": item.viewport[0], "height": item.viewport[1]},
            "device_scale_factor": item.device_scale_factor,
            "javascript": self.config.javascript,
            "attempts": item.attempts,  # >1 means a crash/hang was retried
            **extra,
        }

    # ---- public rendering API --------------------------------------------

    def run_in_page(
        self,
        fn: Callable[[Page], T],
        *,
        fail_on_blocked: bool = False,
        file_roots: tuple[str | Path, ...] = (),
    ) -> T:
        """Run ``fn(page)`` on a hermetic page (timeout/crash/retry handled).

        The page may have served earlier items (it is navigated to about:blank and set
        to the configured viewport in between), so ``fn`` must leave no state on it that
        a navigation does not clear (routes, listeners, emulation). ``fn`` may be re-run
        after a crash/hang, so it should be idempotent.
        Blocked requests are exposed as ``page.vlforge_blocked_requests``.
        ``file_roots``: directories whose files the page may load besides the
        renderer's own temp dir (e.g. an unpacked e-book), when file access is
        restricted.
        """
        self._check_owner()
        item = self._item(file_roots=tuple(Path(root).resolve() for root in file_roots))

        def work(page: Page, it: _Item) -> T:
            page.vlforge_blocked_requests = it.blocked
            out = fn(page)
            it.check_blocked(fail_on_blocked)
            return out

        return self._run(item, work)

    def render_html(
        self,
        html: str,
        *,
        css: str = "",
        base_url: str | None = None,
        selector: str | None = None,
        full_page: bool = True,
        fail_on_blocked: bool = False,
        reject_blank: bool = True,
    ) -> RenderResult:
        """Screenshot an HTML document (or the element matched by `selector`)."""
        self._check_owner()
        style = f"<style>{css}</style>" if css else ""
        base_href, base_dir = _normalise_base_url(base_url) if base_url else (None, None)
        item = self._item(file_roots=(base_dir.resolve(),) if base_dir else ())

        def work(page: Page, it: _Item) -> tuple[bytes, dict]:
            if base_href is None:
                page.set_content(_inject_head(html, style), wait_until="load")
            else:
                # Relative URLs need a real file: document; set_content gives
                # about:blank, from which Chromium refuses to load file: URLs.
                head = f'<base href="{_attr(base_href)}">' + style
                with self._temp_document(_inject_head(html, head), ".html") as url:
                    page.goto(url, wait_until="load")
            it.check_blocked(fail_on_blocked)
            png, extra = self._screenshot(page, selector, full_page)
            it.check_blocked(fail_on_blocked)
            return png, extra

        png, extra = self._run(item, work)
        return self._result(png, item, reject_blank, **extra)

    def render_svg(
        self,
        svg: str | bytes,
        *,
        background: str = "white",
        fail_on_blocked: bool = True,
        max_side: int = 4096,
        reject_blank: bool = True,
    ) -> RenderResult:
        """Rasterise an SVG at its intrinsic size, scaled down to fit max_side.

        The SVG is loaded as its own document (not via <img>): inside <img>
        Chromium silently drops external references, and we want to see them.
        """
        self._check_owner()
        data, root = _parse_svg(svg)
        width, height = svg_intrinsic_size(root)
        dsf = self.config.device_scale_factor
        # Scaling through the device scale factor keeps the layout at the
        # intrinsic CSS size, so the SVG's own width/height still fit exactly.
        scale = min(1.0, max_side / (max(width, height) * dsf))
        viewport = (max(1, math.ceil(width)), max(1, math.ceil(height)))
        item = self._item(viewport=viewport, device_scale_factor=dsf * scale)
        self._check_pixels(viewport[0] * viewport[1] * item.device_scale_factor**2)

        def work(page: Page, it: _Item) -> bytes:
            with self._temp_document(data, ".svg") as url:
                page.goto(url, wait_until="load")
            it.check_blocked(fail_on_blocked)
            png = page.screenshot(type="png", omit_background=True, animations="disabled")
            it.check_blocked(fail_on_blocked)
            return png

        png = self._run(item, work)
        if background.strip().lower() not in ("transparent", "none", ""):
            png = _composite(png, background)
        return self._result(png, item, reject_blank, intrinsic_size=(width, height), scale=scale)

    # ---- rendering helpers -----------------------------------------------

    @contextlib.contextmanager
    def _temp_document(self, content: str | bytes, suffix: str) -> Iterator[str]:
        # Written into the renderer's private dir (an allowed file: root) and
        # deleted once loaded: a long-lived worker must not accumulate files.
        path = self._private_dir() / f"{uuid.uuid4().hex}{suffix}"
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        try:
            yield path.as_uri()
        finally:
            path.unlink(missing_ok=True)

    def _screenshot(self, page: Page, selector: str | None, full_page: bool) -> tuple[bytes, dict]:
        if selector is None:
            if full_page:
                w, h = page.evaluate(_DOC_SIZE_JS)
                self._check_pixels(w * h * self.config.device_scale_factor**2)
            png = page.screenshot(type="png", full_page=full_page, animations="disabled")
            return png, {"selector": None, "full_page": full_page}
        clip = self._element_clip(page, selector)
        # page.screenshot(clip=...) instead of element.screenshot(): the latter
        # waits for "visible"/"stable" and would turn a hidden element into a
        # 20 s timeout; full_page=True makes clip document-relative.
        png = page.screenshot(type="png", full_page=True, clip=clip, animations="disabled")
        return png, {"selector": selector, "clip": clip}

    def _element_clip(self, page: Page, selector: str) -> dict:
        handle = page.query_selector(selector)
        if handle is None:
            raise Rejected("selector_not_found", selector)
        box = handle.bounding_box()
        if not box or box["width"] < 1 or box["height"] < 1:
            raise Rejected("empty_render", f"element {selector!r} has no size")
        sx, sy = page.evaluate("[window.scrollX, window.scrollY]")
        # Snap outward to whole CSS px so the PNG is box-sized without cropping.
        x0, y0 = math.floor(box["x"] + sx), math.floor(box["y"] + sy)
        x1, y1 = math.ceil(box["x"] + sx + box["width"]), math.ceil(box["y"] + sy + box["height"])
        self._check_pixels((x1 - x0) * (y1 - y0) * self.config.device_scale_factor**2)
        return {
            "x": max(0, x0),
            "y": max(0, y0),
            "width": x1 - max(0, x0),
            "height": y1 - max(0, y0),
        }

    def _check_pixels(self, pixels: float) -> None:
        if pixels > self.config.max_pixels:
            raise Rejected(
                "too_large", f"{int(pixels)} px > max_pixels={self.config.max_pixels}"
            )

    def _result(self, png: bytes, item: _Item, reject_blank: bool, **extra: Any) -> RenderResult:
        width, height = png_size(png)
        if width == 0 or height == 0:
            raise Rejected("empty_render", "zero-size screenshot")
        self._check_pixels(width * height)
        if reject_blank and is_uniform(png):
            raise Rejected("empty_render", f"{width}x{height} render is a single colour")
        return RenderResult(
            png=png,
            width=width,
            height=height,
            blocked_requests=list(item.blocked),
            metadata=self._metadata(item, **extra),
        )


_DOC_SIZE_JS = """() => {
  const d = document.documentElement, b = document.body;
  return [Math.max(d.scrollWidth, b ? b.scrollWidth : 0, window.innerWidth),
          Math.max(d.scrollHeight, b ? b.scrollHeight : 0, window.innerHeight)];
}"""


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _looks_like_crash(exc: BaseException) -> bool:
    # TargetClosedError is not part of the public sync API, so go by message.
    text = str(exc).lower()
    return type(exc).__name__ == "TargetClosedError" or any(
        s in text for s in ("crash", "has been closed", "target closed", "disconnected")
    )


# --------------------------------------------------------------------------
# One renderer per worker process
# --------------------------------------------------------------------------

_WORKER_RENDERERS: dict[tuple[int, int, BrowserConfig], BrowserRenderer] = {}
_EXIT_HOOK_PID: int | None = None


def worker_renderer(config: BrowserConfig | None = None) -> BrowserRenderer:
    """The process's shared renderer for `config` (created lazily).

    Keyed by pid so a forked worker never reuses its parent's browser, and by
    thread because sync Playwright objects are bound to their thread.
    """
    global _EXIT_HOOK_PID
    key = (os.getpid(), threading.get_ident(), config or BrowserConfig())
    renderer = _WORKER_RENDERERS.get(key)
    if renderer is None:
        renderer = _WORKER_RENDERERS[key] = BrowserRenderer(key[2])
    if _EXIT_HOOK_PID != os.getpid():
        _EXIT_HOOK_PID = os.getpid()
        _register_exit_hooks()
    return renderer


def _register_exit_hooks() -> None:
    # multiprocessing children (ProcessPoolExecutor workers included) leave via
    # os._exit(), which skips atexit but runs multiprocessing's finalizers;
    # a plain process runs atexit. close_worker_renderers() is idempotent.
    atexit.register(close_worker_renderers)
    import multiprocessing.util

    multiprocessing.util.Finalize(None, close_worker_renderers, exitpriority=10)


def close_worker_renderers() -> None:
    """Close this process's cached renderers (runs at exit; safe to call twice)."""
    pid = os.getpid()
    for key in [k for k in _WORKER_RENDERERS if k[0] == pid]:
        renderer = _WORKER_RENDERERS.pop(key)
        if key[1] == threading.get_ident():
            _quietly(renderer.close)
    # Entries inherited from a parent process are dropped, never closed.
    for key in [k for k in _WORKER_RENDERERS if k[0] != pid]:
        del _WORKER_RENDERERS[key]


__all__ = [
    "BASE_CHROMIUM_ARGS",
    "BrowserConfig",
    "BrowserRenderer",
    "HERMETIC_CHROMIUM_ARGS",
    "RenderResult",
    "close_worker_renderers",
    "png_size",
    "svg_intrinsic_size",
    "worker_renderer",
]
