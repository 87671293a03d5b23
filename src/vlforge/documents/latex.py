"""LaTeX sources -> the markdown vlforge pairs with PDF pages, through pandoc.

Why pandoc and not LaTeXML (which Nougat's tooling uses): pandoc ships as a wheel on PyPI
(pypandoc-binary bundles a static pandoc binary, no apt, no Perl), converts a paper in a
fraction of a second where LaTeXML takes tens of seconds, is actively maintained, and skips
what it does not know (custom classes such as mrl.cls, unknown macros) instead of failing.
What it loses is what LaTeXML would get from running the class's TeX code: class-specific
front matter, and text inside macros that only the class or a package defines (pandoc
expands the document's own \\newcommand macros, but drops an unknown \\macro{...} with its
arguments), and what TeX computes (equation numbers; \\ref numbers pandoc does compute).
The version used is recorded with every sample (`tool_versions()`).

    find_main_tex(root, hint)   the main file: \\documentclass and \\begin{document}
    to_markdown(root, main)     -> Conversion(markdown, notes)  or raises Rejected

Before pandoc sees anything, `flatten` builds one file from the main .tex:
    - comments dropped; \\input / \\include / \\subfile inlined, only from inside `root`
      (pandoc then runs with --sandbox: it cannot read any file but that one);
    - \\bibliography{...} replaced by the paper's .bbl when there is one (arXiv sources
      carry it), and every thebibliography turned into a "References" section with one
      "[label] entry" paragraph per \\bibitem;
    - \\cite{a,b} written as the PDF prints it with a numeric or alpha style: "[1, 2]"
      (labels are \\bibitem order, or the item's own [label] unless it is natbib
      author-year); a BibTeX paper without its .bbl takes the labels its .aux wrote, else
      those its PDF's reference list prints (documents.references); a key with no label
      becomes "[?]", as LaTeX prints it;
    - \\ref, \\eqref, \\autoref, \\cref, \\pageref written as the PDF prints them, from the
      .aux or from LaTeX's counters replayed and confirmed in the PDF's text
      (documents.references); what cannot be resolved becomes "??", as LaTeX prints it.

The markdown (pandoc's, its escapes included: `\\[1\\]` is a literal [1]):
    - title as `# Title`, then authors and date as paragraphs, `###### Abstract` and the
      abstract, as Nougat writes them; sections one level below (`## 1 Introduction`),
      numbered as LaTeX numbers them (section, subsection, subsubsection; starred ones not);
    - math stays LaTeX: `$...$` inline, `$$...$$` display (environments such as align
      inside `$$`). Not `\\[...\\]`: pandoc escapes literal brackets as `\\[`, which would read
      as display math;
    - tables as markdown pipe tables with the caption above as "Table N: ..." (cells that
      span columns are flattened: pipe tables have no spans); figures become their caption
      "Figure N: ..." (the image is on the page image already);
    - footnotes dropped, marker and text: LaTeX sets a note at the foot of the page, where
      no contiguous piece of the markdown can follow it, so a page that shows one misses
      its last words and is rejected rather than paired with text in the wrong order;
    - links (\\url, \\href) as their text, as printed;
    - no raw LaTeX, HTML, divs or attributes: what a reader of the page sees, as text.
"""

from __future__ import annotations

import codecs
import functools
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pypandoc

from vlforge.documents import references
from vlforge.errors import Rejected

MARKDOWN_FORMAT = "markdown" + "".join(f"-{ext}" for ext in (
    "fenced_divs", "native_divs", "native_spans", "bracketed_spans", "header_attributes",
    "fenced_code_attributes", "inline_code_attributes", "link_attributes", "raw_attribute",
    "simple_tables", "multiline_tables", "grid_tables", "table_captions", "citations", "smart",
    "raw_html", "raw_tex", "yaml_metadata_block", "pandoc_title_block", "implicit_figures"))

