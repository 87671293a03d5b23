"""Split a paper's markdown into its PDF pages, Nougat style, with a score per page.

    align_pages(markdown, page_texts, window=22) -> [PageAlignment(page, markdown, score, ...)]

The stream, step by step (deterministic: numpy arithmetic and first-index tie breaks only):

1. Page texts (the PDF's text layer) are cleaned: hyphenated line breaks joined, and running
   headers/footers dropped (a line near the top or bottom of a page that recurs, digits
   aside, on at least half of the pages: "Page 2 of 7", the journal name). They are not in
   the markdown, and they sit exactly where the boundary words are read.
2. Both sides become word tokens: NFKC, lower case, runs of letters and digits. In the
   markdown, LaTeX control words (`\\alpha`, `\\mathcal`) and markdown escapes are masked
   first (and `\\begin{align}`), so `$\\mathcal{O}(n)$` gives `o n` as the PDF's "O(n)" does.
3. Coarse assignment: markdown paragraphs (blank-line separated blocks) against pages by
   TF-IDF cosine similarity (sublinear tf, smoothed idf fitted on the pages: the
   nearest-centroid form of Nougat's bag-of-words page classifier), then the monotone
   "staircase": paragraph i goes to page a_i with a_0 <= a_1 <= ..., maximising the summed
   similarity weighted by paragraph length (dynamic programming, O(paragraphs x pages)).
4. Refinement: around each staircase boundary (two paragraphs either side) every token
   position j is a candidate split. Its end score is the Levenshtein ratio of the `window`
   words before j against the last `window` words of the earlier page; its start score,
   the `window` words from j against the first words of the later page. The splits of all
   boundaries are chosen together, non-decreasing, maximising the sum of end^4 + start^4
   (a second dynamic programme; the 4th power lets one exact edge outvote the noise of a
   float on the other side), so a page break inside a paragraph is found to the word. The
   split is moved out of inline/display math, code and table blocks, to the start of a
   line when it falls on the line's first word (a heading's `##` goes with its words), and
   past punctuation that closes the previous line.
5. A page's score is min(start score, end score) in [0, 1], each taken where the page's
   markdown actually starts and ends: the first page at the top of the markdown, the last
   at its bottom. A page with no text layer scores 0. (A split moved out of math or a table
   in step 4 moves the page edge by a few words after it was scored.)
6. Each page also gets a word coverage: min(recall, precision) of its words (3+ letters)
   between its text layer and its markdown, for callers that also want the middle checked.

What lowers a score: floats and footnotes that LaTeX placed on another page than their
source position, text the PDF has and the markdown lacks (bibliographies built by BibTeX
without a .bbl, class-made front matter), and text extraction noise.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import Levenshtein
import numpy as np

DEFAULT_WINDOW = 22  # words compared at each page edge (Nougat's figure)
_REGION_PARAGRAPHS = 2  # paragraphs either side of a staircase boundary searched
_MAX_REGION_TOKENS = 4000


@dataclass(frozen=True)
class PageAlignment:
    page: int  # 0-based page index
    markdown: str
    score: float  # min(start_score, end_score)
    start_score: float
    end_score: float
    words: int  # tokens in the page's text layer (after header/footer removal)
    coverage: float = 0.0  # min(recall, precision) of the page's words in its markdown


# --------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")
# LaTeX environment names and control words, and markdown escapes: never printed as words.
_MASK = re.compile(r"\\(?:begin|end)\s*\{[^}]*\}|\\[A-Za-z@]+\*?|\\[^A-Za-z\s]")


def tokens(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def markdown_tokens(markdown: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Tokens of the markdown with their (start, end) character offsets in it."""
    masked = _MASK.sub(lambda m: " " * len(m.group()), markdown)
    words, starts, ends = [], [], []
    for match in _WORD.finditer(masked):
        for word in tokens(match.group()):  # NFKC may split one match (e.g. "½")
            words.append(word)
            starts.append(match.start())
            ends.append(match.end())
    return words, np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


# --------------------------------------------------------------------------------------
# Page texts: soft hyphens, running headers and footers
# --------------------------------------------------------------------------------------

# A word broken at a line end: PDFium marks TeX's discretionary hyphen as U+FFFE or U+0002;
# a plain "-" before a newline and a lower-case letter is the same thing, more often than a
# compound broken at its own hyphen.
_SOFT_BREAK = re.compile(r"[\u00ad\u0002\ufffe]\s*\n\s*|(?<=[^\W\d_])-[ \t]*\n\s*(?=[a-z])")
_EDGE_LINES = 3  # lines at the top and bottom of a page where running heads live


