"""`vlforge run arxiv` end to end on the demo paper compiled here by pdflatex, in both layouts."""

from __future__ import annotations

import io
import math
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pypdfium2 as pdfium
import pytest
from conftest import REPO, job_samples, load_stats, run_cli
from PIL import Image

from vlforge.cli import EXIT_NOTHING_ACCEPTED
from vlforge.documents.align import clean_page_texts, markdown_tokens, tokens
from vlforge.documents.papers import Role, role_of
from vlforge.documents.pdf import open_pdf

TITLE = "Predicting Harbour Tides with a Handful of Harmonic Constituents"


@pytest.fixture(scope="module")
def papers(tmp_path_factory) -> Path:
    """Inputs: the demo paper in folder layout, the same in arXiv layout, its source paired
    with a PDF that is not it, a tarball with a '..' member, a source without its PDF, and a
    stray file."""
    root = tmp_path_factory.mktemp("papers")
    for flag, where in (("--out", root / "folder"), ("--arxiv", root / "arxiv")):
        subprocess.run([sys.executable, str(REPO / "examples" / "make_paper.py"), flag, str(where)],
                       check=True, capture_output=True)
    arxiv = root / "arxiv"
    (arxiv / "2401.99999.tar.gz").write_bytes((arxiv / "tide-harmonics.tar.gz").read_bytes())
    blank_page_pdf(arxiv / "2401.99999.pdf")  # a source paired with the wrong PDF
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped.tex")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"owned"))
    (arxiv / "2401.66666.tar.gz").write_bytes(evil.getvalue())
    (arxiv / "2401.66666.pdf").write_bytes((arxiv / "tide-harmonics.pdf").read_bytes())
    (arxiv / "2401.77777.gz").write_bytes(b"\x1f\x8b no PDF beside me")
    (arxiv / "notes.txt").write_text("not a paper")
    return root


def blank_page_pdf(path: Path) -> None:
    document = pdfium.PdfDocument.new()
    document.new_page(612, 792)
    document.save(path)
    document.close()


