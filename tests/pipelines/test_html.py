"""The HTML corpus: HTML, XHTML and Jekyll-style Markdown files -> pages, real Chromium."""

from __future__ import annotations

from pathlib import Path

from vlforge.config import resolve_options
from vlforge.contract import Part, Task, TaskContext
from vlforge.pipelines.html import CORPUS, markdown_to_html
from vlforge.renderers.browser import is_uniform
from vlforge.renderers.paginate import squash
from vlforge.schemas import Reject, Sample, make_key

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "html"

JEKYLL_PAGE = """---
layout: default
title: 第一回
---

# 《第一回 說楔子》

<!-- {% include fn.html id="注1" text="真事隱" %} -->

{% capture main_text %}

<p>
 人生南北多岐路，將相神仙，也要凡人做。{% include fn.html label="注" text="真事隱" %}百代興亡朝復暮。
</p>

- 第一條
- 第二條

{% endcapture %}

{% include annotated_text.html content=main_text %}
"""


def read_all(tmp_path: Path, paths: list[Path], *assignments: str) -> dict[str, list]:
    """Every file of one task through the reader, in order, as the executor calls it, and
    then through the corpus's stages."""
    options = resolve_options(CORPUS.defaults, None, ("html.page.width=600", "html.page.height=800", *assignments))
    task = Task(0, tuple(Part(str(p)) for p in paths))
    ctx = TaskContext("html", options, task, str(tmp_path / f"out-{'-'.join(assignments)}"))
    return {str(p): staged(CORPUS.read(Part(str(p)), ctx), ctx) for p in paths}


def staged(outcomes, ctx: TaskContext) -> list:
    for stage in CORPUS.stages:
        outcomes = stage(outcomes, ctx)
    return list(outcomes)


def test_markdown_to_html_drops_liquid_and_front_matter():
    html = markdown_to_html(JEKYLL_PAGE + "\nSome *stressed* and **strong** `code` [link](x.html).\n\n"
                            "```\nkeep  <this>\n```\n", "file:///base/")
    assert "<title>第一回</title>" in html and 'lang="zh"' in html and '<base href="file:///base/">' in html
    assert "{%" not in html and "include" not in html and "layout" not in html
    assert "<h1>《第一回 說楔子》</h1>" in html and "<ul><li>第一條</li><li>第二條</li></ul>" in html
    assert "<p>\n 人生南北多岐路" in html  # the raw HTML block passes through
    assert "Some <em>stressed</em> and <strong>strong</strong> <code>code</code> <a href=\"x.html\">link</a>." in html
    assert "<pre><code>keep  &lt;this&gt;\n</code></pre>" in html


def test_exam_pages_with_mathml_grouped_or_not(tmp_path):
    paths = sorted(EXAMPLES.glob("*.html"))
    grouped = read_all(tmp_path, paths)
    alone = read_all(tmp_path, paths, "html.docs_per_call=1")
    for path in map(str, paths):
        assert [(o.key, o.text, o.image) for o in grouped[path]] == [(o.key, o.text, o.image) for o in alone[path]]
        assert all(isinstance(o, Sample) and not is_uniform(o.image) for o in grouped[path])
        assert [o.key for o in grouped[path]] == [make_key("html", path, i) for i in range(len(grouped[path]))]
    algebra = "\n".join(o.text for o in grouped[str(EXAMPLES / "algebra-quiz.html")])
    assert "1. Solve for $x$: $3x + 7 = 22$\n\nA. 3\n\nB. 5" in algebra  # MathML as LaTeX, list markers shown
    geometry = grouped[str(EXAMPLES / "geometry-zh.html")]
    assert "一、已知直角三角形的两条直角边分别为 $6$ 和 $8$，求斜边的长。" in geometry[0].text
    assert geometry[0].metadata["document"]["language"] == "zh-Hans"


def test_markdown_and_xhtml_inputs(tmp_path):
    (tmp_path / "page.md").write_text(JEKYLL_PAGE, encoding="utf-8")
    broken = '<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Half <i>open</p></body></html>'
    (tmp_path / "broken.xhtml").write_text(broken, encoding="utf-8")
    (tmp_path / "empty.html").write_text("<!doctype html><title>nothing</title><body></body>", encoding="utf-8")
    paths = [tmp_path / "broken.xhtml", tmp_path / "empty.html", tmp_path / "page.md"]
    outcomes = read_all(tmp_path, paths)
    page, = outcomes[str(tmp_path / "page.md")]
    assert page.metadata["document"]["title"] == "第一回" and page.metadata["document"]["format"] == "markdown"
    assert squash(page.text) == squash("《第一回 說楔子》人生南北多岐路，將相神仙，也要凡人做。百代興亡朝復暮。• 第一條• 第二條")
    recovered, = outcomes[str(tmp_path / "broken.xhtml")]
    assert recovered.text == "Half open" and recovered.metadata["parsed_as"] == "html"
    empty, = outcomes[str(tmp_path / "empty.html")]
    assert isinstance(empty, Reject) and empty.reason == "empty_document"
    strict = read_all(tmp_path, paths[:1], "html.malformed_xhtml=reject")
    assert [o.reason for o in strict[str(paths[0])]] == ["malformed_xhtml"]
