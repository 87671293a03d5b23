"""MathML formulas -> LaTeX, through pandoc's MathML reader (texmath).

    to_latex(formulas)   [MathML markup, ...] -> [LaTeX or None, ...] in one pandoc run

A page that shows a formula carries it in a form a model can learn: LaTeX. When a formula
has no TeX annotation of its own (renderers.paginate takes that first), its Presentation
MathML is converted here. pandoc comes from the pypandoc-binary wheel (a static binary:
no network, no apt), the same one documents.latex uses.

All formulas of a document go through one pandoc process, each as its own HTML paragraph,
so the n-th paragraph of pandoc's output is the n-th formula. A formula that pandoc does
not read as exactly one piece of math is None: the caller keeps its MathML characters.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence

import pypandoc

from vlforge.errors import Rejected


def to_latex(formulas: Sequence[str], timeout_s: float = 60.0, memory_mb: int = 1024) -> list[str | None]:
    """The LaTeX of each MathML formula (`<math ...>...</math>`), or None where pandoc made
    something else of it. Raises Rejected when pandoc itself fails."""
    if not formulas:
        return []
    html = "".join(f"<p>{formula}</p>\n" for formula in formulas)
    blocks = json.loads(_pandoc(html, timeout_s, memory_mb))["blocks"]
    if len(blocks) != len(formulas):  # a formula pandoc could not place in its paragraph
        return [None] * len(formulas)
    return [_only_math(block) for block in blocks]


def _pandoc(html: str, timeout_s: float, memory_mb: int) -> str:
    # --sandbox: the reader opens no file; +RTS -M: a pathological formula cannot take the
    # worker's memory with it.
    command = [pypandoc.get_pandoc_path(), "+RTS", f"-M{memory_mb}m", "-RTS", "--sandbox",
               "-f", "html", "-t", "json"]
    try:
        done = subprocess.run(command, input=html.encode(), capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise Rejected("mathml_conversion_failed", f"pandoc ran longer than {timeout_s:g} s") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Rejected("mathml_conversion_failed", f"pandoc exit {done.returncode}: {' | '.join(message[-3:])[:500]}")
    return done.stdout.decode("utf-8")


def _only_math(block: dict) -> str | None:
    """The LaTeX of a paragraph that is one formula (spaces around it aside), else None."""
    inlines = [node for node in block.get("c", []) if node.get("t") not in ("Space", "SoftBreak")]
    if block.get("t") not in ("Para", "Plain") or len(inlines) != 1 or inlines[0].get("t") != "Math":
        return None
    latex = inlines[0]["c"][1].strip()
    return latex or None
