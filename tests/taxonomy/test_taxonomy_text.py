"""Tokenisation shared by training and tagging, and the script guess."""

import random

import pytest

from vlforge.taxonomy import text
from vlforge.taxonomy.text import analyze, script_of, tokenize, tokens


def test_english_words_numbers_and_placeholders():
    assert tokenize("<image>\nWhat is the ＴＩＴＬＥ of the plot in 2023?") == "what is the title of the plot in <num>"
    assert tokenize("<img>fig.png</img><image_placeholder>What's the x-axis label?") == "what's the x-axis label"


def test_chinese_becomes_characters_beside_english_words():
    assert tokenize("用Python写代码复现这个柱状图！") == "用 python 写 代 码 复 现 这 个 柱 状 图"
    assert script_of("用Python写matplotlib代码") == "zh"


def test_scripts():
    assert [script_of(t) for t in ["これは何ですか", "이것은 무엇입니까", "Что это такое?", "Describe it",
                                   "", "12 34 ?!"]] == ["ja", "ko", "other", "latin", "none", "none"]


@pytest.mark.parametrize(("prompt", "line", "script"), [
    # a number run spans spaces and punctuation, not letters; x² is x2 after NFKC
    ("Plot y = 3x² + 2 for x in [0, 1.5, 2,000]; label it 'Fig. 2'.",
     "plot y <num> x <num> for x in <num> label it fig <num>", "latin"),
    ("GPT-4's score was 85.3% vs. 7 - 29 = -22 points", "gpt <num> s score was <num> vs <num> points", "latin"),
    ("用Python写一个排序函数，输入是[3, 1, 2]", "用 python 写 一 个 排 序 函 数 输 入 是 <num>", "zh"),
    ("第1题：计算 12 + 34 的值", "第 <num> 题 计 算 <num> 的 值", "zh"),
    ("Describe this 😀 picture 🎉!!", "describe this picture", "latin"),
    ("ＰＬＥＡＳＥ\u3000ｒｅａｄ\u3000ｔｈｅ\u3000ｔｅｘｔ：１２３", "please read the text <num>", "latin"),
    ("Line one\nline two\r\n\tthree", "line one line two three", "latin"),
    # apostrophes and hyphens stay between letters only; _ separates words
    ("don't -re-use 'quoted' it's x--y a_b_c", "don't re-use quoted it's x y a b c", "latin"),
    ("<image_1> <|image_pad|> Compare <IMG>a.png</img> them", "compare them", "latin"),
    ("what's in the ﬁgure? ½ of it", "what's in the figure <num> of it", "latin"),
    ("Naïve café’s menu", "naïve café’s menu", "latin"),
    ("1_2 3", "<num> <num>", "none"),
    ("", "", "none"),
])
def test_tricky_prompts_give_exact_lines(prompt, line, script):
    assert analyze(prompt) == text.Analyzed(line, script)
    assert (tokenize(prompt), tokens(prompt), script_of(prompt)) == (line, line.split(), script)


def test_ascii_path_equals_the_unicode_path_on_random_text():
    """The ASCII prompts of a batch are tokenised together on bytes; for any ASCII text that
    gives the tokens (and script) the general Unicode regex path gives, and no prompt's
    letters, digits or separators reach into the next prompt's."""
    alphabet = "abcXYZ" + "0123456789" + "'-_.,;:!?%+=/ \n\t\"()[]<>" + "a" * 6 + " " * 4
    rng = random.Random(7)
    for _ in range(200):
        normals = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30))).lower() for _ in range(100)]
        expected = [text._unicode_line_and_script(normal) for normal in normals]
        got = text._ascii_lines_and_scripts(normals)
        assert [(" ".join(line.split()), script) for line, script in got] == expected, normals


def test_a_batch_gives_each_prompt_what_it_gives_alone():
    batch = ["Plot 1, 2,", "3 and 4", "it'", "'s here", "", "用Python写", "x-", "-y", "5", "ＡＢＣ 6"]
    alone = [analyze(prompt) for prompt in batch]
    assert [text.Analyzed(" ".join(line.split()), script) for line, script in text.lines_and_scripts(batch)] == alone
    assert [a.line for a in alone] == ["plot <num>", "<num> and <num>", "it", "s here", "", "用 python 写", "x", "y",
                                       "<num>", "abc <num>"]
