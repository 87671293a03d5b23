"""arXiv-style papers (LaTeX source + the PDF built from it) -> page image + page markdown.

Which paper each input file belongs to (arXiv layout: ID.pdf beside ID.tar.gz and the like;
folder layout: a main .tex and its PDF), and which files belong to none (no_pdf,
ambiguous_pdf, no_latex_source, not_part_of_a_paper, rejected at item "paper"), is
documents.papers's business; each paper is read once, through its PDF.

The reader, per paper: open_pdf (documents.pdf) checks the PDF (encrypted, broken, zero
pages, too large); extract_source (.archive) unpacks the sources into a temporary folder,
refusing unsafe members ('..', absolute, links out, devices, bombs); to_markdown (.latex)
turns the main .tex into markdown with pandoc; align_pages (.align) splits it to the PDF's
pages, a boundary score and a word coverage each. Every page becomes a Sample of its
markdown, not yet drawn, which the stages then take:
    score_gate     boundary score < arxiv.threshold: low_boundary_score, else word coverage
                   < arxiv.min_coverage: low_word_coverage (the scores in the detail)
    empty_pages    no markdown was assigned to the page: empty_page_markdown
    references     the page shows a citation or \\ref that could not be resolved ("[?]",
                   "??", a raw \\ref): unresolved_reference
    render         the pages kept so far drawn at arxiv.dpi (PNG)
    paper_record   every kept page gets its paper's record

Every page of an opened PDF ends as one Sample or one Reject (item "page=N", 1-based); a
paper refused before its pages are split is one Reject (item "paper"). Paper reasons:
documents.pdf's (encrypted_pdf, broken_pdf, zero_pages, pdf_too_large, too_many_pages,
not_a_file), documents.archive's (unsafe_path, unsafe_link, special_file, source_too_large,
too_many_files, broken_archive, unsupported_source), no_main_tex, and documents.latex's
(pandoc_failed, pandoc_timeout, empty_markdown, latex_too_large, input_loop). Page reasons:
low_boundary_score, low_word_coverage, empty_page_markdown, unresolved_reference, and documents.pdf's page
reasons (page_text_failed, page_load_failed, page_too_large, page_render_failed).

Each sample's metadata carries the page (1-based), page count, dpi, image and page size, its
scores, and the paper record: pages, pages accepted, mean score, main .tex, conversion
counts. Tool versions (pandoc, pypdfium2, pdfium) are in the provenance. `paper_summary`
rebuilds the per-paper records of a finished job from its shards, its reject ledger and the
scores of dropped pages that score_gate notes (ctx.note).
"""

from __future__ import annotations

import io
import itertools
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from vlforge.config import opt
from vlforge.contract import Corpus, Outcome, Part, TaskContext
from vlforge.documents import align, archive, latex, pdf, references
from vlforge.documents.page_stages import page_item, per_page
from vlforge.documents.papers import Paper, role_of
from vlforge.errors import Rejected
from vlforge.schemas import Provenance, Sample, file_checksum, make_key

DEFAULTS: dict[str, Any] = {
    # A paper is read through its PDF alone; its other files cost nothing. Small tasks
    # spread a folder of papers over the workers.
    "tasks": {
        "target_bytes": opt(64 * 1024 * 1024, "input bytes per task (a paper's bytes are its PDF's)"),
        "max_files": opt(8, "input files per task at most"),
    },
    "arxiv": {
        "threshold": opt(0.9, "boundary score under which a page is low_boundary_score (Nougat: 0.9)"),
        # Share of the words (3+ letters) on either side found on the other: a low one means
        # the edges matched but the middle did not (a float or footnote moved a cut).
        "min_coverage": opt(0.85, "word coverage under which a page is low_word_coverage"),
        "dpi": opt(96.0, "page rasterisation resolution (Nougat's default)"),
        "window": opt(align.DEFAULT_WINDOW, "words matched at each page edge"),
        "png_compress_level": opt(6, "zlib level of the page PNGs (1 fast .. 9 small)"),
        "pandoc_timeout_s": opt(120.0, "seconds pandoc may run on one paper, then pandoc_timeout"),
        "max_latex_chars": opt(16 * 1024 * 1024, "LaTeX characters after \\input is resolved beyond which a paper is latex_too_large"),
        "max_source_bytes": opt(256 * 1024 * 1024, "uncompressed bytes of a paper's whole source beyond which it is source_too_large"),
        "max_source_files": opt(5000, "files in a paper's source beyond which it is too_many_files"),
    },
    "pdf": {
        "max_pages": opt(500, "pages in a paper's PDF beyond which it is too_many_pages"),
        "max_bytes": opt(200 * 1024 * 1024, "bytes of a paper's PDF beyond which it is pdf_too_large"),
    },
}


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
        texts, text_errors = _page_texts(document)
        try:
            conversion = _convert(paper, opts, texts)
        except Rejected as error:
            yield Rejected(error.reason, f"{paper.source.name}: {error.detail}").reject(source, "paper", "convert")
            return
        yield from _aligned_pages(paper, document, conversion, opts, (texts, text_errors))


def _convert(paper: Paper, opts: dict, texts: list[str]) -> latex.Conversion:
    """The paper's markdown, from sources unpacked into a temporary folder of our own; the
    PDF's text layer gives citation labels the sources lack (no .bbl, no .aux)."""
    limits = archive.Limits(opts["max_source_bytes"], opts["max_source_files"])
    with tempfile.TemporaryDirectory(prefix="vlforge-arxiv-") as scratch:
        root = archive.extract_source(paper.source, Path(scratch), limits)
        main = latex.find_main_tex(root, paper.pdf.stem)
        if main is None:
            raise Rejected("no_main_tex", "no .tex file with \\documentclass and \\begin{document}")
        return latex.to_markdown(root, main, timeout_s=opts["pandoc_timeout_s"],
                                 max_bytes=opts["max_latex_chars"], page_texts=texts)


def _aligned_pages(paper: Paper, document: pdf.PdfDocument, conversion: latex.Conversion,
                   opts: dict, page_texts: tuple[list[str], dict[int, Rejected]]) -> Iterator[Outcome]:
    texts, text_errors = page_texts
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


def _references(sample: Sample, ctx: TaskContext) -> Sample:
    """Drops a page whose text shows a citation or cross-reference that could not be
    resolved ("[?]", "??", a raw \\ref): the PDF prints a number there (documents.references)."""
    marker = references.UNRESOLVED.search(sample.text)
    if marker is not None:
        context = sample.text[max(0, marker.start() - 40): marker.end() + 20].replace("\n", " ")
        raise Rejected("unresolved_reference", f"{marker.group()!r} in ...{context}...")
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
        per_page(_references, "references", _page_number),
        per_page(_render, "render", _page_number),  # only the pages kept so far are drawn
        paper_record,
    ),
    defaults=DEFAULTS,
    summarize=job_summary,
)
