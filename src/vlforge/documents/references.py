r"""Cross-references and citation labels as the PDF prints them, for documents.latex.

pandoc computes \ref only for the sections and figures it recognises (not a \label inside a
heading's text, an equation, a theorem), prints \eqref and unknown labels as the raw
"[label]", drops \pageref and loses \autoref's "Section". So documents.latex resolves every
reference command in the flattened LaTeX before pandoc sees it, from the best source there is:

    read_aux(text)             the paper's .aux, when the sources carry one: what LaTeX
                               itself wrote (\newlabel numbers and pages, \bibcite labels)
    number_labels(tex)         otherwise LaTeX's counters replayed in source order: sections
                               (letters after \appendix), figure and table captions, numbered
                               equations (line by line in align and the like), \newtheorem
                               environments, \numberwithin. A \label whose number depends on
                               something not modelled (an enumerate item, a subfigure, a
                               counter set by hand) gets no number.
    resolve_references(tex, targets)
                               \ref \eqref \autoref \cref \Cref \pageref \nameref replaced by
                               their text; one that cannot be resolved becomes "??", as
                               LaTeX prints it, and is counted.
    printed_labels(titles, page_texts)
                               citation labels read off the PDF's own reference list, for a
                               paper built with BibTeX whose sources lack the .bbl: each .bib
                               entry (bib_titles) is matched by its title to one list entry.

A page whose markdown still shows "??", "[?]" or a raw \ref is rejected by the arxiv corpus
(`UNRESOLVED` finds them): it is not what the page shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from vlforge.documents.align import tokens


@dataclass(frozen=True)
class Target:
    number: str  # as printed: "2.1", "A", "(3)" is eqref's business
    kind: str  # section, subsection, figure, table, equation, theorem, appendix, ...
    page: str = ""  # from an .aux only
    title: str = ""  # from an .aux only (\nameref)


def balanced(text: str, start: int) -> tuple[str, int]:
    """The content of the {group} opening at text[start] and the index after it."""
    depth = 0
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0) if text[index - 1: index] != "\\" else 0
        if depth == 0:
            return text[start + 1: index], index + 1
    return text[start + 1:], len(text)


def _groups(text: str, start: int, count: int) -> list[str]:
    """`count` consecutive {groups} from `start` (whitespace between them skipped)."""
    found = []
    while len(found) < count:
        while start < len(text) and text[start].isspace():
            start += 1
        if start >= len(text) or text[start] != "{":
            break
        content, start = balanced(text, start)
        found.append(content)
    return found


# --------------------------------------------------------------------------------------
# .aux: what LaTeX wrote
# --------------------------------------------------------------------------------------

_NEWLABEL = re.compile(r"\\newlabel\s*\{([^{}]*)\}\s*(?=\{)")
_BIBCITE = re.compile(r"\\bibcite\s*\{([^{}]*)\}\s*\{((?:[^{}]|\{[^{}]*\})*)\}")


def read_aux(text: str) -> tuple[dict[str, Target], dict[str, str]]:
    """(label -> Target, citation key -> label) from an .aux file's text."""
    targets = {}
    for match in _NEWLABEL.finditer(text):
        outer = _groups(text, match.end(), 1)
        fields = _groups(outer[0], 0, 4) if outer else []
        if not fields:
            continue
        anchor = fields[3] if len(fields) > 3 else ""  # hyperref's "section.2"
        targets[match.group(1).strip()] = Target(
            number=_plain(fields[0]), kind=anchor.split(".", 1)[0].split("*")[0],
            page=_plain(fields[1]) if len(fields) > 1 else "", title=_plain(fields[2]) if len(fields) > 2 else "")
    cites = {m.group(1).strip(): _plain(m.group(2)) for m in _BIBCITE.finditer(text)}
    return targets, cites


def _plain(value: str) -> str:
    r"""A number as the .aux spells it, without the braces and \relax around it."""
    return re.sub(r"\\(?:relax|protect)\b\s*", "", value).replace("{", "").replace("}", "").strip()


# --------------------------------------------------------------------------------------
# Replaying LaTeX's counters
# --------------------------------------------------------------------------------------

