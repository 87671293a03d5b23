"""arXiv-style papers (LaTeX source + the PDF built from it) -> page image + page markdown.

What a paper is. Planning hands the reader single files, so every file is looked at for its
role, and each paper is read once, through its PDF:

    arXiv layout     ID.pdf beside ID.tar.gz, ID.tgz, ID.tar or ID.gz (a gzipped tarball or a
                     single gzipped .tex, as arXiv serves them); many papers may share a folder.
                     The paper id is ID.
    folder layout    a folder holding a main .tex (\\documentclass + \\begin{document}) at its
                     top level and the paper's PDF; the id is the folder's name. Of several
                     PDFs there, those named by \\includegraphics are figures; of the others,
                     the one named like a main .tex wins, else the folder is ambiguous.

The PDF of a paper reads the paper; its other files (sources, figures, the archive) are the
paper's parts and yield nothing themselves. A file that belongs to no paper is a reject:
an archive or a folder of sources without a PDF (no_pdf, reported once, at the archive or
main .tex), a folder with several PDFs that could be its paper (ambiguous_pdf, at the main
.tex), a PDF with no source beside it (no_latex_source), anything else (not_part_of_a_paper). Which task a file lands in does not matter: the paper is found from
the PDF's place on disk, so task boundaries never split a paper.

The stream, per paper:
    open_pdf (documents.pdf)      checks the PDF: encrypted, broken, zero pages, too large
    extract_source (.archive)     copies or unpacks the sources into a temporary folder,
                                  refusing unsafe members (absolute, '..', links out,
                                  devices, bombs)
    to_markdown (.latex)          the main .tex -> markdown with pandoc
    align_pages (.align)          markdown split to the PDF pages, a boundary score each
    per page                      boundary score >= arxiv.threshold and word coverage >=
                                  arxiv.min_coverage: rendered at arxiv.dpi -> Sample (PNG +
                                  the page's markdown); else a Reject (low_boundary_score or
                                  low_word_coverage, with the scores in the detail)

Every page of an opened PDF ends as one Sample or one Reject (item "page=N", 1-based); a
paper refused before its pages are split is one Reject (item "paper"). Paper reasons:
documents.pdf's (encrypted_pdf, broken_pdf, zero_pages, pdf_too_large, too_many_pages,
not_a_file), documents.archive's (unsafe_path, unsafe_link, special_file, source_too_large,
too_many_files, broken_archive, unsupported_source), no_main_tex, and documents.latex's
(pandoc_failed, pandoc_timeout, empty_markdown, latex_too_large, input_loop). Page reasons:
low_boundary_score, low_word_coverage, empty_page_markdown, and documents.pdf's page
reasons (page_text_failed, page_load_failed, page_too_large, page_render_failed).

Each sample's metadata carries the page (1-based), page count, dpi, image and page size, its
scores, and the paper record: pages, pages accepted, mean score, main .tex, conversion
counts. Tool versions (pandoc, pypdfium2, pdfium) are in the provenance. `paper_summary`
rebuilds the per-paper records of a finished job from its shards and reject ledger.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from vlforge.contract import Corpus, Outcome, Part, TaskContext
from vlforge.documents import align, archive, latex, pdf
from vlforge.documents.page_stages import page_item, per_page
from vlforge.errors import Rejected
from vlforge.schemas import Provenance, Sample, file_checksum, make_key

DEFAULTS: dict[str, Any] = {
    # A paper is read through its PDF alone; its other files cost nothing. Small tasks
    # spread a folder of papers over the workers.
    "tasks": {"target_bytes": 64 * 1024 * 1024, "max_files": 8},
    "arxiv": {
        "threshold": 0.9,  # pages whose boundary score is below are rejected (Nougat: 0.9)
        # ... and pages where fewer of the words (3+ letters) on either side are found on the
        # other: the edges matched but the middle did not (a float or footnote moved a cut).
        "min_coverage": 0.85,
        "dpi": 96.0,  # rasterisation (Nougat's default)
        "window": align.DEFAULT_WINDOW,  # words matched at each page edge
        "png_compress_level": 6,  # zlib level of the page PNGs (1 fast .. 9 small)
        "pandoc_timeout_s": 120.0,
        "max_latex_chars": 16 * 1024 * 1024,  # after \input is resolved
        "max_source_bytes": 256 * 1024 * 1024,  # uncompressed, whole source
        "max_source_files": 5000,
    },
    "pdf": {
        "max_pages": 500,
        "max_bytes": 200 * 1024 * 1024,
    },
}

_SOURCE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".gz")
_PARENT_LEVELS = 3  # how far up a source file looks for the folder of its paper


# --------------------------------------------------------------------------------------
# Which paper a file belongs to
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paper:
    id: str
    pdf: Path
    source: Path  # the archive, or the folder (folder layout)
    layout: str  # "archive" or "folder"


@dataclass(frozen=True)
class Role:
    """What one input file is: the PDF that reads a paper, a part of one, or an orphan."""

    paper: Paper | None = None
    orphan: Rejected | None = None


def sibling_source(pdf_path: Path) -> Path | None:
    """ID.tar.gz / ID.tgz / ID.tar / ID.gz beside ID.pdf, in that order of preference."""
    for suffix in _SOURCE_SUFFIXES:
        candidate = pdf_path.with_name(pdf_path.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def role_of(path: Path) -> Role:
    if path.suffix.lower() == ".pdf":
        return _pdf_role(path)
    if archive.source_suffix(path) and (path.parent / f"{archive.source_stem(path)}.pdf").exists():
        return Role()  # the PDF beside it reads it
    if archive.source_suffix(path):
        return Role(orphan=Rejected("no_pdf", f"no {archive.source_stem(path)}.pdf beside the source archive"))
    return _folder_file_role(path)


def _pdf_role(path: Path) -> Role:
    source = sibling_source(path)
    if source is not None:
        return Role(Paper(path.stem, path, source, "archive"))
    folder = _folder_paper(path.parent)
    if folder.main is not None and folder.pdf == path:
        return Role(Paper(path.parent.name, path, path.parent, "folder"))
    # A figure of the folder's paper, or one of several candidate PDFs (the main .tex then
    # reports the ambiguity), or a figure in a subfolder of a paper.
    if folder.main is not None or _enclosing_paper(path.parent.parent) is not None:
        return Role()  # a figure in a subfolder of a paper
    return Role(orphan=Rejected("no_latex_source", "no ID.tar.gz/.tgz/.tar/.gz beside it and no main .tex "
                                                   "(\\documentclass + \\begin{document}) in its folder"))


def _folder_file_role(path: Path) -> Role:
    folder_path = _enclosing_paper(path.parent)
    if folder_path is None:
        return Role(orphan=Rejected("not_part_of_a_paper", "neither a PDF, a source archive, nor a file "
                                                           "in a folder holding a main .tex"))
    folder = _folder_paper(folder_path)
    if folder.pdf is None and path == folder.main:
        return Role(orphan=folder.problem)  # reported once, at the main .tex
    return Role()


def _enclosing_paper(start: Path) -> Path | None:
    folder = start
    for _ in range(_PARENT_LEVELS + 1):
        if _folder_paper(folder).main is not None:
            return folder
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


@dataclass(frozen=True)
class FolderPaper:
    main: Path | None  # the main .tex at the folder's top level
    pdf: Path | None
    figures: frozenset[str]  # stems of PDFs named by \includegraphics
    problem: Rejected | None = None  # why the folder has no paper PDF


_GRAPHICS = re.compile(r"\\includegraphics\s*(?:\[[^\]]*\])?\s*\{([^}]*)\}")
_FOLDERS: dict[tuple[str, int], FolderPaper] = {}  # (folder, mtime_ns) -> its paper


def _folder_paper(folder: Path) -> FolderPaper:
    try:
        key = (str(folder), folder.stat().st_mtime_ns)
    except OSError:
        return FolderPaper(None, None, frozenset())
    if key not in _FOLDERS:
        if len(_FOLDERS) > 4096:
            _FOLDERS.clear()
        _FOLDERS[key] = _scan_folder(folder)
    return _FOLDERS[key]


def _scan_folder(folder: Path) -> FolderPaper:
    texs = sorted(p for p in folder.glob("*.tex") if p.is_file())
    mains = [p for p in texs if latex.is_main_tex(p)]
    if not mains:
        return FolderPaper(None, None, frozenset())
    figures = frozenset(Path(name.strip()).stem for tex in texs
                        for name in _GRAPHICS.findall(latex.strip_comments(latex.read_tex(tex))))
    pdfs = sorted(p for p in folder.glob("*.pdf") if p.is_file() and p.stem not in figures)
    main_stems = {p.stem for p in mains}
    if len(pdfs) > 1:
        named = [p for p in pdfs if p.stem in main_stems]
        pdfs = named if len(named) == 1 else pdfs
    if len(pdfs) == 1:
        return FolderPaper(latex.find_main_tex(folder, pdfs[0].stem), pdfs[0], figures)
    main = latex.find_main_tex(folder)
    if not pdfs:
        return FolderPaper(main, None, figures, Rejected("no_pdf", f"no PDF beside {main.name}"))
    names = ", ".join(p.name for p in pdfs)
    return FolderPaper(main, None, figures, Rejected("ambiguous_pdf", f"several PDFs could be the paper: {names}"))


# --------------------------------------------------------------------------------------
# Reading one paper: its pages, aligned, not yet drawn
# --------------------------------------------------------------------------------------


def read(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    role = role_of(Path(part.path))
    if role.orphan is not None:
        yield role.orphan.reject(part.path, "paper", "read")
    elif role.paper is not None:
        yield from paper_pages(role.paper, ctx.option("arxiv"), ctx.option("pdf"))


def paper_pages(paper: Paper, opts: dict, pdf_opts: dict) -> Iterator[Outcome]:
    """One Sample (the page's markdown) or Reject per page, or one Reject for the paper."""
    source = str(paper.pdf)
    try:
        document = pdf.open_pdf(paper.pdf, max_bytes=pdf_opts["max_bytes"], max_pages=pdf_opts["max_pages"])
    except Rejected as error:
        yield error.reject(source, "paper", "read")
        return
    # Open while its pages go through the stages: `render` draws the page from it before
    # this generator is asked for the next page.
    with document:
        try:
            conversion = _convert(paper, opts)
        except Rejected as error:
            yield Rejected(error.reason, f"{paper.source.name}: {error.detail}").reject(source, "paper", "convert")
            return
        yield from _aligned_pages(paper, document, conversion, opts)


def _convert(paper: Paper, opts: dict) -> latex.Conversion:
    """The paper's markdown, from sources unpacked into a temporary folder of our own."""
    limits = archive.Limits(opts["max_source_bytes"], opts["max_source_files"])
    with tempfile.TemporaryDirectory(prefix="vlforge-arxiv-") as scratch:
        root = archive.extract_source(paper.source, Path(scratch), limits)
        main = latex.find_main_tex(root, paper.pdf.stem)
        if main is None:
            raise Rejected("no_main_tex", "no .tex file with \\documentclass and \\begin{document}")
        return latex.to_markdown(root, main, timeout_s=opts["pandoc_timeout_s"],
                                 max_bytes=opts["max_latex_chars"])


def _aligned_pages(paper: Paper, document: pdf.PdfDocument, conversion: latex.Conversion,
                   opts: dict) -> Iterator[Outcome]:
    texts, text_errors = _page_texts(document)
    alignments = align.align_pages(conversion.markdown, texts, window=opts["window"])
    record = _paper_record(paper, conversion, alignments)
    provenance = Provenance(str(paper.pdf), file_checksum(paper.pdf), tools=_tool_versions())
    for alignment in alignments:
        number = alignment.page + 1
        if alignment.page in text_errors:
            yield text_errors[alignment.page].reject(str(paper.pdf), page_item(number), "read")
            continue
        metadata = {"page": number, "page_count": len(alignments), "dpi": opts["dpi"],
                    "boundary_score": alignment.score, "start_score": alignment.start_score,
                    "end_score": alignment.end_score, "word_coverage": alignment.coverage,
                    "threshold": opts["threshold"], "min_coverage": opts["min_coverage"]}
        yield Sample(make_key("arxiv", str(paper.pdf), number), "arxiv", alignment.markdown, "markdown",
                     provenance, metadata=metadata,
                     scratch={"alignment": alignment, "document": document, "paper": record})


def _page_texts(document: pdf.PdfDocument) -> tuple[list[str], dict[int, Rejected]]:
    """Every page's text layer; a page whose text fails counts as empty and is noted."""
    texts, errors = [], {}
    for index in range(document.page_count):
        try:
            texts.append(document.page_text(index))
        except Rejected as error:
            texts.append("")
            errors[index] = error
    return texts, errors


def _paper_record(paper: Paper, conversion: latex.Conversion, alignments: list[align.PageAlignment]) -> dict:
    """What every page of the paper carries about it; `paper_record` adds pages_accepted."""
    scores = [a.score for a in alignments]
    return {"id": paper.id, "layout": paper.layout, "source": str(paper.source),
            "main_tex": conversion.main, "pages": len(alignments),
            "mean_score": round(sum(scores) / len(scores), 4) if scores else 0.0,
            "conversion": dict(sorted(conversion.notes.items()))}


def _tool_versions() -> dict[str, str]:
    return {**latex.tool_versions(), **pdf.tool_versions()}


# --------------------------------------------------------------------------------------
# The stages
# --------------------------------------------------------------------------------------


def _page_number(sample: Sample) -> int:
    return sample.metadata["page"]


def _score_gate(sample: Sample, ctx: TaskContext) -> Sample:
    """Drops a page whose boundary score is under arxiv.threshold, or whose word coverage is
    under arxiv.min_coverage, and notes its score for the job summary (a kept page carries
    its score in its metadata)."""
    alignment, opts = sample.scratch["alignment"], ctx.option("arxiv")
    scores = (f"start {alignment.start_score:.4f}, end {alignment.end_score:.4f}, word coverage "
              f"{alignment.coverage:.4f}, {alignment.words} words on the page")
    if alignment.score < opts["threshold"]:
        error = Rejected("low_boundary_score",
                         f"boundary score {alignment.score:.4f} < {opts['threshold']:g} ({scores})")
    elif alignment.coverage < opts["min_coverage"]:
        error = Rejected("low_word_coverage", f"word coverage {alignment.coverage:.4f} < {opts['min_coverage']:g} "
                                              f"(boundary score {alignment.score:.4f}; {scores})")
    else:
        return sample
    ctx.note("dropped_pages", {"source": sample.provenance.source, "page": sample.metadata["page"],
                               "boundary_score": alignment.score})
    raise error


def _empty_pages(sample: Sample, ctx: TaskContext) -> Sample:
    if not sample.text:
        raise Rejected("empty_page_markdown", "no markdown was assigned to this page")
    return sample


def _render(sample: Sample, ctx: TaskContext) -> Sample:
    """The page drawn at arxiv.dpi, from the PDF the reader still holds open."""
    opts, document, index = ctx.option("arxiv"), sample.scratch["document"], sample.metadata["page"] - 1
    image = document.render_page(index, dpi=opts["dpi"])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=opts["png_compress_level"])
    width, height = document.page_size_points(index)
    sample.image, sample.image_format, sample.image_size = buffer.getvalue(), "png", image.size
    sample.metadata.update(image_size=list(image.size), page_size_pt=[round(width, 2), round(height, 2)])
    return sample


