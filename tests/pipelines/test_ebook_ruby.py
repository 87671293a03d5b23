"""Ruby (furigana) in e-book page texts, through the ebooks reader in real Chromium: each
reading written as pages.ruby says (aozora 茂平《もへい》, base 茂平, inline 茂平もへい), never
<rp>'s fallback parentheses, on horizontal and vertical pages; ebook_text, which reads the
XHTML without the renderer, reads ruby the same way."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from ebook_text import book_texts, characters, visible_text
from test_ebook_cases import assert_covered, pages_by_document
from test_ebooks import build_epub, read_book, xhtml

from vlforge.config import resolve_options
from vlforge.errors import VlforgeError
from vlforge.pipelines.ebooks import CORPUS
from vlforge.renderers.paginate import squash
from vlforge.schemas import Sample

REPO = Path(__file__).resolve().parents[2]
TDPF_03 = REPO.parent / "shared" / "corpora" / "epub_hard" / "tdpf_03_Embed_Fonts_And_Ruby.epub"

# Group ruby (with <rb> and <rp> fallbacks), mono ruby written two ways (rb/rp/rt pairs
# and bare base characters between <rt>s), and two bases that 《》 alone would misread:
# 京 after the kanji 東, and お茶, which mixes kana and kanji.
RUBY_BODY = ("<p>前の<ruby>茂平<rt>もへい</rt></ruby>と<ruby><rb>百姓家</rb><rp>（</rp><rt>ひゃくしょうや</rt>"
             "<rp>）</rp></ruby>。</p>"
             "<p><ruby><rb>漢</rb><rp>(</rp><rt>かん</rt><rp>)</rp><rb>字</rb><rp>(</rp><rt>じ</rt><rp>)</rp></ruby>"
             "と<ruby>漢<rt>かん</rt>字<rt>じ</rt></ruby>。東<ruby>京<rt>きょう</rt></ruby>で"
             "<ruby>お茶<rt>おちゃ</rt></ruby>を。</p>")
EXPECTED = {
    "aozora": "前の茂平《もへい》と百姓家《ひゃくしょうや》。\n\n漢《かん》字《じ》と漢《かん》字《じ》。東｜京《きょう》で｜お茶《おちゃ》を。",
    "base": "前の茂平と百姓家。\n\n漢字と漢字。東京でお茶を。",
    "inline": "前の茂平もへいと百姓家ひゃくしょうや。\n\n漢かん字じと漢かん字じ。東京きょうでお茶おちゃを。",
}
READINGS = 8  # one per base with its reading: 2 group, 2 x 2 mono, 京 and お茶


@pytest.fixture(scope="module")
def ruby_book(tmp_path_factory) -> Path:
    vertical = "<style>html{writing-mode:vertical-rl}</style>"
    return build_epub(tmp_path_factory.mktemp("ruby") / "ruby.epub", [
        ("horizontal.xhtml", xhtml(RUBY_BODY, lang="ja")),
        ("vertical.xhtml", xhtml(RUBY_BODY, lang="ja", head=vertical)),
        ("plain.xhtml", xhtml("<p>ルビのない段落です。</p>", lang="ja")),
    ])


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_ruby_readings_are_written_as_pages_ruby_says(tmp_path, ruby_book, mode):
    horizontal, vertical, plain = read_book(tmp_path, ruby_book, f"ebooks.pages.ruby={mode}")
    assert all(isinstance(sample, Sample) for sample in (horizontal, vertical, plain))
    assert vertical.metadata["chapter"]["writing_mode"] == "vertical-rl"
    assert horizontal.text == vertical.text == EXPECTED[mode]
    assert not re.search("[()（）]", horizontal.text)  # <rp> is never page text
    assert horizontal.metadata["ruby"] == vertical.metadata["ruby"] == READINGS
    assert plain.text == "ルビのない段落です。" and "ruby" not in plain.metadata
    # The chapter's text as the pages write it is all on its pages (the job summary's coverage).
    chapter = horizontal.metadata["chapter"]
    assert chapter["text_chars"] == chapter["page_chars"] == len(squash(EXPECTED[mode]))
    # The renderer-free measure reads the same text, character for character.
    pages = pages_by_document([horizontal, vertical, plain])
    for href, text in book_texts(str(ruby_book), lambda markup: visible_text(markup, mode)).items():
        assert characters(text) == characters("".join(pages[href])), href
    assert_covered(ruby_book, [horizontal, vertical, plain], ruby=mode)


def test_ruby_readings_in_markdown_pages(tmp_path, ruby_book):
    horizontal, _, _ = read_book(tmp_path, ruby_book, "ebooks.text_kind=markdown")
    assert horizontal.text == EXPECTED["aozora"]


def test_ruby_markup_on_several_lines_keeps_its_notation_together(tmp_path):
    """White space inside <ruby> (pretty-printed markup) shows as a space on the page; the
    notation stays whole: ｜ right before the base, 《》 right after it, a space before
    the base (not a character of its kind) needing no ｜."""
    body = "<p>東<ruby>\n  <rb>京</rb>\n  <rt>きょう</rt>\n</ruby>と<ruby> お茶 <rt>おちゃ</rt></ruby>を</p>"
    path = build_epub(tmp_path / "spaced.epub", [("c.xhtml", xhtml(body, lang="ja"))])
    sample, = read_book(tmp_path, path)
    assert sample.text == "東 京《きょう》 と ｜お茶《おちゃ》 を"
    text, = book_texts(str(path)).values()
    assert characters(text) == characters(sample.text)


def test_fallback_parentheses_that_a_book_shows_stay_out_of_the_text(tmp_path):
    """A book whose CSS shows <rp> anyway: the parentheses are on the image, and innerText
    has them; the page text never does, and the chapter is not refused for it."""
    style = "<style>rp{display:inline}</style>"
    body = "<p>字<ruby>漢<rp>(</rp><rt>かん</rt><rp>)</rp></ruby>です</p>"
    path = build_epub(tmp_path / "rp.epub", [("c.xhtml", xhtml(body, lang="ja", head=style))])
    for mode, expected in (("aozora", "字｜漢《かん》です"), ("base", "字漢です"), ("inline", "字漢かんです")):
        sample, = read_book(tmp_path, path, f"ebooks.pages.ruby={mode}")
        assert isinstance(sample, Sample) and sample.text == expected, sample


def test_an_unknown_ruby_notation_is_refused_before_the_job(tmp_path):
    options = resolve_options(CORPUS.defaults, None, ("ebooks.pages.ruby=furigana",))
    with pytest.raises(VlforgeError, match="pages.ruby must be one of aozora, base, inline, not 'furigana'"):
        CORPUS.check_options(options)


def test_the_html_corpus_refuses_an_unknown_ruby_notation_before_the_job_too(tmp_path):
    from vlforge.pipelines.html import CORPUS as HTML

    options = resolve_options(HTML.defaults, None, ("html.pages.ruby=furigana",))
    with pytest.raises(VlforgeError, match="pages.ruby must be one of aozora, base, inline"):
        HTML.check_options(options)


def _ruby_pairs(markup: str) -> list[tuple[str, str]]:
    """(base, reading) of every <ruby>X<rt>Y</rt></ruby> in the markup (tdpf_03's form)."""
    return re.findall(r"<ruby>([^<]+)<rt>([^<]+)</rt></ruby>", markup)


def test_tdpf_03_zhuyin_ruby_is_written_in_aozora_notation(tmp_path):
    """The real book: Mandarin and Taiwanese Hokkien lines with a zhuyin (Bopomofo) reading
    on every character, set horizontally and again vertically on the same page."""
    outcomes = read_book(tmp_path, TDPF_03)
    pages = pages_by_document(outcomes)
    with zipfile.ZipFile(TDPF_03) as archive:
        documents = {name: archive.read(name).decode() for name in archive.namelist()
                     if re.search(r"p-00[12]\.xhtml$", name)}
    assert len(documents) == 2
    for name, markup in documents.items():
        pairs = _ruby_pairs(markup)
        text = "\n".join(pages[name])
        assert len(pairs) == 36, name
        for base, reading in pairs:
            assert f"{base}《{reading}》" in text and f"{base}{reading}" not in text, (base, reading)
        ruby_on_pages = sum(o.metadata.get("ruby", 0) for o in outcomes
                            if isinstance(o, Sample) and o.metadata["chapter"]["href"] == name)
        assert ruby_on_pages == len(pairs), name
    first = pages[next(name for name in documents if name.endswith("p-001.xhtml"))]
    # The horizontal line and its vertical copy, each reading right after its character.
    assert "\n".join(first).count("各《ㄍㄜˋ》位《ㄨㄟˋ》都《ㄉㄡ》好《ㄏㄠˇ》吧《˙ㄅㄚ》？") == 2
    assert_covered(TDPF_03, outcomes)
