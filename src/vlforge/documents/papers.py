"""Which arXiv-style paper (LaTeX source + the PDF built from it) an input file belongs to.

    role_of(path) -> Role: the Paper that `path` reads (it is the paper's PDF), nothing (it
                     is a part of a paper: a source, a figure, the archive), or why it
                     belongs to no paper (a Rejected)

Planning hands the corpus single files, so every file is looked at for its role, and each
paper is read once, through its PDF:

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
.tex), a PDF with no source beside it (no_latex_source), anything else
(not_part_of_a_paper). Which task a file lands in does not matter: the paper is found from
the PDF's place on disk, so task boundaries never split a paper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vlforge.documents import archive, latex
from vlforge.errors import Rejected

_PARENT_LEVELS = 3  # how far up a source file looks for the folder of its paper


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
    for suffix in archive.ARCHIVE_SUFFIXES:
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