# Environments that step no counter: a \label inside one takes the number of what came before.
_NEUTRAL = {"document", "center", "flushleft", "flushright", "itemize", "description", "quote",
            "quotation", "verse", "minipage", "abstract", "proof", "tabular", "tabular*", "tabularx",
            "small", "footnotesize", "scriptsize", "large", "Large", "appendices", "comment",
            "lstlisting", "verbatim", "algorithmic", "multicols", "multicols*"}
_FLOATS = {"figure": "figure", "figure*": "figure", "table": "table", "table*": "table"}
_ONE_NUMBER = {"equation", "multline"}
_PER_LINE = {"align", "gather", "flalign", "alignat", "eqnarray"}
_SECTIONS = ("chapter", "section", "subsection", "subsubsection")

_EVENT = re.compile(
    r"\\(?P<cmd>chapter|section|subsection|subsubsection|appendix|caption|label|numberwithin)"
    r"(?![A-Za-z@])(?P<star>\*)?"
    r"|\\captionof\s*\{(?P<captionof>[^{}]*)\}"
    r"|\\(?P<env>begin|end)\s*\{(?P<name>[^{}]*)\}")
_NEWTHEOREM = re.compile(r"\\newtheorem(\*)?\s*\{([^{}]+)\}\s*(?:\[([^\]]*)\])?\s*\{[^{}]*\}\s*(?:\[([^\]]+)\])?")
# Counters the document sets or prints its own way: their numbers cannot be replayed.
_TAINT = re.compile(r"\\(?:setcounter|addtocounter|stepcounter|refstepcounter)\s*\{\s*([A-Za-z]+)\s*\}"
                    r"|\\renewcommand\s*\{?\s*\\the([A-Za-z]+)")


@dataclass
class _Counters:
    values: dict[str, int] = field(default_factory=dict)
    within: dict[str, str] = field(default_factory=dict)  # counter -> the counter it resets with
    letters: set[str] = field(default_factory=set)  # printed \Alph (sections after \appendix)
    tainted: set[str] = field(default_factory=set)

    def step(self, name: str) -> None:
        self.values[name] = self.values.get(name, 0) + 1
        for child, parent in self.within.items():
            if parent == name:
                self._reset(child)

    def _reset(self, name: str) -> None:
        self.values[name] = 0
        for child, parent in self.within.items():
            if parent == name:
                self._reset(child)

    def show(self, name: str) -> str | None:
        """The counter as \\the<name> prints it; None when it cannot be trusted."""
        if name in self.tainted:
            return None
        value = self.values.get(name, 0)
        own = chr(ord("A") + value - 1) if name in self.letters and 0 < value <= 26 else str(value)
        parent = self.within.get(name)
        if parent is None:
            return own
        prefix = self.show(parent)
        return None if prefix is None else f"{prefix}.{own}"


@dataclass
class _Frame:
    name: str
    current: Target | None  # what a \label here refers to; None: not known


def number_labels(tex: str) -> dict[str, Target]:
    """label -> Target for every \\label whose number the replayed counters know."""
    body = tex[m.end():] if (m := re.search(r"\\begin\s*\{document\}", tex)) else tex
    counters, theorems = _setup(tex, has_chapters=bool(re.search(r"\\chapter\*?\s*[{\[]", body)))
    stack, targets, position = [_Frame("document", None)], {}, 0
    while (event := _EVENT.search(body, position)) is not None:
        position = event.end()
        if event.group("env") == "begin" and event.group("name").strip() in _ONE_NUMBER | _PER_LINE:
            position = _equations(body, event, counters, targets)
        elif event.group("env"):
            _environment(event.group("env"), event.group("name").strip(), stack, counters, theorems)
        else:
            _command(event, body, stack, counters, targets)
    return targets


def _setup(tex: str, has_chapters: bool) -> tuple[_Counters, dict[str, str | None]]:
    """The counters' nesting (article or book style) and the theorem environments
    (name -> its counter; None for \\newtheorem*)."""
    counters = _Counters(within={"subsection": "section", "subsubsection": "subsection"})
    if has_chapters:
        counters.within.update(section="chapter", figure="chapter", table="chapter", equation="chapter")
    theorems: dict[str, str | None] = {}
    for star, name, shared, within in _NEWTHEOREM.findall(tex):
        if star:
            theorems[name] = None
        elif shared:
            theorems[name] = shared.strip()
        else:
            theorems[name] = name
            if within:
                counters.within[name] = within.strip()
    for match in _TAINT.finditer(tex):
        counters.tainted.add(match.group(1) or match.group(2))
    if re.search(r"\\begin\s*\{subequations\}", tex):
        counters.tainted.add("equation")  # numbered 1a, 1b: not replayed
    return counters, theorems


