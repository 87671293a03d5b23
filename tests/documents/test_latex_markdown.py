"""documents.latex: LaTeX -> markdown through the bundled pandoc, and finding the main file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vlforge.documents.latex import find_main_tex, to_markdown, tool_versions
from vlforge.errors import Rejected

PAPER = r"""\documentclass{mrl}% a class pandoc has never heard of
\usepackage{amsmath}
\title{On Tides}
\author{A. Marsh \and T. Keel}
\date{2024}
\begin{document}
\maketitle
\begin{abstract}We study tides.\end{abstract}
\section{Introduction}
Tides are periodic \cite{darwin,doodson} and well studied \cite[p.~5]{darwin}; see also
\cite{nowhere}. Section~\ref{sec:m} gives $h(t) = h_0 + A\cos(\omega t)$.\footnote{A note.}
% \input{commented-out}
\input{sections/model}
\begin{table}\centering\caption{Amplitudes.}
\begin{tabular}{lr} Name & Value \\ $M_2$ & 1.13 \\ \end{tabular}\end{table}
\begin{figure}\includegraphics{plot.png}\caption{The curve.}\end{figure}
\section*{Unnumbered}
Text with \unknownmacro{kept words}.
\input{../outside}
\input{/etc/hostname}
\input{missing-file}
\begin{thebibliography}{9}
\bibitem{darwin} G. Darwin. The Tides. 1898.
\bibitem{doodson} A. Doodson. Harmonics. 1921.
\end{thebibliography}
\end{document}
"""

MODEL = r"""\section{Model}\label{sec:m}
\subsection{Fit}
The fit minimises
\begin{equation} \sum_i \varepsilon_i^2 . \end{equation}
"""


@pytest.fixture
def source(tmp_path) -> Path:
    root = tmp_path / "src"
    (root / "sections").mkdir(parents=True)
    (root / "main.tex").write_text(PAPER)
    (root / "sections" / "model.tex").write_text(MODEL)
    (tmp_path / "outside.tex").write_text("SECRET OUTSIDE TEXT")
    return root


def test_markdown_shape(source):
    conversion = to_markdown(source, source / "main.tex")
    md = conversion.markdown
    assert md.startswith("# On Tides\n\nA. Marsh, T. Keel\n\n2024\n\n###### Abstract\n\nWe study tides.\n")
    assert "## 1 Introduction" in md and "## 2 Model" in md and "### 2.1 Fit" in md
    assert "## Unnumbered" in md  # \section* keeps no number
    assert r"\[1, 2\]" in md and "\\[1, p.\u00a05\\]" in md and r"\[?\]" in md  # citations as printed
    assert "Section\u00a02 gives $h(t) = h_0 + A\\cos(\\omega t)$." in md  # \ref as its number; ~ is NBSP
    assert re.search(r"\$\$\\begin\{equation\}.*\\varepsilon_i\^2.*\\end\{equation\}\$\$", md, re.S)
    assert "Table 1: Amplitudes.\n\n|       |       |\n|:------|------:|\n| Name  | Value |\n| $M_2$ |  1.13 |" in md
    assert "Figure 1: The curve." in md and "plot.png" not in md
    assert "Text with ." in md  # a macro of a class pandoc cannot read goes, with its argument
    assert "## References" in md and r"\[2\] A. Doodson. Harmonics. 1921." in md
    assert "A note" not in md and "[^" not in md  # footnotes go (see documents.latex)
    assert "SECRET" not in md and "commented-out" not in md
    assert conversion.main == "main.tex"
    assert conversion.notes == {"inputs": 1, "missing_inputs": 3, "citations": 3, "bibliography_entries": 2,
                                "unresolved_citations": 1, "references": 1, "unresolved_references": 0}
    for forbidden in (":::", "{#", "\\begin{table}", "<div", "\\cite"):
        assert forbidden not in md


def test_main_file_choice(tmp_path):
    root = tmp_path / "paper"
    root.mkdir()
    (root / "macros.tex").write_text(r"\newcommand{\x}{x}")
    (root / "notes.tex").write_text("% \\documentclass{article}\n\\begin{document}")  # commented out
    (root / "variant.tex").write_text(r"\documentclass{amsart}\begin{document}Variant.\end{document}" * 3)
    (root / "main.tex").write_text(r"\documentclass{article}\begin{document}Main.\end{document}")
    (root / "2401.00001.tex").write_text(r"\documentclass{article}\begin{document}Id.\end{document}")
    assert find_main_tex(root).name == "main.tex"  # a conventional name beats a larger file
    assert find_main_tex(root, "2401.00001v2").name == "2401.00001.tex"  # named like the PDF
    assert find_main_tex(root, "MRL-0005 - Ring").name == "main.tex"
    (root / "MRL-0005.tex").write_text(r"\documentclass{mrl}\begin{document}Bulletin.\end{document}")
    assert find_main_tex(root, "MRL-0005 - Ring").name == "MRL-0005.tex"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "part.tex").write_text("Just a part.")
    assert find_main_tex(empty) is None


def test_latin1_source_and_versions(tmp_path):
    (tmp_path / "old.tex").write_bytes("\\documentclass{article}\\usepackage[latin1]{inputenc}\n"
                                       "\\begin{document}Caf\xe9 na\xefve.\\end{document}\n".encode("latin-1"))
    assert "Café naïve." in to_markdown(tmp_path, tmp_path / "old.tex").markdown
    assert re.match(r"^\d+\.\d+", tool_versions()["pandoc"])


def test_input_loop_and_empty_document_are_refused(tmp_path):
    (tmp_path / "main.tex").write_text("\\documentclass{article}\\begin{document}\\input{main}\\end{document}")
    with pytest.raises(Rejected) as caught:
        to_markdown(tmp_path, tmp_path / "main.tex")
    assert caught.value.reason == "input_loop"
    (tmp_path / "blank.tex").write_text("\\documentclass{article}\\begin{document}\\end{document}")
    with pytest.raises(Rejected) as caught:
        to_markdown(tmp_path, tmp_path / "blank.tex")
    assert caught.value.reason == "empty_markdown"
