"""E-books as they are: the hard cases of real EPUBs, on small books built here, through
the ebooks reader and its page filters in real Chromium. Each book's coverage is measured
by ebook_text, which reads the XHTML without the renderer."""

from __future__ import annotations

from pathlib import Path

from ebook_text import book_coverage
from test_ebooks import build_epub, read_book, xhtml

from vlforge.schemas import Reject, Sample


def pages_by_document(outcomes: list) -> dict[str, list[str]]:
    pages: dict[str, list[str]] = {}
    for outcome in outcomes:
        if isinstance(outcome, Sample):
            pages.setdefault(outcome.metadata["chapter"]["href"], []).append(outcome.text)
    return pages


def assert_covered(path: Path, outcomes: list, share: float = 1.0) -> None:
    found, total, per_doc = book_coverage(str(path), pages_by_document(outcomes))
    assert total and found / total >= share, per_doc


def test_case_changing_css_keeps_the_chapter_with_the_text_the_page_shows(tmp_path):
    style = ("<style>.loud{text-transform:uppercase} .caps{font-variant:small-caps}"
             " p.drop::first-letter{text-transform:uppercase;float:left;font-size:3em}"
             " dfn::after{content:', n.'} .stage::before{content:'('} .stage::after{content:')'}</style>")
    chapter = xhtml('<p class="loud">this text is a combination of cases.</p>'
                    '<p class="caps">The Gift of the Magi</p>'
                    '<p class="drop">once upon a time there was a lighthouse.</p>'
                    '<p><dfn>Abasement</dfn> a decent and customary mental attitude.</p>'
                    '<p>Then he <i class="stage">exits</i> quietly.</p>', head=style)
    path = build_epub(tmp_path / "cases.epub", [("c.xhtml", chapter)])
    outcomes = read_book(tmp_path, path)
    assert [type(o) for o in outcomes] == [Sample], [o for o in outcomes if isinstance(o, Reject)]
    sample = outcomes[0]
    assert sample.text == ("THIS TEXT IS A COMBINATION OF CASES.\n\nTHE GIFT OF THE MAGI\n\n"
                           "Once upon a time there was a lighthouse.\n\n"
                           "Abasement, n. a decent and customary mental attitude.\n\nThen he (exits) quietly.")
    assert sample.metadata["display_transforms"] == ["text-transform", "small-caps", "first-letter", "generated"]
    assert_covered(path, outcomes)


def test_a_page_without_display_transforms_says_so(tmp_path):
    path = build_epub(tmp_path / "plain.epub", [("c.xhtml", xhtml("<p>Nothing changes case here.</p>"))])
    sample, = read_book(tmp_path, path)
    assert sample.text == "Nothing changes case here." and sample.metadata["display_transforms"] == []