def _environment(kind: str, name: str, stack: list[_Frame], counters: _Counters,
                 theorems: dict[str, str | None]) -> None:
    if kind == "end":
        while len(stack) > 1:
            if stack.pop().name == name:
                break
        return
    if name == "appendices":
        _appendix(counters, stack)
    if name in _NEUTRAL or (name in theorems and theorems[name] is None):
        stack.append(_Frame(name, stack[-1].current))
    elif name in theorems and theorems[name] not in (None, ""):
        counter = theorems[name]
        counters.step(counter)
        number = counters.show(counter)
        stack.append(_Frame(name, Target(number, "theorem") if number else None))
    else:  # a float waits for its \caption; anything else may number what is inside it
        stack.append(_Frame(name, None))


def _command(event: re.Match, body: str, stack: list[_Frame], counters: _Counters,
             targets: dict[str, Target]) -> None:
    command, frame = event.group("cmd"), stack[-1]
    if command == "label":
        label = _groups(body, event.end(), 1)
        if label and frame.current is not None:
            targets.setdefault(label[0].strip(), frame.current)
    elif command in _SECTIONS and not event.group("star"):
        counters.step(command)
        number = counters.show(command)
        kind = "appendix" if command in counters.letters else command
        frame.current = Target(number, kind) if number else None
    elif command == "appendix":
        _appendix(counters, stack)
    elif command == "numberwithin":
        names = _groups(body, event.end(), 2)
        if len(names) == 2:
            counters.within[names[0].strip()] = names[1].strip()
    elif command == "caption" or event.group("captionof"):
        _caption(event.group("captionof") or _float_of(stack), frame, counters)


def _float_of(stack: list[_Frame]) -> str | None:
    """The float a \\caption belongs to, through neutral environments (a center inside a table)."""
    for frame in reversed(stack):
        if frame.name in _FLOATS:
            return _FLOATS[frame.name]
        if frame.name not in _NEUTRAL:
            return None
    return None


def _caption(float_type: str | None, frame: _Frame, counters: _Counters) -> None:
    """A caption steps its float's counter; one inside anything else (a subfigure) steps a
    counter not replayed here."""
    if float_type not in ("figure", "table"):
        frame.current = None
        return
    counters.step(float_type)
    number = counters.show(float_type)
    frame.current = Target(number, float_type) if number else None


def _appendix(counters: _Counters, stack: list[_Frame]) -> None:
    top = "chapter" if "section" in counters.within and counters.within["section"] == "chapter" else "section"
    counters.values[top] = 0
    counters.letters.add(top)
    stack[-1].current = None


_INNER_ENV = re.compile(r"\\begin\s*\{([^{}]+)\}(.*?)\\end\s*\{\1\}", re.S)
_NO_NUMBER = re.compile(r"\\(?:nonumber|notag)(?![A-Za-z@])")
_TAG = re.compile(r"\\tag\*?\s*\{([^{}]*)\}")
_LABEL = re.compile(r"\\label\s*\{([^{}]*)\}")


def _top_level_lines(content: str) -> list[str]:
    """The lines of an align-like body: split at \\\\ outside braces (an \\xymatrix{...}
    breaks lines of its own)."""
    lines, depth, start = [], 0, 0
    for match in re.finditer(r"\\\\|\\[{}]|[{}]", content):
        token = match.group()
        if token in "{}":
            depth += 1 if token == "{" else -1
        elif token == "\\\\" and depth == 0:
            lines.append(content[start: match.start()])
            start = match.end()
    return [*lines, content[start:]]


def _equations(body: str, event: re.Match, counters: _Counters, targets: dict[str, Target]) -> int:
    """Numbers the labels of one equation environment; returns where it ends."""
    name = event.group("name").strip()
    end = re.compile(r"\\end\s*\{" + re.escape(name) + r"\}").search(body, event.end())
    stop = end.start() if end else len(body)
    content = body[event.end(): stop]
    if name in _PER_LINE:
        # Nested environments (cases, aligned) break lines of their own: only their labels count.
        flat = _INNER_ENV.sub(lambda m: " ".join("\\label{" + x + "}" for x in _LABEL.findall(m.group(2))), content)
        lines = _top_level_lines(flat)
    else:
        lines = [content]
    for line in lines:
        tag = _TAG.search(line)
        if tag:
            number = tag.group(1).strip()
        elif _NO_NUMBER.search(line):
            number = None
        else:
            counters.step("equation")
            number = counters.show("equation")
        for label in _LABEL.findall(line):
            if number is not None:
                targets.setdefault(label.strip(), Target(number, "equation"))
    return end.end() if end else len(body)