@pytest.fixture(scope="module")
def job(papers, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("job") / "out"
    run_cli("run", "arxiv", str(papers), "--output", str(output), "--workers", "1", check=True)
    return output


def test_every_page_is_a_sample_or_a_reject(job, papers):
    stats = load_stats(job)
    assert stats["read"] == stats["accepted"] + stats["rejected"]
    rejects = pq.read_table(job / "rejects.parquet").to_pylist()
    records = [sample["meta"] for sample in job_samples(job)]
    for pdf_path in [papers / "folder" / "tide-harmonics" / "main.pdf", papers / "arxiv" / "tide-harmonics.pdf",
                     papers / "arxiv" / "2401.99999.pdf"]:
        with open_pdf(pdf_path, max_bytes=1 << 30, max_pages=100) as doc:
            page_count = doc.page_count
        accepted = [r for r in records if r["source"] == str(pdf_path)]
        rejected = [r for r in rejects if r["source"] == str(pdf_path) and r["item"].startswith("page=")]
        assert len(accepted) + len(rejected) == page_count, pdf_path
        numbers = sorted([r["metadata"]["page"] for r in accepted] + [int(r["item"][5:]) for r in rejected])
        assert numbers == list(range(1, page_count + 1))


def test_stats_carry_a_record_per_paper(job, papers):
    summary = load_stats(job)["summary"]
    demo = next(p for p in summary["papers"] if p["source"] == str(papers / "arxiv" / "tide-harmonics.pdf"))
    assert demo["pages"] == demo["pages_accepted"] == 4 and demo["mean_score"] >= 0.9
    assert summary["pages"] == sum(p["pages"] for p in summary["papers"])
    assert summary["page_acceptance_rate"] == round(summary["pages_accepted"] / summary["pages"], 4)
    assert summary["tools"]["pandoc"].startswith("3.") and "pypdfium2" in summary["tools"]


def test_demo_paper_pages_pair_with_their_markdown(job, papers):
    pdf_path = papers / "folder" / "tide-harmonics" / "main.pdf"
    samples = sorted((s for s in job_samples(job) if s["meta"]["source"] == str(pdf_path)),
                     key=lambda s: s["meta"]["metadata"]["page"])
    assert len(samples) >= 3  # the demo paper aligns well: at most one page may miss 0.9
    with open_pdf(pdf_path, max_bytes=1 << 30, max_pages=100) as doc:
        texts = clean_page_texts([doc.page_text(i) for i in range(doc.page_count)])
        page_words = [set(tokens(text)) for text in texts]
        sizes = [doc.page_size_points(i) for i in range(doc.page_count)]
    for sample in samples:
        record = sample["meta"]
        meta, markdown = record["metadata"], sample["text"]
        assert sample["members"] == ["json", "png", "txt"] and record["text_kind"] == "markdown"
        number = meta["page"]
        if number == 1:
            assert markdown.startswith(f"# {TITLE}")
        # The page's markdown is on that page: its words (LaTeX aside) are in its text layer,
        # and not as much in any other page's.
        words = [w for w in markdown_tokens(markdown)[0] if len(w) > 3]
        here = sum(w in page_words[number - 1] for w in words) / len(words)
        assert here > 0.95, (number, here)
        assert all(sum(w in page_words[i] for w in words) / len(words) < here
                   for i in range(len(page_words)) if i != number - 1)
        image = Image.open(io.BytesIO(sample["image"]))
        expected = tuple(math.ceil(points * 96 / 72 - 1e-6) for points in sizes[number - 1])
        assert image.mode == "RGB" and image.size == expected == tuple(meta["image_size"])
        assert (record["image_width"], record["image_height"]) == expected and record["image_format"] == "png"
        assert meta["dpi"] == 96.0 and meta["page_count"] == len(page_words)
        assert meta["page_size_pt"] == [round(s, 2) for s in sizes[number - 1]]
        assert meta["boundary_score"] >= 0.9 and meta["paper"]["id"] == "tide-harmonics"
        assert set(record["tools"]) == {"pandoc", "pypdfium2", "pdfium"}
        assert record["text_kind"] == "markdown"
    paper = samples[0]["meta"]["metadata"]["paper"]
    assert paper["pages"] == len(page_words) and paper["pages_accepted"] == len(samples)
    assert paper["conversion"]["bibliography_entries"] == 2 and paper["main_tex"] == "main.tex"


def test_archive_layout_gives_the_same_pages(job, papers):
    by_source: dict[str, list] = {}
    for sample in job_samples(job):
        record = sample["meta"]
        by_source.setdefault(record["source"], []).append((record["metadata"]["page"], sample["text"]))
    folder = sorted(by_source[str(papers / "folder" / "tide-harmonics" / "main.pdf")])
    arxiv = sorted(by_source[str(papers / "arxiv" / "tide-harmonics.pdf")])
    assert folder == arxiv


def test_bad_inputs_are_rejected_with_reasons(job, papers):
    rejects = {(Path(r["source"]).name, r["item"]): r for r in pq.read_table(job / "rejects.parquet").to_pylist()}
    unsafe = rejects[("2401.66666.pdf", "paper")]
    assert unsafe["reason"] == "unsafe_path" and "../escaped.tex" in unsafe["detail"]
    assert not (papers / "escaped.tex").exists() and not (papers / "arxiv" / "escaped.tex").exists()
    assert rejects[("2401.77777.gz", "paper")]["reason"] == "no_pdf"
    assert rejects[("notes.txt", "paper")]["reason"] == "not_part_of_a_paper"
    mismatch = rejects[("2401.99999.pdf", "page=1")]
    assert mismatch["reason"] == "low_boundary_score" and "0 words on the page" in mismatch["detail"]
    assert mismatch["stage"] == "score_gate" and unsafe["stage"] == "convert"
    summary = {Path(p["source"]).name: p for p in load_stats(job)["summary"]["papers"]}
    assert summary["main.pdf"]["pages_accepted"] >= 3 and summary["main.pdf"]["pages"] == 4
    assert summary["2401.99999.pdf"]["reasons"] == {"low_boundary_score": 1}
    # The dropped page's score reaches the summary through the score gate's task facts.
    assert summary["2401.99999.pdf"]["mean_score"] == 0.0


def test_threshold_option_moves_pages_to_the_ledger(papers, tmp_path, cli):
    output = tmp_path / "strict"
    result = cli("run", "arxiv", str(papers / "folder"), "--output", str(output), "--workers", "1",
                 "--set", "arxiv.threshold=1.01", "--set", "arxiv.dpi=48")
    assert result.returncode == EXIT_NOTHING_ACCEPTED and "accepted nothing" in result.stderr
    stats = load_stats(output)
    assert stats["accepted"] == 0 and stats["rejected_by_reason"] == {"low_boundary_score": 4}


def test_roles_of_files_in_paper_folders(tmp_path):
    main = r"\documentclass{article}\begin{document}\includegraphics{figs/plot}\includegraphics{chart.pdf}\end{document}"
    paper = tmp_path / "paper-a"
    (paper / "figs").mkdir(parents=True)
    (paper / "main.tex").write_text(main)
    for name in ("paper.pdf", "chart.pdf", "figs/plot.pdf", "figs/notes.tex"):
        (paper / name).write_bytes(b"%PDF-1.4")
    two = tmp_path / "paper-b"
    two.mkdir()
    (two / "main.tex").write_text(main)
    (two / "draft.pdf").write_bytes(b"%PDF-1.4")
    (two / "final.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "lonely.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "2401.00001.gz").write_bytes(b"")
    (tmp_path / "2401.00002.tar.gz").write_bytes(b"")
    (tmp_path / "2401.00002.pdf").write_bytes(b"%PDF-1.4")

    chosen = role_of(paper / "paper.pdf").paper
    assert (chosen.id, chosen.layout, chosen.source) == ("paper-a", "folder", paper)
    for silent in ("chart.pdf", "figs/plot.pdf", "figs/notes.tex", "main.tex"):  # parts of paper-a
        assert role_of(paper / silent) == Role(), silent
    assert role_of(two / "main.tex").orphan.reason == "ambiguous_pdf"
    assert role_of(two / "draft.pdf") == Role() == role_of(two / "final.pdf")
    assert role_of(tmp_path / "lonely.pdf").orphan.reason == "no_latex_source"
    assert role_of(tmp_path / "2401.00001.gz").orphan.reason == "no_pdf"
    assert role_of(tmp_path / "2401.00002.tar.gz") == Role()
    arxiv = role_of(tmp_path / "2401.00002.pdf").paper
    assert (arxiv.id, arxiv.layout, arxiv.source.name) == ("2401.00002", "archive", "2401.00002.tar.gz")
