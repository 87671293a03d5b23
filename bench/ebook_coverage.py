"""Per book: how much of its own text the kept page texts cover, and what was rejected why.

    python bench/ebook_coverage.py [EPUB ...] [--json OUT.json] [--set ebooks.X=Y ...]

Default: every .epub under ../shared/corpora/epub and ../shared/corpora/epub_hard. Each
book goes through the ebooks reader and its page filters in this process (what a job's
worker keeps). Coverage is measured by tests/pipelines/ebook_text.py, which reads the
spine documents' visible text without the renderer (ruby readings written as
ebooks.pages.ruby says); MathML formulas are counted apart (formulas in the XHTML,
formulas written $...$ on the pages).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import common

from vlforge.config import resolve_options
from vlforge.contract import Part, Task, TaskContext
from vlforge.pipelines.ebooks import CORPUS
from vlforge.schemas import Reject, Sample

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "pipelines"))
from ebook_text import book_coverage, book_formulas  # noqa: E402

CORPORA = [ROOT.parent / "shared" / "corpora" / "epub", ROOT.parent / "shared" / "corpora" / "epub_hard"]


def run_book(path: Path, assignments: list[str]) -> dict:
    options = resolve_options(CORPUS.defaults, None, tuple(assignments))
    with tempfile.TemporaryDirectory() as scratch:
        ctx = TaskContext("ebooks", options, Task(0, (Part(str(path)),)), scratch)
        started = time.perf_counter()
        outcomes = CORPUS.read(Part(str(path)), ctx)
        for stage in CORPUS.stages:
            outcomes = stage(outcomes, ctx)
        pages: dict[str, list[str]] = defaultdict(list)
        rejects: Counter = Counter()
        examples: dict[str, str] = {}
        kept = 0
        for outcome in outcomes:
            if isinstance(outcome, Sample):
                kept += 1
                pages[outcome.metadata["chapter"]["href"]].append(outcome.text)
            elif isinstance(outcome, Reject):
                rejects[outcome.reason] += 1
                examples.setdefault(outcome.reason, f"{outcome.item}: {outcome.detail}"[:200])
        seconds = time.perf_counter() - started
    found, total, per_doc = book_coverage(str(path), pages, ruby=options["ebooks"]["pages"]["ruby"])
    formulas, formulas_shown = book_formulas(str(path), pages)
    worst = sorted(((f / t, href, t) for href, (f, t) in per_doc.items() if t), key=lambda x: x[0])[:5]
    return {"book": path.name, "pages": kept, "found": found, "chars": total,
            "coverage": found / total if total else None, "rejects": dict(rejects),
            "formulas": formulas, "formulas_as_latex": formulas_shown,
            "examples": examples, "seconds": round(seconds, 1),
            "worst": [(round(share, 3), href, chars) for share, href, chars in worst]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("books", nargs="*", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    books = args.books or sorted(p for d in CORPORA for p in d.glob("*.epub"))
    results = []
    for path in books:
        result = run_book(path, args.set)
        results.append(result)
        share = "n/a" if result["coverage"] is None else f"{result['coverage']:.4f}"
        print(f"{result['book']}: coverage {share} ({result['found']}/{result['chars']}), "
              f"{result['pages']} pages, {result['seconds']} s, rejects {result['rejects']}"
              + (f", formulas {result['formulas_as_latex']}/{result['formulas']} as LaTeX" if result["formulas"] else ""),
              flush=True)
        for reason, example in result["examples"].items():
            print(f"    {reason}: {example}", flush=True)
        print(f"    worst documents: {result['worst']}", flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    found, chars = sum(r["found"] for r in results), sum(r["chars"] for r in results)
    common.result("ebook_coverage", f"book text found on kept pages, {len(results)} books", found, chars, "chars",
                  aim=None, ours_label="found", floor_label="in the books")
    return 0


if __name__ == "__main__":
    sys.exit(main())
