"""documents.align: markdown split to PDF pages where the right split is known."""

from __future__ import annotations

import random

import numpy as np

from vlforge.documents.align import (
    align_pages,
    clean_page_texts,
    markdown_tokens,
    staircase,
    tokens,
)

WORDS = ("tide harbour gauge level moon sun phase amplitude record hour wave basin river flood "
         "storm surge wind chart datum mean model error forecast table constituent period speed "
         "solar lunar diurnal semidiurnal spring neap bar boat draught crossing evening morning "
         "reading float wire winter summer least squares residual variance signal noise").split()


def paragraph(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def paper(seed: int = 7) -> tuple[str, list[str], list[str]]:
    """(markdown, page texts as a PDF would give them, the expected markdown of each page).

    Three pages: page 2 starts in the middle of a paragraph, page 3 at a heading. Page texts
    are wrapped at 9 words a line, hyphenate one word, and carry a running header and a page
    number that the markdown does not have."""
    rng = random.Random(seed)
    blocks = ["# A Paper About Tides", paragraph(rng, 60), paragraph(rng, 80),
              "## 2 Method", paragraph(rng, 70) + " The level is $h(t) = \\alpha t$ here.",
              paragraph(rng, 90), "## 3 Results", paragraph(rng, 75), paragraph(rng, 40)]
    markdown = "\n\n".join(blocks) + "\n"
    split_1 = markdown.index(blocks[2]) + len(" ".join(blocks[2].split()[:30])) + 1
    split_2 = markdown.index("## 3 Results")
    expected = [markdown[:split_1].strip(), markdown[split_1:split_2].strip(), markdown[split_2:].strip()]
    texts = []
    for number, part in enumerate(expected, start=1):
        plain = part.replace("#", "").replace("$", "").replace("\\alpha", "α").replace("\n\n", " ")
        words = plain.split()
        lines = [" ".join(words[i:i + 9]) for i in range(0, len(words), 9)]
        lines[1] = lines[1][:-3] + "-\n" + lines[1][-3:] if len(lines[1]) > 6 else lines[1]
        texts.append("\n".join([f"Journal of Harbour Studies Vol. 3 Page {number}", *lines, str(number)]))
    return markdown, texts, expected


def test_known_split_is_found_and_scores_high():
    markdown, texts, expected = paper()
    pages = align_pages(markdown, texts)
    assert [p.page for p in pages] == [0, 1, 2]
    assert [p.markdown for p in pages] == expected
    assert all(p.score >= 0.95 for p in pages), [p.score for p in pages]
    assert pages[0].markdown.startswith("# A Paper About Tides")
    assert pages[2].markdown.startswith("## 3 Results")


def test_alignment_is_deterministic():
    markdown, texts, _ = paper(seed=3)
    assert align_pages(markdown, texts) == align_pages(markdown, texts)


def test_swapped_pages_score_low():
    markdown, texts, _ = paper()
    swapped = [texts[0], texts[2], texts[1]]
    pages = align_pages(markdown, swapped)
    assert pages[0].score >= 0.95  # page 1 is still where it was
    assert pages[1].score < 0.9 and pages[2].score < 0.9


def test_page_from_another_document_and_empty_page_score_low():
    markdown, texts, _ = paper()
    _, other, _ = paper(seed=99)
    pages = align_pages(markdown, [texts[0], other[1], texts[2]])
    assert pages[1].score < 0.9
    blank = align_pages(markdown, [texts[0], "", texts[1], texts[2]])
    assert blank[1].score == 0.0 and blank[1].words == 0
    assert [p.score >= 0.95 for p in blank] == [True, False, True, True]


def test_math_and_tables_are_never_cut():
    rng = random.Random(5)
    table = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |"
    display = "$$x = \\frac{a}{b} + y + z + w$$"
    markdown = "\n\n".join([paragraph(rng, 50), table, display, paragraph(rng, 50)]) + "\n"
    for cut_word in range(45, 70):  # page 2 starting anywhere around the table and the math
        words = tokens(markdown)
        texts = [" ".join(words[:cut_word]), " ".join(words[cut_word:])]
        first, second = (p.markdown for p in align_pages(markdown, texts))
        for piece in (table, display):
            assert (piece in first) != (piece in second), (cut_word, first[-80:], second[:80])


def test_running_headers_and_page_numbers_are_dropped():
    texts = ["Running Head 2024\nBody one\n1", "Running Head 2024\nBody two\n2", "Running Head 2024\nBody three\n3"]
    assert clean_page_texts(texts) == ["Body one", "Body two", "Body three"]
    assert clean_page_texts(["compu\ufffe\ntation and hyphen-\nated"]) == ["computation and hyphenated"]


def test_markdown_tokens_mask_latex_and_keep_offsets():
    markdown = "See $\\mathcal{O}(n)$ and \\[1\\] *bold*."
    words, starts, ends = markdown_tokens(markdown)
    assert words == ["see", "o", "n", "and", "1", "bold"]
    assert [markdown[s:e] for s, e in zip(starts, ends, strict=True)] == ["See", "O", "n", "and", "1", "bold"]


def test_staircase_is_monotone_and_follows_the_evidence():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.1], [0.7, 0.3, 0.0], [0.0, 0.2, 0.9], [0.1, 0.1, 0.1]])
    pages = staircase(scores, np.ones(5))
    assert list(pages) == [0, 1, 1, 2, 2]  # paragraph 2 may not go back to page 0
    assert list(staircase(np.zeros((3, 4)), np.ones(3))) == [0, 0, 0]  # no evidence: earliest page


def test_word_coverage_sees_a_missing_middle():
    markdown, texts, _ = paper()
    good = align_pages(markdown, texts)
    assert all(p.coverage >= 0.95 for p in good), [p.coverage for p in good]
    # Page 2 keeps its first and last lines but its body is another text: the edges still
    # match, the coverage does not.
    lines = texts[1].split("\n")
    rng = random.Random(1)
    other = " ".join(rng.choice(["quartz", "violin", "meadow", "copper", "lantern", "orchard"]) for _ in range(180))
    hollow = "\n".join([*lines[:6], other, *lines[-5:]])
    page = align_pages(markdown, [texts[0], hollow, texts[2]])[1]
    assert page.score >= 0.9 and page.coverage < 0.7, page


def test_punctuation_touching_a_word_stays_with_it():
    """A page that starts after "*...common data*" gets ", then" nowhere: the closing
    emphasis and the comma end the earlier page, as the PDF's page ends at "data,"."""
    from vlforge.documents.align import _char_split

    markdown = "if all *use some other common data*, then it is likely (see below) so.\n"
    _, starts, ends = markdown_tokens(markdown)
    then = list(starts).index(markdown.index("then"))
    assert markdown[_char_split(markdown, starts, ends, then, []):].startswith("then it")
    see = list(starts).index(markdown.index("see"))
    assert markdown[_char_split(markdown, starts, ends, see, []):].startswith("(see below")
