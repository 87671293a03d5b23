"""Tokenisation shared by training and tagging, and the script guess."""

from vlforge.taxonomy.text import script_of, tokenize


def test_english_words_numbers_and_placeholders():
    assert tokenize("<image>\nWhat is the ＴＩＴＬＥ of the plot in 2023?") == "what is the title of the plot in <num>"
    assert tokenize("<img>fig.png</img><image_placeholder>What's the x-axis label?") == "what's the x-axis label"


def test_chinese_becomes_characters_beside_english_words():
    assert tokenize("用Python写代码复现这个柱状图！") == "用 python 写 代 码 复 现 这 个 柱 状 图"
    assert script_of("用Python写matplotlib代码") == "zh"


def test_scripts():
    assert [script_of(t) for t in ["これは何ですか", "이것은 무엇입니까", "Что это такое?", "Describe it",
                                   "", "12 34 ?!"]] == ["ja", "ko", "other", "latin", "none", "none"]
