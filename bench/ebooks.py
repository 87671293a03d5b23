"""E-book pages/s per worker against a bare Playwright loop over the same pages, same run.

    python bench/ebooks.py [EPUB ...] [--repeat 2] [--job]
    python bench/ebooks.py --coverage OUTPUT_DIR      (coverage per book of a finished job)

Default inputs: the demo book (examples/ebooks) and, when present, The Time Machine from
../shared/corpora/epub (`--all` for every book there).

    ours    the ebooks reader in this process, as a worker runs it: open and unpack the EPUB,
            lay out every chapter with its template, extract each page's text, check it,
            screenshot, check the image, build the Samples (hermetic routing, one page
            reset between books, the crash/hang watchdog)
    floor   one Playwright page in one browser: for every chapter, goto, add the same
            template and page CSS, then scroll to and screenshot the same pages that ours
            kept; nothing else (no text, no checks, no isolation)
    job     (--job) `run_job` with 1 worker: process start-up and shard writes included

The two passes alternate, `--repeat` times, best of each kept (the machine is shared).
Prints pages/s and the ratio ours/floor (aim: >= 0.85).

--coverage reads an ebooks job's shards and ledger and prints, per book: pages kept and
rejected, chapters rendered and rejected (with reasons), and the share of the chapters'
page text (whitespace aside) that is in kept pages. Every rendered chapter has already
passed the check that its page texts add up to its DOM text (else: text_mismatch).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
from common import result

from vlforge.config import resolve_options
from vlforge.contract import Part, Task, TaskContext
from vlforge.engines.runner import run_job
from vlforge.pipelines.ebooks import CORPUS
from vlforge.pipelines.pages import pagination_settings, renderer_for
from vlforge.renderers.browser import DEFAULT_EXECUTABLE
from vlforge.renderers.paginate import builtin_templates, geometry_css, squash
from vlforge.schemas import Sample
from vlforge.shards.reader import find_shards, free_form, iter_samples, sample_text

ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = ROOT.parent / "shared" / "corpora" / "epub"


def default_inputs(everything: bool) -> list[Path]:
    books = [ROOT / "examples" / "ebooks" / "lighthouse.epub"]
    if everything:
        return books + sorted(CORPUS_DIR.glob("*.epub"))
    return books + sorted(CORPUS_DIR.glob("h-g-wells_the-time-machine.epub"))


def our_pass(books: list[Path], scratch: Path) -> tuple[float, list[Sample]]:
    options = resolve_options(CORPUS.defaults)
    renderer = renderer_for(pagination_settings(options["ebooks"]), options["ebooks"])
    assert renderer.browser_version  # launched before the clock starts
    # Its page too, as the floor's: a worker's renderer keeps one page for many books
    # (BrowserConfig.page_reuse), so it is set up once per worker, like the browser.
    renderer.run_in_page(lambda page: None)
    samples: list[Sample] = []
    started = time.perf_counter()
    for book in books:
        ctx = TaskContext("ebooks", options, Task(0, (Part(str(book)),)), str(scratch))
        outcomes = CORPUS.read(Part(str(book)), ctx)
        for stage in CORPUS.stages:  # the page filters: what a job would keep
            outcomes = stage(outcomes, ctx)
        samples += [o for o in outcomes if isinstance(o, Sample)]
    return time.perf_counter() - started, samples


def floor_plan(samples: list[Sample]) -> list[tuple[str, str, str, list[int]]]:
    """(book, chapter href, template, page indices) in the order ours shot them."""
    plan: dict[tuple[str, str, str], list[int]] = {}
    for s in samples:
        where = (s.provenance.source, s.metadata["chapter"]["href"], s.metadata["template"])
        plan.setdefault(where, []).append(s.metadata["page_index"])
    return [(*where, pages) for where, pages in plan.items()]


def floor_pass(plan: list[tuple[str, str, str, list[int]]], scratch: Path, width: int, height: int) -> float:
    from playwright.sync_api import sync_playwright

    roots = {}
    for book in {b for b, *_ in plan}:  # unpacked before the clock starts
        roots[book] = scratch / f"floor-{len(roots)}"
        with zipfile.ZipFile(book) as archive:
            archive.extractall(roots[book])
    templates = builtin_templates()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=DEFAULT_EXECUTABLE, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": height}, java_script_enabled=False)
        started = time.perf_counter()
        for book, href, template, pages in plan:
            page.goto((roots[book] / href).as_uri())
            css = templates[template].css + geometry_css(templates[template], page_spec(width, height))
            page.evaluate(_STYLE_JS, [css, (max(pages) + 1) * width])
            for index in pages:
                page.evaluate("x => window.scrollTo(x, 0)", index * width)
                page.screenshot(type="png")
        elapsed = time.perf_counter() - started
        browser.close()
    return elapsed


_STYLE_JS = """([css, width]) => {
  const style = document.createElementNS('http://www.w3.org/1999/xhtml', 'style');
  style.textContent = css;
  (document.head || document.documentElement).appendChild(style);
  document.documentElement.style.setProperty('width', width + 'px', 'important');
}"""


def page_spec(width: int, height: int):
    from vlforge.renderers.paginate import PageSpec

    return PageSpec(width, height)


def job_pass(books: list[Path], scratch: Path) -> tuple[float, int]:
    output = scratch / f"job-{time.monotonic_ns()}"
    started = time.perf_counter()
    stats = run_job("ebooks", [str(b) for b in books], str(output), workers=1, quiet=True)
    return time.perf_counter() - started, stats["accepted"]


def coverage(output: Path) -> None:
    books: dict[str, Counter] = defaultdict(Counter)
    chapters: dict[tuple[str, int], dict] = {}
    for shard in find_shards(output / "shards"):
        for raw in iter_samples(shard):
            record = json.loads(raw["json"])
            source, chapter = record["source"], free_form(record["metadata"])["chapter"]
            books[source]["pages kept"] += 1
            books[source]["chars kept"] += len(squash(sample_text(raw)[1]))
            chapters[(source, chapter["spine_index"])] = chapter
    for (source, _), chapter in chapters.items():
        books[source]["chapters rendered"] += 1
        books[source]["chars on pages"] += chapter["page_chars"]
        books[source]["chars hidden"] += chapter["hidden_chars"]
    reasons: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for row in pq.read_table(output / "rejects.parquet").to_pylist():
        level = "page" if "/page=" in row["item"] else "chapter" if row["item"].startswith("spine=") else "book"
        reasons[row["source"]][level][row["reason"]] += 1
    for source in sorted(set(books) | {s for s in reasons if s.endswith(".epub")}):
        counts = books[source]
        share = counts["chars kept"] / counts["chars on pages"] if counts["chars on pages"] else 0.0
        print(f"{Path(source).name}")
        print(f"  pages kept {counts['pages kept']}, rejected {dict(reasons[source]['page'])}")
        print(f"  chapters rendered {counts['chapters rendered']}, rejected {dict(reasons[source]['chapter'])}"
              + (f", book rejected {dict(reasons[source]['book'])}" if reasons[source]["book"] else ""))
        print(f"  coverage {share:.4f} ({counts['chars kept']} of {counts['chars on pages']} page chars kept; "
              f"{counts['chars hidden']} DOM chars placed off-page by the book's CSS)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("books", nargs="*", type=Path)
    parser.add_argument("--all", action="store_true", help="every EPUB in ../shared/corpora/epub")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--job", action="store_true", help="also time run_job with 1 worker")
    parser.add_argument("--coverage", type=Path, metavar="OUTPUT", help="report on a finished job")
    args = parser.parse_args(argv)
    if args.coverage:
        coverage(args.coverage)
        return 0
    books = args.books or default_inputs(args.all)
    scratch = Path(tempfile.mkdtemp(prefix="vlforge-bench-ebooks-"))
    try:
        report(books, scratch, args.repeat, args.job)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def report(books: list[Path], scratch: Path, repeat: int, job: bool) -> None:
    options = resolve_options(CORPUS.defaults)["ebooks"]["page"]
    ours, floor = [], []
    for _ in range(repeat):  # alternate, so that load from other processes hits both
        elapsed, samples = our_pass(books, scratch)
        ours.append(elapsed)
        # Its own thread: sync Playwright allows one driver per thread, ours holds this one.
        with ThreadPoolExecutor(1) as thread:
            floor.append(thread.submit(floor_pass, floor_plan(samples), scratch,
                                       options["width"], options["height"]).result())
    pages = len(samples)
    print(f"books {len(books)}: {', '.join(b.name for b in books)}")
    print(f"pages {pages} at {options['width']}x{options['height']}, best of {repeat}")
    print(f"floor (bare Playwright loop)   {pages / min(floor):6.2f} pages/s")
    print(f"ours  (ebooks reader, 1 worker) {pages / min(ours):6.2f} pages/s")
    if job:
        elapsed, accepted = job_pass(books, scratch)
        print(f"job   (run_job, 1 worker)      {accepted / elapsed:6.2f} pages/s  ({elapsed:.1f} s wall)")
    result("ebooks", "pages/s, ebooks reader against a bare Playwright loop", pages / min(ours),
           pages / min(floor), "pages/s", aim=0.85)


if __name__ == "__main__":
    raise SystemExit(main())
