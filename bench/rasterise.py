"""PDF rasterisation pages/s: vlforge's PdfDocument.render_page against a bare pypdfium2 loop.

    python bench/rasterise.py [PDF or DIR ...] [--dpi 96] [--size WxH] [--repeat 3]

Default inputs: every PDF under ../shared/corpora/pdfs and ../shared/corpora/latex_pdf, read
where they are. Both passes render the same pages of the same files in the same process:

    ours    open_pdf (size and page-count checks, encryption check) then, per page,
            PdfDocument.render_page(i, dpi=...) -> PIL RGB image (or size=(W, H) with --size)
    floor   pypdfium2.PdfDocument(path), then per page: pdf[i].render(scale=dpi / 72).to_pil()

PDFs that open_pdf refuses (encrypted, broken) are left out of both passes and listed. The
passes alternate, `--repeat` times, best of each kept (the machine is shared). Prints pages/s
per corpus folder and overall, and the ratio ours/floor (aim: >= 0.9).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pypdfium2 as pdfium
from common import result

from vlforge.documents.pdf import open_pdf
from vlforge.errors import Rejected

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"
LIMITS = {"max_bytes": 1 << 30, "max_pages": 10_000}


def default_inputs() -> list[Path]:
    return sorted(CORPORA.glob("pdfs/**/*.pdf")) + sorted(CORPORA.glob("latex_pdf/**/*.pdf"))


def expand(paths: list[Path]) -> list[Path]:
    return [f for p in paths for f in (sorted(p.rglob("*.pdf")) if p.is_dir() else [p])]


def usable(files: list[Path]) -> tuple[list[tuple[Path, int]], list[str]]:
    """(file, page count) of the PDFs ours opens; the refused ones with their reason."""
    kept, refused = [], []
    for path in files:
        try:
            with open_pdf(path, **LIMITS) as doc:
                kept.append((path, doc.page_count))
        except Rejected as exc:
            refused.append(f"{path.name}: {exc.reason}")
    return kept, refused


def our_pass(files: list[tuple[Path, int]], dpi: float, size: tuple[int, int] | None) -> float:
    started = time.perf_counter()
    for path, pages in files:
        with open_pdf(path, **LIMITS) as doc:
            for index in range(pages):
                if size:
                    doc.render_page(index, size=size)
                else:
                    doc.render_page(index, dpi=dpi)
    return time.perf_counter() - started


def floor_pass(files: list[tuple[Path, int]], dpi: float, size: tuple[int, int] | None) -> float:
    started = time.perf_counter()
    for path, pages in files:
        pdf = pdfium.PdfDocument(str(path))
        for index in range(pages):
            page = pdf[index]
            if size:  # the same fit, written the obvious way
                width, height = page.get_size()
                scale = min(size[0] / width, size[1] / height)
            else:
                scale = dpi / 72
            page.render(scale=scale).to_pil()
            page.close()
        pdf.close()
    return time.perf_counter() - started


def measure(files: list[tuple[Path, int]], dpi: float, size, repeat: int) -> tuple[float, float]:
    ours, floor = [], []
    for _ in range(repeat):  # alternate, so that load from other processes hits both
        ours.append(our_pass(files, dpi, size))
        floor.append(floor_pass(files, dpi, size))
    return min(ours), min(floor)


def group_of(path: Path) -> str:
    try:
        return path.relative_to(CORPORA).parts[0]
    except ValueError:
        return "given"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", type=Path)
    parser.add_argument("--dpi", type=float, default=96.0)
    parser.add_argument("--size", help="WxH box instead of a dpi, e.g. 672x896 (Nougat's input)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None
    files, refused = usable(expand(args.inputs) if args.inputs else default_inputs())
    groups: dict[str, list] = {}
    for item in files:
        groups.setdefault(group_of(item[0]), []).append(item)
    print(f"{'box ' + args.size if size else f'{args.dpi:g} dpi'}, best of {args.repeat}; "
          f"left out: {', '.join(refused) or 'none'}")
    print(f"{'inputs':<10} {'files':>5} {'pages':>6} {'floor p/s':>10} {'ours p/s':>10} {'ratio':>6}")
    total = [0, 0.0, 0.0]
    for name, items in sorted(groups.items()):
        pages = sum(n for _, n in items)
        ours, floor = measure(items, args.dpi, size, args.repeat)
        total = [total[0] + pages, total[1] + ours, total[2] + floor]
        print(f"{name:<10} {len(items):>5} {pages:>6} {pages / floor:>10.1f} {pages / ours:>10.1f} {floor / ours:>6.3f}")
    print(f"{'all':<10} {len(files):>5} {total[0]:>6} {total[0] / total[2]:>10.1f} {total[0] / total[1]:>10.1f} "
          f"{total[2] / total[1]:>6.3f}")
    result("rasterise", "pages/s against bare pypdfium2", total[0] / total[1], total[0] / total[2], "pages/s",
           aim=0.90)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