# --------------------------------------------------------------------------------------
# Reference commands -> text
# --------------------------------------------------------------------------------------

UNRESOLVED_REF = "??"  # what LaTeX prints for a label it does not know
# In pandoc's markdown: "??" (a reference), "[?]" / "[1, ?]" (a citation key with no
# label; pandoc escapes the brackets) and any reference command left raw.
UNRESOLVED = re.compile(r"(?<![?\w])\?\?(?![?\w])|(?:\\\[|,\s)\?(?=,|\\\])"
                        r"|\\(?:[Cc]ite[a-z]*|[a-z]*cite|ref|eqref|autoref|[cC]ref|pageref|nameref)\*?\s*[\[{]")
_REF = re.compile(r"\\(?P<cmd>ref|eqref|pageref|autoref|nameref|cref|Cref|vref)(?P<star>\*)?\s*\{(?P<labels>[^{}]*)\}")
# hyperref's \autoref names (English), by the kind of what is referred to.
_AUTOREF = {"section": "section", "subsection": "subsection", "subsubsection": "subsubsection",
            "chapter": "chapter", "appendix": "Appendix", "figure": "Figure", "table": "Table",
            "equation": "Equation"}
# cleveref's defaults: \cref abbreviates, \Cref capitalises.
_CREF = {"section": ("section", "Section"), "subsection": ("section", "Section"),
         "subsubsection": ("section", "Section"), "chapter": ("chapter", "Chapter"),
         "appendix": ("appendix", "Appendix"), "figure": ("fig.", "Figure"),
         "table": ("table", "Table"), "equation": ("eq.", "Equation")}


def resolve_references(tex: str, targets: dict[str, Target], printed: str = "") -> tuple[str, int, int]:
    """(tex with every reference command replaced by its text, resolved, unresolved).

    With `printed`, the PDF's text, a replayed number is used only where the PDF confirms
    it: at one of the label's references at least, the word before the command in the
    source is followed in the PDF by the text we would write ("Section 3.1"). A class that
    numbers its own way (equations within sections) then leaves "??" instead of a wrong number."""
    matches = list(_REF.finditer(tex))
    texts = [_reference_text(m.group("cmd"), m.group("labels"), targets) for m in matches]
    if printed:
        confirmed = {m.group("labels") for m, text in zip(matches, texts, strict=True)
                     if text is not None and _printed_after(tex, m.start(), text, printed)}
        texts = [text if m.group("labels") in confirmed else None for m, text in zip(matches, texts, strict=True)]
    pieces, last = [], 0
    for match, text in zip(matches, texts, strict=True):
        pieces += [tex[last: match.start()], UNRESOLVED_REF if text is None else text]
        last = match.end()
    unresolved = texts.count(None)
    return "".join(pieces) + tex[last:], len(texts) - unresolved, unresolved


_WORD_BEFORE = re.compile(r"([^\W\d_]+)[^\w\\]{0,3}$")


def _printed_after(tex: str, position: int, text: str, printed: str) -> bool:
    """Whether the PDF shows `text` right after the word that precedes the reference."""
    before = _WORD_BEFORE.search(tex[max(0, position - 40): position].replace("~", " "))
    if before is None:
        return False
    number = r"\s+".join(re.escape(part) for part in text.split())
    pattern = rf"\b{re.escape(before.group(1))}\W{{0,3}}\s*{number}(?![\w.]*\d)"
    return re.search(pattern, printed) is not None


