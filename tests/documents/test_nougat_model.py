"""documents.nougat: the failure detectors on constructed inputs, and a tiny checkpoint of
the real classes loaded and run through the same path a facebook/nougat-base download takes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from tiny_nougat import SCRIPT, SCRIPT_MARKDOWN, build_test_checkpoints

from vlforge.documents.nougat import (
    LoopRule,
    PageOutput,
    checkpoint_problem,
    find_loop,
    garbage_problem,
    ink_share,
    judge_output,
    load_nougat,
    missing_page_marker,
    script_of,
)
from vlforge.errors import VlforgeError

# --------------------------------------------------------------------------------------
# Repetition loops on constructed max-score sequences
# --------------------------------------------------------------------------------------


def text_scores(n: int, seed: int) -> np.ndarray:
    """Max logits of ordinary text: confident tokens mixed with uncertain ones."""
    rng = np.random.default_rng(seed)
    confident = rng.random(n) < 0.7
    return np.where(confident, rng.normal(24, 1.5, n), rng.normal(12, 3, n))


def loop_scores(n: int, period: int, seed: int = 1, jitter: float = 0.0) -> np.ndarray:
    """The same phrase of `period` tokens over and over, each time as confident."""
    rng = np.random.default_rng(seed)
    cycle = rng.uniform(12, 26, period)
    return np.tile(cycle, n // period + 1)[:n] + rng.normal(0, jitter, n)


@pytest.mark.parametrize("period", [1, 2, 3, 5, 7, 11, 23])
def test_a_flat_loop_is_caught_from_its_start(period):
    assert find_loop(loop_scores(600, period)) == 0
    assert find_loop(loop_scores(600, period, jitter=0.05)) == 0
    text_then_loop = np.concatenate([text_scores(300, seed=period), loop_scores(800, period)])
    start = find_loop(text_then_loop)
    assert start is not None and 300 - LoopRule().window - 40 <= start <= 300


@pytest.mark.parametrize("seed", range(20))
def test_varied_text_is_not_a_loop(seed):
    assert find_loop(text_scores(3000, seed)) is None
    # A loop the model got out of again is no loop either: it must run to the end.
    recovered = np.concatenate([text_scores(300, seed), loop_scores(400, 5), text_scores(400, seed + 100)])
    assert find_loop(recovered) is None


def test_loop_edge_lengths():
    rule = LoopRule()
    assert find_loop([]) is None
    assert find_loop(np.ones(rule.window - 1)) is None
    shortest = rule.window + rule.span - 1  # the fewest tokens with one full span of windows
    assert find_loop(np.ones(shortest - 1), LoopRule(min_loop_tokens=1)) is None
    assert find_loop(np.ones(shortest), LoopRule(min_loop_tokens=1)) == 0
    assert find_loop(np.ones(rule.min_loop_tokens - 1)) is None
    assert find_loop(np.ones(rule.min_loop_tokens)) == 0
    assert find_loop(np.ones(rule.min_loop_tokens).tolist()) == 0  # plain lists too
    with pytest.raises(ValueError):
        LoopRule(window=1)


# --------------------------------------------------------------------------------------
# The verdict on a page, scripts, garbage, blank pages
# --------------------------------------------------------------------------------------


def output(raw: str, markdown: str | None = None, *, ended: bool = True, loop_start: int | None = None,
           tokens: int = 40) -> PageOutput:
    return PageOutput(raw.strip() if markdown is None else markdown, raw, tokens, ended, loop_start,
                      np.zeros(tokens, dtype=np.float32))


def test_judge_output_reasons():
    assert judge_output(output("# Results\n\nThe model reads the page.")) is None
    assert judge_output(output("a b c", loop_start=12, ended=False)).reason == "nougat_repetition"
    truncated = judge_output(output("a b c", ended=False))
    assert (truncated.reason, truncated.detail) == (
        "nougat_truncated", "no end of page within 40 tokens (nougat.max_new_tokens)")
    assert judge_output(output("  \n ")).reason == "nougat_empty_output"
    assert judge_output(output("text", markdown="")).reason == "nougat_empty_output"
    assert judge_output(output("\ufffd\x07\ufffd\x01 ab")).reason == "garbage_output"


@pytest.mark.parametrize("raw, markdown", [
    ("[MISSING_PAGE_FAIL:3]", None),
    ("\n\n[MISSING_PAGE_EMPTY:12]\n\n", None),
    ("Some text\n\n## References\n\n* [1] A. Author.", "Some text\n\n[MISSING_PAGE_POST]"),
])
def test_missing_page_markers_never_pass(raw, markdown):
    verdict = judge_output(output(raw, markdown))
    assert verdict.reason == "missing_page_marker" and "[MISSING_PAGE" in verdict.detail
    assert missing_page_marker("before [MISSING_PAGE_FAIL:7] after") == "[MISSING_PAGE_FAIL:7]"
    assert missing_page_marker("no marker here") is None


def test_script_detection():
    assert script_of("Привет мир, это тестовая страница на русском языке.") == ("CYRILLIC", 1.0)
    chinese = script_of("深度学习模型在文档理解任务上取得了显著的进展，本文提出一种新的方法。Table 1")
    assert chinese[0] == "CJK" and chinese[1] > 0.7
    assert script_of("هذه صفحة اختبار مكتوبة باللغة العربية لفحص الكشف")[0] == "ARABIC"
    # Latin text with Greek letters in its mathematics, and mathematical italic letters.
    assert script_of("Let α and β be the rates; then the loss 𝐿(𝑥) = α𝑥 + β decreases in 𝑥.") is None
    assert script_of("Привет") is None  # too few letters to tell
    assert script_of("Mostly English text here with some words, and один два три.") is None


def test_garbage_output():
    assert garbage_problem("\\[\\frac{\\partial L}{\\partial w_{ij}} = \\sum_{k} \\delta_{k} x_{ik}\\]") is None
    assert garbage_problem("| Method | Accuracy |\n| --- | --- |\n| Ours | 0.95 |") is None
    assert "replacement or control" in garbage_problem("ab\ufffd\ufffdcd\x00\x01ef")
    assert "letters or digits" in garbage_problem("!!!! ---- $$$$ }}}} a")
    assert garbage_problem("   ") is None


def test_ink_share():
    white = Image.new("RGB", (200, 300), "white")
    assert ink_share(white) == 0.0
    assert ink_share(Image.new("RGB", (200, 300), "black")) == 0.0  # one colour: nothing on it
    ImageDraw.Draw(white).rectangle((20, 20, 120, 60), fill="black")
    assert 0.05 < ink_share(white) < 0.1


# --------------------------------------------------------------------------------------
# The tiny checkpoint, through load_nougat
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("nougat")
    return build_test_checkpoints(root, "[MISSING_PAGE_FAIL:1]")


def pages(n: int) -> list[Image.Image]:
    images = []
    for i in range(n):
        image = Image.new("RGB", (672, 870), "white")
        draw = ImageDraw.Draw(image)
        for line in range(12):
            draw.text((60, 60 + 40 * line), f"Page {i} line {line}: the quick brown fox", fill="black")
        images.append(image)
    return images


def test_tiny_checkpoint_loads_through_the_real_path(checkpoints):
    model = load_nougat(checkpoints["script"])
    assert type(model.model).__name__ == "VisionEncoderDecoderModel"
    assert type(model.model.encoder).__name__ == "DonutSwinModel"
    assert type(model.model.decoder).__name__ == "MBartForCausalLM"
    assert type(model.processor.image_processor).__name__ == "NougatImageProcessorPil"
    assert type(model.processor.tokenizer).__name__ == "NougatTokenizer"
    assert model.device == "cpu" and str(model.dtype) == "torch.float32"
    assert not model.model.training and model.image_size == (896, 672)
    assert load_nougat(checkpoints["script"]) is model  # once per worker process
    assert (checkpoints["script"] / "preprocessor_config.json").is_file()


def test_batched_generation_of_a_known_text(checkpoints):
    model = load_nougat(checkpoints["script"])
    outputs = model.generate(pages(3), max_new_tokens=64)
    assert len(outputs) == 3
    for out in outputs:
        assert out.raw == SCRIPT and out.markdown == SCRIPT_MARKDOWN  # post-processed
        assert out.ended and out.loop_start is None and judge_output(out) is None
        assert len(out.max_scores) == out.tokens and np.isfinite(out.max_scores).all()
    one_by_one = model.generate(pages(3), batch_size=1, max_new_tokens=64)
    assert [(o.raw, o.tokens) for o in one_by_one] == [(o.raw, o.tokens) for o in outputs]


def test_a_looping_page_is_stopped_early_and_rejected(checkpoints):
    model = load_nougat(checkpoints["loop"])
    rule = LoopRule(min_loop_tokens=96)  # Nougat-sized loops, shorter: a faster test
    out, = model.generate(pages(1), max_new_tokens=1000, rule=rule)
    assert not out.ended and out.loop_start is not None
    assert out.tokens < 200  # stopped by the online check, not by max_new_tokens
    assert judge_output(out).reason == "nougat_repetition"
    assert out.raw.startswith("The first item of the list. The first item of the list.")
    truncated, = model.generate(pages(1), max_new_tokens=60, rule=rule)  # too short for a loop
    assert judge_output(truncated).reason == "nougat_truncated"


def test_missing_page_output_is_rejected(checkpoints):
    out, = load_nougat(checkpoints["missing"]).generate(pages(1), max_new_tokens=64)
    assert "[MISSING_PAGE_FAIL:1]" in out.raw
    assert judge_output(out).reason == "missing_page_marker"


def test_random_weights_give_an_output_and_a_verdict_per_page(checkpoints):
    outputs = load_nougat(checkpoints["random"]).generate(pages(2), max_new_tokens=80)
    assert len(outputs) == 2
    for out in outputs:
        assert 1 <= out.tokens <= 80 and len(out.max_scores) == out.tokens
        verdict = judge_output(out)
        assert verdict is None or verdict.reason in {"nougat_repetition", "nougat_truncated", "garbage_output",
                                                 "nougat_empty_output", "missing_page_marker"}


def test_bad_checkpoint_directories(tmp_path, checkpoints):
    assert "is not a directory" in checkpoint_problem(str(tmp_path / "nowhere"))
    (tmp_path / "config.json").write_text("{}")
    problem = checkpoint_problem(str(tmp_path))
    assert "tokenizer.json" in problem and "model.safetensors" in problem
    assert checkpoint_problem(str(checkpoints["script"])) is None
    with pytest.raises(VlforgeError, match="nougat.model"):
        load_nougat(tmp_path)