def paper_record(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
    """Gives every kept page its paper's record once all the paper's pages are through the
    stages before (a paper's pages come one after another); pages_accepted counts them."""
    for _, group in itertools.groupby(outcomes, key=_source):
        paper = list(group)
        kept = [o for o in paper if isinstance(o, Sample)]
        for sample in kept:
            sample.metadata["paper"] = {**sample.scratch["paper"], "pages_accepted": len(kept)}
        yield from paper


def _source(outcome: Outcome) -> str:
    return outcome.provenance.source if isinstance(outcome, Sample) else outcome.source


# --------------------------------------------------------------------------------------
# Per-paper records of a finished job
# --------------------------------------------------------------------------------------


def paper_summary(output_dir: str | Path, facts: list[dict]) -> list[dict]:
    """Per input that produced pages or rejects (by source path): pages, pages accepted, mean
    boundary score and its reject reasons, from a finished job's shards and reject ledger and
    the scores the score gate noted (`facts`: each task's). The mean is over the pages whose
    score decided them: the accepted ones and those the score gate dropped. The paper id is
    there when at least one of its pages was accepted."""
    output = Path(output_dir)
    papers: dict[str, dict] = {}

    def entry(source: str) -> dict:
        return papers.setdefault(source, {"pages": 0, "pages_accepted": 0, "scores": [], "reasons": {}})

    # The shard indexes carry each sample's source and metadata: no page image is read.
    for index in sorted((output / "shards").glob("*.parquet")):
        for row in pq.read_table(index, columns=["source", "metadata"]).to_pylist():
            metadata = json.loads(row["metadata"])
            paper = entry(row["source"])
            paper.update(id=metadata["paper"]["id"], pages=paper["pages"] + 1,
                         pages_accepted=paper["pages_accepted"] + 1)
            paper["scores"].append(metadata["boundary_score"])
    dropped = {(row["source"], page_item(row["page"])): row["boundary_score"]
               for task in facts for row in task.get("dropped_pages", [])}
    for row in pq.read_table(output / "rejects.parquet").to_pylist():
        paper = entry(row["source"])
        paper["reasons"][row["reason"]] = paper["reasons"].get(row["reason"], 0) + 1
        paper["pages"] += row["item"].startswith("page=")
        if (row["source"], row["item"]) in dropped:
            paper["scores"].append(dropped[row["source"], row["item"]])
    summary = []
    for source in sorted(papers):
        paper = papers[source]
        scores = paper.pop("scores")
        paper["mean_score"] = round(sum(scores) / len(scores), 4) if scores else None
        summary.append({"source": source, **paper})
    return summary


def job_summary(output_dir: str, facts: list[dict]) -> dict:
    """stats.json's "summary" for an arxiv job: every paper's record, the page totals and
    the acceptance rate (Nougat kept ~47% of pages at 0.9), and the tool versions used."""
    papers = paper_summary(output_dir, facts)
    pages = sum(p["pages"] for p in papers)
    accepted = sum(p["pages_accepted"] for p in papers)
    return {
        "papers": papers,
        "pages": pages,
        "pages_accepted": accepted,
        "page_acceptance_rate": round(accepted / pages, 4) if pages else None,
        "tools": _tool_versions(),
    }


CORPUS = Corpus(
    name="arxiv",
    description="LaTeX source + PDF papers -> page images paired with the page's markdown (pandoc, "
                "Nougat-style page alignment)",
    read=read,
    stages=(
        per_page(_score_gate, "score_gate", _page_number),
        per_page(_empty_pages, "empty_pages", _page_number),
        per_page(_render, "render", _page_number),  # only the pages kept so far are drawn
        paper_record,
    ),
    defaults=DEFAULTS,
    summarize=job_summary,
)