def _line_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(tokens(line)))


def clean_page_texts(page_texts: Sequence[str]) -> list[str]:
    """Soft-hyphen breaks joined; running headers/footers and bare page numbers dropped."""
    pages = [[line for line in _SOFT_BREAK.sub("", text).split("\n") if line.strip()] for text in page_texts]
    counts = Counter(key for lines in pages for key in {_line_key(line) for line in _edges(lines)})
    minimum = max(2, (len(pages) + 1) // 2)
    running = {key for key, n in counts.items() if n >= minimum or key in ("#", "")}
    cleaned = []
    for lines in pages:
        edge = set(range(min(_EDGE_LINES, len(lines)))) | set(range(max(0, len(lines) - _EDGE_LINES), len(lines)))
        cleaned.append("\n".join(line for i, line in enumerate(lines)
                                 if not (i in edge and _line_key(line) in running)))
    return cleaned


def _edges(lines: list[str]) -> list[str]:
    return lines[:_EDGE_LINES] + lines[max(_EDGE_LINES, len(lines) - _EDGE_LINES):]


# --------------------------------------------------------------------------------------
# Coarse: TF-IDF similarity and the monotone staircase
# --------------------------------------------------------------------------------------


def _paragraph_spans(markdown: str, starts: np.ndarray) -> list[tuple[int, int]]:
    """(first token, end token) of each blank-line separated block that has tokens."""
    spans = []
    for block in re.finditer(r"(?:[^\n]|\n(?![ \t]*\n))+", markdown):
        first, end = np.searchsorted(starts, [block.start(), block.end()])
        if end > first:
            spans.append((int(first), int(end)))
    return spans


def _tfidf(docs: list[list[str]], vocab: dict[str, int], idf: np.ndarray) -> np.ndarray:
    matrix = np.zeros((len(docs), len(vocab)))
    for row, doc in enumerate(docs):
        for word, count in Counter(w for w in doc if w in vocab).items():
            matrix[row, vocab[word]] = 1.0 + np.log(count)
    matrix *= idf
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def similarity(paragraphs: list[list[str]], pages: list[list[str]]) -> np.ndarray:
    """Cosine similarity (paragraphs x pages) of TF-IDF vectors with the pages' vocabulary."""
    vocab = {w: i for i, w in enumerate(sorted({w for page in pages for w in page}))}
    if not vocab:
        return np.zeros((len(paragraphs), len(pages)))
    df = np.zeros(len(vocab))
    for page in pages:
        df[[vocab[w] for w in set(page)]] += 1
    idf = np.log((1 + len(pages)) / (1 + df)) + 1.0
    return _tfidf(paragraphs, vocab, idf) @ _tfidf(pages, vocab, idf).T


def staircase(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The non-decreasing page per paragraph maximising sum(weights[i] * scores[i, page_i])."""
    n_par, n_pages = scores.shape
    gain = scores * weights[:, None]
    best = np.empty((n_par, n_pages))
    came = np.zeros((n_par, n_pages), dtype=np.int64)  # best previous page (<= this one)
    best[0] = gain[0]
    for i in range(1, n_par):
        running = np.maximum.accumulate(best[i - 1])
        # First index reaching each running max: ties keep a paragraph on the earlier page.
        arg = np.zeros(n_pages, dtype=np.int64)
        for k in range(1, n_pages):
            arg[k] = k if best[i - 1, k] > running[k - 1] else arg[k - 1]
        best[i] = gain[i] + running
        came[i] = arg
    pages = np.empty(n_par, dtype=np.int64)
    pages[-1] = int(np.argmax(best[-1]))
    for i in range(n_par - 1, 0, -1):
        pages[i - 1] = came[i, pages[i]]
    return pages


# --------------------------------------------------------------------------------------
# Refinement: fuzzy matching of the words at each page edge
# --------------------------------------------------------------------------------------


def _ratio(words: list[str], target: str) -> float:
    if not target:
        return 0.0
    return Levenshtein.ratio(" ".join(words), target)


@dataclass(frozen=True)
class _Edges:
    starts: list[str]  # first `window` words of each page, joined
    ends: list[str]  # last `window` words


def _edge_scores(md: list[str], lo: int, hi: int, end_text: str, start_text: str,
                 window: int) -> tuple[np.ndarray, np.ndarray]:
    """For every split j in [lo, hi]: (end score of the earlier page, start score of the later)."""
    ends = np.array([_ratio(md[max(0, j - window): j], end_text) for j in range(lo, hi + 1)])
    starts = np.array([_ratio(md[j: j + window], start_text) for j in range(lo, hi + 1)])
    return ends, starts


def _regions(pages_of: np.ndarray, spans: list[tuple[int, int]], n_pages: int, n_tokens: int,
             window: int) -> list[tuple[int, int]]:
    """Token range [lo, hi] searched for the boundary before page k (k = 1 .. n_pages - 1),
    both ends non-decreasing in k so that a monotone choice of splits always exists."""
    regions: list[tuple[int, int]] = []
    for k in range(1, n_pages):
        later = np.nonzero(pages_of >= k)[0]
        p = int(later[0]) if len(later) else len(spans)
        lo = spans[max(0, p - _REGION_PARAGRAPHS)][0] if spans else 0
        hi = spans[min(len(spans) - 1, p + _REGION_PARAGRAPHS - 1)][1] if spans else 0
        lo, hi = max(0, lo - 2 * window), min(n_tokens, hi + 2 * window)
        if hi - lo > _MAX_REGION_TOKENS:
            centre = spans[p][0] if p < len(spans) else n_tokens
            lo, hi = max(0, centre - _MAX_REGION_TOKENS // 2), min(n_tokens, centre + _MAX_REGION_TOKENS // 2)
        if regions:
            lo, hi = max(lo, regions[-1][0]), max(hi, regions[-1][1])
        regions.append((lo, max(lo, hi)))
    return regions


def _monotone_splits(regions: list[tuple[int, int]], gains: list[np.ndarray]) -> list[int]:
    """Splits j_1 <= j_2 <= ... (j_k in region k) maximising the summed gains: a dynamic
    programme over boundaries, so one float that fooled a boundary cannot push every later
    page off its text (a greedy left-to-right choice would). Ties: the earliest split."""
    totals: list[np.ndarray] = []
    links: list[np.ndarray] = []
    for k, ((lo, _hi), gain) in enumerate(zip(regions, gains, strict=True)):
        if k == 0:
            totals.append(gain.copy())
            links.append(np.zeros(len(gain), dtype=np.int64))
            continue
        prev_lo = regions[k - 1][0]
        prev = totals[-1]
        best_prev = np.maximum.accumulate(prev)
        first_best = _first_argmax_prefix(prev)
        # The previous split may be any j' <= j: index (j - prev_lo) into prev, capped at its end.
        index = np.minimum(np.arange(lo, lo + len(gain)) - prev_lo, len(prev) - 1)
        totals.append(gain + best_prev[index])
        links.append(first_best[index])
    splits = [int(np.argmax(totals[-1]))] if totals else []
    for k in range(len(totals) - 1, 0, -1):
        splits.append(int(links[k][splits[-1]]))
    splits.reverse()
    return [regions[k][0] + j for k, j in enumerate(splits)]


def _first_argmax_prefix(values: np.ndarray) -> np.ndarray:
    """For each i, the first index of the maximum of values[:i + 1]."""
    out = np.zeros(len(values), dtype=np.int64)
    for i in range(1, len(values)):
        out[i] = i if values[i] > values[out[i - 1]] else out[i - 1]
    return out


def _split_tokens(md: list[str], regions: list[tuple[int, int]], edges: _Edges,
                  window: int) -> tuple[list[int], list[float], list[float]]:
    """Token split per boundary and each page's start and end score."""
    n_pages = len(edges.starts)
    scored = [_edge_scores(md, lo, hi, edges.ends[k], edges.starts[k + 1], window)
              for k, (lo, hi) in enumerate(regions)]
    # Sharpened (4th power): when one edge is a float or footnote its ratio is noise around
    # 0.4, whose wiggles must not outvote the other edge's exact match.
    inner = _monotone_splits(regions, [e ** 4 + s ** 4 for e, s in scored])
    starts, ends = [0.0] * n_pages, [0.0] * n_pages
    for k, (j, (lo, _hi), (end, start)) in enumerate(zip(inner, regions, scored, strict=True)):
        ends[k], starts[k + 1] = float(end[j - lo]), float(start[j - lo])
    # The document's own edges are fixed (the first page starts at the top of the markdown,
    # the last ends at its bottom), so they are scored where they are: text before the
    # first words or after the last words of the PDF counts against those pages.
    starts[0] = _ratio(md[:window], edges.starts[0])
    ends[-1] = _ratio(md[max(0, len(md) - window):], edges.ends[-1])
    return [0, *inner, len(md)], starts, ends


# --------------------------------------------------------------------------------------
# Token splits -> character offsets that do not cut math, code or tables
# --------------------------------------------------------------------------------------

_PROTECTED = re.compile(
    r"\$\$.*?\$\$"  # display math
    r"|(?<![\\$])\$(?!\s)(?:[^$\\]|\\.)+?(?<!\s)\$"  # inline math
    r"|^```.*?^```[ \t]*$"  # fenced code
    r"|(?:^\|[^\n]*\n?)+",  # pipe table rows
    re.S | re.M)


def _char_split(markdown: str, starts: np.ndarray, ends: np.ndarray, j: int,
                protected: list[tuple[int, int]]) -> int:
    if j >= len(starts):
        return len(markdown)
    if j == 0:
        return 0
    gap_start, position = int(ends[j - 1]), int(starts[j])
    gap = markdown[gap_start:position]
    if "\n" in gap:  # first word of its line: the line's markup goes with it
        position = gap_start + gap.rindex("\n") + 1
    elif (space := re.search(r"\s(?=\S*$)", gap)) is not None:
        # What touches the previous word ("data*, then": emphasis closed, a comma) ends the
        # earlier page; only what touches the next word ("(see") opens the later one.
        position = gap_start + space.end()
    for lo, hi in protected:
        if lo < position < hi:
            position = lo if position - lo <= hi - position else hi
            break
    # Punctuation closing the previous line (the "." after math) stays with the earlier page.
    tail = _LINE_END.match(markdown, position)
    return tail.end() if tail else position


_LINE_END = re.compile(r"[^\w\s]*[ \t]*\n(?:[ \t]*\n)*")


def _protected_spans(markdown: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _PROTECTED.finditer(markdown)]


# --------------------------------------------------------------------------------------
# The whole alignment
# --------------------------------------------------------------------------------------


def align_pages(markdown: str, page_texts: Sequence[str], *, window: int = DEFAULT_WINDOW) -> list[PageAlignment]:
    """One PageAlignment per page, in page order; their markdown put together is `markdown`
    (whitespace at the cuts aside)."""
    if not page_texts:
        return []
    pages = [tokens(text) for text in clean_page_texts(page_texts)]
    md, starts, ends = markdown_tokens(markdown)
    spans = _paragraph_spans(markdown, starts)
    if spans:
        scores = similarity([md[a:b] for a, b in spans], pages)
        pages_of = staircase(scores, np.array([b - a for a, b in spans], dtype=float))
    else:
        pages_of = np.zeros(0, dtype=np.int64)
    edges = _Edges([" ".join(p[:window]) for p in pages], [" ".join(p[-window:]) for p in pages])
    regions = _regions(pages_of, spans, len(pages), len(md), window)
    token_splits, start_scores, end_scores = _split_tokens(md, regions, edges, window)
    protected = _protected_spans(markdown)
    cuts = [_char_split(markdown, starts, ends, j, protected) for j in token_splits]
    cuts = list(np.maximum.accumulate(cuts))  # moving out of a span never goes backwards
    return [_page(k, markdown[cuts[k]:cuts[k + 1]], start_scores[k], end_scores[k], pages[k])
            for k in range(len(pages))]


def _page(index: int, markdown: str, start: float, end: float, page: list[str]) -> PageAlignment:
    if not page:  # nothing to compare with: no evidence the markdown belongs here
        start = end = 0.0
    start, end = round(float(start), 4), round(float(end), 4)
    markdown = markdown.strip()
    return PageAlignment(index, markdown, min(start, end), start, end, len(page),
                         word_coverage(page, markdown_tokens(markdown)[0]))


def _words(tokens_: list[str]) -> Counter:
    """Words of three letters or more: math leaves short tokens that differ between the
    LaTeX (`h_0`: h, 0) and the PDF (h0), and would blur the comparison."""
    return Counter(t for t in tokens_ if len(t) > 2 and t.isalpha())


def word_coverage(page: list[str], markdown: list[str]) -> float:
    """min(share of the page's words found in the markdown, share of the markdown's words
    found on the page), as multisets. The edge scores only see the page's first and last
    words; this sees the middle: a float or footnote that pulled a boundary to the wrong
    place leaves edges that match around a page whose body is half missing."""
    page_words, md_words = _words(page), _words(markdown)
    if not page_words or not md_words:
        return 0.0
    common = sum((page_words & md_words).values())
    return round(min(common / sum(page_words.values()), common / sum(md_words.values())), 4)