_MAX_DEPTH = 16  # nested \input levels
_PREFERRED_NAMES = ("main", "ms", "paper", "article", "manuscript")


@dataclass
class Conversion:
    markdown: str
    main: str  # the main .tex, relative to the source root
    notes: dict[str, int] = field(default_factory=dict)  # counts: missing_inputs, citations, ...


@functools.lru_cache(maxsize=1)
def tool_versions() -> dict[str, str]:
    return {"pandoc": str(pypandoc.get_pandoc_version())}


# --------------------------------------------------------------------------------------
# Reading .tex files: encoding, comments, the main file
# --------------------------------------------------------------------------------------

_INPUTENC = re.compile(r"\\usepackage\[([^\]]*)\]\{inputenc\}")
_CODECS = {"latin1": "latin-1", "latin9": "iso8859-15", "ansinew": "cp1252", "cp1252": "cp1252",
           "applemac": "mac_roman", "utf8": "utf-8", "latin2": "iso8859-2", "koi8-r": "koi8-r"}


def read_tex(path: Path) -> str:
    """UTF-8, else the encoding \\usepackage[...]{inputenc} declares, else Latin-1."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        declared = _INPUTENC.search(data.decode("latin-1"))
        name = _CODECS.get(declared.group(1).split(",")[-1].strip(), "latin-1") if declared else "latin-1"
        return data.decode(codecs.lookup(name).name, errors="replace")


_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%.*$", re.M)


def strip_comments(tex: str) -> str:
    r"""Drops `% ...` to the end of the line; keeps `\%`. A comment at a line end also eats
    the newline in TeX; keeping it only adds a space."""
    return _COMMENT.sub(r"\1", tex)


_DOCUMENTCLASS = re.compile(r"\\documentclass\s*(\[[^\]]*\])?\s*\{")
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")


def is_main_tex(path: Path) -> bool:
    try:
        tex = strip_comments(read_tex(path))
    except OSError:
        return False
    return bool(_DOCUMENTCLASS.search(tex) and _BEGIN_DOCUMENT.search(tex))


def find_main_tex(root: Path, hint: str = "") -> Path | None:
    """The main file among the .tex files under root (top level first), or None.

    Several candidates: the one whose name the PDF's name `hint` starts with (longest first),
    then a conventional name (main.tex, ms.tex, ...), then the largest, then by name."""
    for pattern in ("*.tex", "**/*.tex"):
        candidates = [p for p in sorted(root.glob(pattern)) if p.is_file() and is_main_tex(p)]
        if candidates:
            return min(candidates, key=lambda p: _main_rank(p, hint.lower()))
    return None


def _main_rank(path: Path, hint: str) -> tuple:
    stem = path.stem.lower()
    matches_hint = bool(hint) and hint.startswith(stem)
    preferred = _PREFERRED_NAMES.index(stem) if stem in _PREFERRED_NAMES else len(_PREFERRED_NAMES)
    return (not matches_hint, -len(stem) if matches_hint else 0, preferred, -path.stat().st_size, str(path))


# --------------------------------------------------------------------------------------
# One file from many: \input, \include, bibliography, citations
# --------------------------------------------------------------------------------------

_INPUT = re.compile(r"\\(?:input|include|subfile)(?![A-Za-z@])\s*(?:\{([^{}]*)\}|([^\s{}\\%]+))")


@dataclass
class _Flattener:
    root: Path
    max_bytes: int
    notes: dict[str, int] = field(default_factory=lambda: {"missing_inputs": 0, "inputs": 0})
    size: int = 0

    def flatten(self, path: Path, depth: int = 0) -> str:
        text = strip_comments(read_tex(path))
        self.size += len(text)
        if self.size > self.max_bytes:
            raise Rejected("latex_too_large", f"more than {self.max_bytes} characters of LaTeX after \\input")
        if depth >= _MAX_DEPTH:
            raise Rejected("input_loop", f"\\input nested more than {_MAX_DEPTH} deep at {path.name}")
        return _INPUT.sub(lambda m: self._inlined(m, depth), text)

    def _inlined(self, match: re.Match, depth: int) -> str:
        target = self.resolve((match.group(1) or match.group(2) or "").strip())
        if target is None:
            self.notes["missing_inputs"] += 1
            return ""
        self.notes["inputs"] += 1
        return "\n" + self.flatten(target, depth + 1) + "\n"

    def resolve(self, name: str) -> Path | None:
        """The file LaTeX would read for `name` (relative to the root, .tex added when
        needed), only if it is a file inside the root."""
        if not name:
            return None
        root = self.root.resolve()
        for candidate in (name, name + ".tex"):
            path = (root / candidate).resolve()
            if path.is_relative_to(root) and path.is_file():
                return path
        return None


_BIBLIOGRAPHY = re.compile(r"\\bibliography\s*\{([^}]*)\}")
_THEBIBLIOGRAPHY = re.compile(r"\\begin\s*\{thebibliography\}\s*\{[^}]*\}(.*?)\\end\s*\{thebibliography\}", re.S)
_BIBITEM = re.compile(r"\\bibitem\s*(?:\[((?:[^\[\]]|\{[^{}]*\})*)\])?\s*\{([^}]*)\}")
_CITE = re.compile(r"\\(?:[Cc]ite[a-z]*|[a-z]*cite)\*?\s*((?:\[[^\]]*\]\s*){0,2})\{([^}]*)\}")
_BIB_SECTION = "\\section*{References}\n"


def _with_bbl(tex: str, root: Path, main: Path) -> str:
    """\\bibliography{...} replaced by the compiled bibliography (main's .bbl, else the only
    .bbl) when the sources have one; otherwise dropped, as pandoc would drop it."""
    bbls = [main.with_suffix(".bbl")] + sorted(root.glob("*.bbl"))
    bbl = next((b for b in bbls if b.is_file()), None)
    content = strip_comments(read_tex(bbl)) if bbl and (bbl == bbls[0] or len(bbls) == 2) else ""
    return _BIBLIOGRAPHY.sub(lambda _m: content, tex)


def bibliography_labels(tex: str) -> dict[str, str]:
    """citation key -> the label the PDF prints: the item's number, or its own [label]
    (alpha styles) unless that is natbib's author-year form, which holds a '('."""
    labels: dict[str, str] = {}
    for body in _THEBIBLIOGRAPHY.findall(tex):
        for number, match in enumerate(_BIBITEM.finditer(body), start=1):
            own = (match.group(1) or "").replace("{", "").replace("}", "").strip()
            labels.setdefault(match.group(2).strip(), own if own and "(" not in own else str(number))
    return labels


def _bibliography_section(match: re.Match, labels: dict[str, str]) -> str:
    """One thebibliography environment -> "References" and a paragraph per entry."""
    items = list(_BIBITEM.finditer(match.group(1)))
    paragraphs = []
    for item, following in zip(items, [*items[1:], None], strict=True):
        text = match.group(1)[item.end(): following.start() if following else None].strip()
        paragraphs.append(f"[{labels.get(item.group(2).strip(), '?')}] {text}")
    return _BIB_SECTION + "\n\n".join(paragraphs) + "\n"


def _citation(match: re.Match, labels: dict[str, str]) -> str:
    keys = [k.strip() for k in match.group(2).split(",") if k.strip()]
    notes = re.findall(r"\[([^\]]*)\]", match.group(1))
    note = notes[-1].strip() if notes else ""
    text = ", ".join(labels.get(k, "?") for k in keys)
    return f"[{text}, {note}]" if note else f"[{text}]"


def flatten(root: Path, main: Path, max_bytes: int,
            page_texts: Sequence[str] = ()) -> tuple[str, dict[str, int]]:
    """The paper as one LaTeX string (see the module docstring) and counts of what was done.
    `page_texts`, the PDF's text layer, gives the citation labels of a BibTeX paper whose
    sources lack both .bbl and .aux."""
    flattener = _Flattener(root, max_bytes)
    tex = flattener.flatten(main)
    bib_files = [name.strip() for names in _BIBLIOGRAPHY.findall(tex) for name in names.split(",")]
    tex = _with_bbl(tex, root, main)
    aux_path = main.with_suffix(".aux")
    targets, aux_cites = references.read_aux(read_tex(aux_path)) if aux_path.is_file() else ({}, {})
    labels = bibliography_labels(tex)
    tex = _THEBIBLIOGRAPHY.sub(lambda m: _bibliography_section(m, labels), tex)
    cited = [k.strip() for m in _CITE.finditer(tex) for k in m.group(2).split(",") if k.strip()]
    if not labels:  # BibTeX without its .bbl: what LaTeX wrote, else what the PDF printed
        labels = aux_cites or _printed_labels(flattener, bib_files, page_texts, cited)
    citations = len(_CITE.findall(tex))
    tex = _CITE.sub(lambda m: _citation(m, labels), tex)
    # Numbers LaTeX wrote are trusted; replayed ones only where the PDF confirms them.
    printed = "" if targets else "\n".join(page_texts)
    tex, refs, unresolved_refs = references.resolve_references(
        tex, targets or references.number_labels(tex), printed)
    return tex, {**flattener.notes, "citations": citations, "bibliography_entries": len(labels),
                 "unresolved_citations": sum(k not in labels for k in cited),
                 "references": refs, "unresolved_references": unresolved_refs}


def _printed_labels(flattener: _Flattener, bib_files: list[str], page_texts: Sequence[str],
                    cited: list[str]) -> dict[str, str]:
    """Citation labels matched between the paper's .bib entries and the PDF's reference list."""
    titles: dict[str, str] = {}
    for name in bib_files:
        path = flattener.resolve(name if name.endswith(".bib") else name + ".bib")
        if path is not None:
            titles.update(references.bib_titles(read_tex(path)))
    return references.printed_labels(titles, page_texts, dict.fromkeys(cited)) if titles else {}


# --------------------------------------------------------------------------------------
# pandoc
# --------------------------------------------------------------------------------------

# Runs on pandoc's document before the markdown writer (see the module docstring).
LUA_FILTER = r"""
local section = {0, 0, 0, 0, 0, 0}
local counters = {figure = 0, table = 0}

local function caption_inlines(caption)
  local inlines = pandoc.Inlines({})
  for _, block in ipairs(caption.long or {}) do
    if block.content then
      if #inlines > 0 then inlines:insert(pandoc.Space()) end
      inlines:extend(block.content)
    end
  end
  return inlines
end

local function labelled(word, number, inlines)
  local out = pandoc.Inlines({pandoc.Str(word), pandoc.Space(), pandoc.Str(number .. ":")})
  if #inlines > 0 then out:insert(pandoc.Space()); out:extend(inlines) end
  return pandoc.Para(out)
end

function Image(el) return {} end

function Note(el) return {} end

-- A \ref or \url: the text the PDF shows, without the link target.
function Link(el) return el.content end

function Figure(el)
  local inlines = caption_inlines(el.caption)
  if #inlines == 0 then return {} end
  counters.figure = counters.figure + 1
  return labelled("Figure", counters.figure, inlines)
end

function Table(el)
  local inlines = caption_inlines(el.caption)
  if #inlines == 0 then return el end
  counters.table = counters.table + 1
  el.caption = pandoc.Caption()
  return {labelled("Table", counters.table, inlines), el}
end

function Header(el)
  if el.classes:includes("unnumbered") or el.level > 3 then return el end
  section[el.level] = section[el.level] + 1
  for i = el.level + 1, #section do section[i] = 0 end
  local parts = {}
  for i = 1, el.level do table.insert(parts, tostring(section[i])) end
  el.content:insert(1, pandoc.Space())
  el.content:insert(1, pandoc.Str(table.concat(parts, ".")))
  return el
end

local function meta_inlines(value)
  if value == nil then return nil end
  local text = pandoc.utils.stringify(value)
  if text:match("^%s*$") then return nil end
  return pandoc.Inlines(value)
end

local function front_matter(meta)
  local blocks = pandoc.Blocks({})
  local title = meta_inlines(meta.title)
  if title then blocks:insert(pandoc.Header(1, title)) end
  local names = {}
  if meta.author then
    local authors = meta.author
    if pandoc.utils.type(authors) ~= "List" then authors = {authors} end
    for _, a in ipairs(authors) do
      local name = pandoc.utils.stringify(a)
      if not name:match("^%s*$") then table.insert(names, name) end
    end
  end
  if #names > 0 then blocks:insert(pandoc.Para(pandoc.Inlines(table.concat(names, ", ")))) end
  local date = meta_inlines(meta.date)
  if date then blocks:insert(pandoc.Para(date)) end
  if meta.abstract then
    blocks:insert(pandoc.Header(6, "Abstract"))
    blocks:extend(pandoc.Blocks(meta.abstract))
  end
  return blocks, title ~= nil
end

function Pandoc(doc)
  local head, has_title = front_matter(doc.meta)
  if has_title then
    doc.blocks = doc.blocks:walk({Header = function(h) h.level = math.min(h.level + 1, 6); return h end})
  end
  head:extend(doc.blocks)
  return pandoc.Pandoc(head, pandoc.Meta({}))
end
"""


def to_markdown(root: Path, main: Path, *, timeout_s: float = 120.0, max_bytes: int = 16 << 20,
                memory_mb: int = 2048, page_texts: Sequence[str] = ()) -> Conversion:
    """The paper's markdown; Rejected(pandoc_failed / pandoc_timeout / empty_markdown...).
    `page_texts`: the PDF's text layer, where citation labels are read when nothing else
    has them (see flatten)."""
    tex, notes = flatten(root, main, max_bytes, page_texts)
    with tempfile.TemporaryDirectory(prefix="vlforge-pandoc-") as scratch:
        source = Path(scratch) / "flat.tex"
        source.write_text(tex, encoding="utf-8")
        lua = Path(scratch) / "vlforge.lua"
        lua.write_text(LUA_FILTER, encoding="utf-8")
        markdown = _run_pandoc(source, lua, timeout_s, memory_mb)
    markdown = _tidy(markdown)
    if not markdown.strip():
        raise Rejected("empty_markdown", f"pandoc made no text from {main.name}")
    return Conversion(markdown, str(main.relative_to(root)), notes)


def _run_pandoc(source: Path, lua: Path, timeout_s: float, memory_mb: int) -> str:
    # --sandbox: the reader may open no file but `source`, whatever the LaTeX asks for.
    # +RTS -M: a pathological input cannot take the worker's memory with it.
    command = [pypandoc.get_pandoc_path(), "+RTS", f"-M{memory_mb}m", "-RTS", "--sandbox",
               "-f", "latex", "-t", MARKDOWN_FORMAT, "--wrap=none",
               "--lua-filter", str(lua), str(source)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout_s, cwd=source.parent)
    except subprocess.TimeoutExpired:
        raise Rejected("pandoc_timeout", f"pandoc ran longer than {timeout_s:g} s") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Rejected("pandoc_failed", f"exit {done.returncode}: {' | '.join(message[-3:])[:500]}")
    return done.stdout.decode("utf-8", "replace")


def _tidy(markdown: str) -> str:
    """Runs of blank lines (left by dropped images and raw blocks) squeezed to one."""
    return re.sub(r"\n{3,}", "\n\n", markdown).strip() + "\n"