def _reference_text(command: str, labels: str, targets: dict[str, Target]) -> str | None:
    keys = [k.strip() for k in labels.split(",") if k.strip()]
    if len(keys) != 1 or keys[0] not in targets:
        return None  # several labels: cleveref's "sections 1 and 2" forms are not replayed
    target = targets[keys[0]]
    if command in ("ref", "vref"):
        return target.number or None
    if command == "eqref":
        return f"({target.number})" if target.number else None
    if command == "pageref":
        return target.page or None
    if command == "nameref":
        return target.title or None
    if command == "autoref":
        name = _AUTOREF.get(target.kind)
        return f"{name}\u00a0{target.number}" if name and target.number else None
    names = _CREF.get(target.kind)
    if not names or not target.number:
        return None
    number = f"({target.number})" if target.kind == "equation" else target.number
    return f"{names[command == 'Cref']}\u00a0{number}"


# --------------------------------------------------------------------------------------
# Citation labels from the PDF's reference list
# --------------------------------------------------------------------------------------

_BIB_ENTRY = re.compile(r"@\s*([A-Za-z]+)\s*[{(]\s*([^,\s{}()]+)\s*,")


def bib_titles(text: str) -> dict[str, str]:
    """citation key -> its title and authors, from a .bib file's text (@string, @comment,
    @preamble skipped): the words that identify the entry in a printed reference list."""
    titles = {}
    entries = list(_BIB_ENTRY.finditer(text))
    for entry, following in zip(entries, [*entries[1:], None], strict=True):
        if entry.group(1).lower() in ("string", "comment", "preamble"):
            continue
        chunk = text[entry.end(): following.start() if following else len(text)]
        title = _bib_field(chunk, "title")
        if title:
            authors = re.sub(r"\b(?:and|others)\b", " ", _bib_field(chunk, "author"))
            titles.setdefault(entry.group(2), f"{title} {authors}".strip())
    return titles


def _bib_field(chunk: str, name: str) -> str:
    field_ = re.search(rf"(?<![A-Za-z]){name}\s*=\s*", chunk, re.I)
    if field_ is None:
        return ""
    start = field_.end()
    if chunk[start:start + 1] == "{":
        return balanced(chunk, start)[0]
    quoted = re.match(r'"((?:[^"\\]|\\.)*)"', chunk[start:])
    return quoted.group(1) if quoted else ""


def _words(text: str) -> list[str]:
    """Tokens with letters and digits apart ("v2.0" and the PDF's "v 2. 0" agree)."""
    return tokens(re.sub(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])", " ", text))


_LIST_HEADING = re.compile(r"^\s*(?:\d+\.?\s+)?(?:References|Bibliography)\s*$", re.I | re.M)
_NUMBERED = re.compile(r"^\s*(?:\[(\d{1,3})\]|(\d{1,3})\.)\s+(?=\S)")
_ENTRY_WORDS = 60  # words of an entry compared: enough for any title, little of what follows the list
_MIN_MATCH = 0.8  # share of a title's words an entry must hold
_MARGIN = 0.2  # ... ahead of the next best entry


def printed_bibliography(page_texts: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(label, words) of each entry of the PDF's numbered reference list ("[1] ..." or "1. ..."
    at a line start, counting up from 1 after the last "References" heading)."""
    text = "\n".join(page_texts)
    headings = list(_LIST_HEADING.finditer(text))
    if not headings:
        return []
    entries: list[tuple[str, list[str]]] = []
    for line in text[headings[-1].end():].split("\n"):
        number = _NUMBERED.match(line)
        if number and int(number.group(1) or number.group(2)) == len(entries) + 1:
            entries.append((str(len(entries) + 1), _words(line[number.end():])))
        elif entries:
            entries[-1][1].extend(_words(line))
    return [(label, words[:_ENTRY_WORDS]) for label, words in entries]


def printed_labels(titles: dict[str, str], page_texts: Sequence[str], keys: Iterable[str]) -> dict[str, str]:
    """citation key -> the label its entry has in the PDF's reference list, for the `keys`
    whose .bib title and authors match exactly one entry clearly (the rest stay unknown:
    "[?]")."""
    entries = printed_bibliography(page_texts)
    labels = {}
    for key in keys:
        words = set(_words(_plain(re.sub(r"\\[A-Za-z]+", " ", titles.get(key, "")))))
        if not words or not entries:
            continue
        shares = sorted(((len(words & set(entry)) / len(words), label) for label, entry in entries), reverse=True)
        best, runner_up = shares[0], shares[1][0] if len(shares) > 1 else 0.0
        if best[0] >= _MIN_MATCH and best[0] - runner_up >= _MARGIN:
            labels[key] = best[1]
    return labels
