"""Citations and cross-references in the page text as the PDF prints them (documents.references).

Each paper is compiled here by pdflatex (and bibtex); the PDF's text layer, read with
pypdfium2, is the independent witness of what the page shows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pypdfium2 as pdfium
from conftest import run_cli

from vlforge.cli import EXIT_NOTHING_ACCEPTED
from vlforge.documents.latex import to_markdown
from vlforge.documents.references import UNRESOLVED, number_labels

FILLER = "The harbour gauge reads the tide level every hour of the day and night. " * 6

BODY = r"""\section{Introduction}
Tides were first tabulated by Darwin \cite{darwin}; harmonics came later \cite{doodson,darwin}.
%s
\section{Method}\label{sec:method}
\subsection{Gauges}
%s
\subsection{Fit}\label{sub:fit}
The fit minimises
\begin{equation}\sum_i \varepsilon_i^2 \label{eq:loss}\end{equation}
\begin{figure}[h]\centering\fbox{plot}\caption{The curve.}\label{fig:curve}\end{figure}
\section{Results}
As shown in Figure~\ref{fig:curve}, the fit of Section~\ref{sub:fit} minimises Equation~\eqref{eq:loss}.
%s
"""

BBL = r"""\begin{thebibliography}{9}
\bibitem{darwin} G. Darwin. The Tides and Kindred Phenomena. 1898.
\bibitem{doodson} A. Doodson. The Harmonic Development of the Tide-Generating Potential. 1921.
\end{thebibliography}
"""

BIB = r"""@book{darwin, title={The Tides and Kindred Phenomena}, author={Darwin, George}, year={1898}}
@article{doodson, title={The Harmonic Development of the Tide-Generating Potential},
  author={Doodson, Arthur}, year={1921}}
"""


def paper(root: Path, body_tail: str = "", bibtex: bool = False) -> tuple[Path, list[str]]:
    """main.tex (with refs.bbl, or refs.bib run through bibtex) compiled; the sources keep no
    .aux, and a BibTeX paper no .bbl, as arXiv sources often lack them. Returns the main
    file and the PDF's page texts."""
    root.mkdir(parents=True)
    body = BODY % (FILLER, FILLER, FILLER) + body_tail
    (root / "main.tex").write_text("\\documentclass{article}\n\\usepackage{amsmath}\n\\title{Tides}\n"
                                   "\\begin{document}\n\\maketitle\n" + body +
                                   "\\bibliographystyle{plain}\n\\bibliography{refs}\n\\end{document}\n")
    if bibtex:
        (root / "refs.bib").write_text(BIB)
    else:
        (root / "main.bbl").write_text(BBL)
    run = [["pdflatex", "-interaction=nonstopmode", "main.tex"]]
    for command in run + ([["bibtex", "main"]] if bibtex else []) + run * 2:
        subprocess.run(command, cwd=root, capture_output=True, check=command[0] == "bibtex", timeout=120)
    for leftover in ("main.aux", "main.log", "main.blg") + (("main.bbl",) if bibtex else ()):
        (root / leftover).unlink(missing_ok=True)
    document = pdfium.PdfDocument(root / "main.pdf")
    texts = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    document.close()
    return root / "main.tex", texts


def test_bbl_citations_and_replayed_references_match_the_pdf(tmp_path):
    main, texts = paper(tmp_path / "bbl")
    printed = "\n".join(texts)
    # What the PDF shows (the independent reader) ...
    for shown in ("Darwin [1]", "later [2, 1]", "Figure 1", "Section 2.2", "Equation (1)"):
        assert " ".join(shown.split()) in " ".join(printed.split()), shown
    # ... is what the markdown says.
    md = to_markdown(main.parent, main, page_texts=texts).markdown
    assert r"Darwin \[1\]" in md and r"later \[2, 1\]" in md
    assert "Figure\u00a01, the fit of Section\u00a02.2 minimises Equation\u00a0(1)." in md
    assert UNRESOLVED.search(md) is None and "sub:fit" not in md


def test_bibtex_without_bbl_reads_labels_off_the_pdf(tmp_path):
    main, texts = paper(tmp_path / "bib", bibtex=True)
    assert "[1] George Darwin" in "\n".join(texts)  # plain style: sorted by author
    conversion = to_markdown(main.parent, main, page_texts=texts)
    assert r"Darwin \[1\]" in conversion.markdown and r"later \[2, 1\]" in conversion.markdown
    assert conversion.notes["unresolved_citations"] == 0
    # Without the PDF's text nothing says which number BibTeX gave: "[?]", as LaTeX prints it.
    assert r"Darwin \[?\]" in to_markdown(main.parent, main).markdown


def test_counters_replayed():
    tex = r"""\newtheorem{lem}{Lemma}[section]\newtheorem{thm}[lem]{Theorem}\begin{document}
    \section{A}\subsection{\label{sub:a1}A1}\begin{thm}\label{thm:t}\end{thm}
    \begin{align} a \\ b \nonumber \\ c = \begin{cases} 1 \\ 2 \end{cases} \label{eq:c} \end{align}
    \begin{table}\begin{center}\caption{T}\label{tab:t}\end{center}\end{table}
    \begin{enumerate}\item\label{item:one} x\end{enumerate}
    \appendix\section{Proofs}\label{app:p}\end{document}"""
    numbers = {label: target.number for label, target in number_labels(tex).items()}
    assert numbers == {"sub:a1": "1.1", "thm:t": "1.1", "eq:c": "2", "tab:t": "1", "app:p": "A"}


def test_unresolved_reference_rejects_the_page(tmp_path):
    """A \\cite with no entry and a \\ref to no label: LaTeX prints "[?]" and "??"; the page
    showing them is rejected with its own reason."""
    main, _ = paper(tmp_path / "papers" / "broken", r"See \cite{nowhere} and Section~\ref{sec:none}.")
    output = tmp_path / "out"
    result = run_cli("run", "arxiv", str(tmp_path / "papers"), "--output", str(output), "--workers", "1")
    assert result.returncode == EXIT_NOTHING_ACCEPTED  # the only page is dropped
    rejects = pq.read_table(output / "rejects.parquet").to_pylist()
    unresolved = [r for r in rejects if r["reason"] == "unresolved_reference"]
    assert unresolved and {r["stage"] for r in unresolved} == {"references"}
    assert any("?" in r["detail"] for r in unresolved)
