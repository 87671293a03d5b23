"""Prompt text -> the token string fastText sees, and the script the prompt is written in.

The same `tokenize` runs when the model is trained and when prompts are tagged, so the two
always agree. What it does, in order:

    NFKC          full-width letters, digits and punctuation (common in Chinese input)
                  become their ASCII forms; casefold
    placeholders  `<image>`, `<image_placeholder>`, `<img>...</img>`, `<|image|>` and the
                  like are dropped: they say where an image goes, not what is asked
    tokens        Latin words (apostrophes and inner hyphens kept), numbers -> `<num>`
                  (the value of a number says nothing about the use case; a run of
                  numbers with only spaces and punctuation between them, a data list or
                  an equation, is one `<num>`, so it cannot outweigh the words), every CJK
                  character a token of its own. fastText's wordNgrams=2 then adds the
                  bigrams, so Chinese gets character unigrams + bigrams and English words
                  + word bigrams from one token stream; no Chinese segmenter needed.
                  Punctuation is dropped. Words of other scripts are kept as words.

`analyze` also says which script the tokens are in, so the tagger can refuse scripts it was
not trained on (anything but Latin and Chinese) instead of guessing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Placeholders of the SFT formats we read (LLaVA `<image>`, DeepSeek-VL `<image_placeholder>`,
# Qwen `<img>path</img>`, numbered `<image_1>`, chat-template `<|image|>`/`<|image_pad|>`).
_PLACEHOLDER = re.compile(r"<img>.*?</img>|<\|?image[a-z_0-9]*\|?>|<image\s*\d*>", re.IGNORECASE | re.DOTALL)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff\u31f0-\u31ff"
_HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_NUMBER = r"\d+(?:[.,]\d+)*"
# A run of numbers with only spaces and punctuation between them ("[0.1, 0.5, 0.9]", "7 - 29 = -22")
# is one token: a data list of 500 values would otherwise outweigh every word of its prompt.
# The run is first replaced by _RUN (a private-use character, which NFKC keeps and no letter
# class matches), so that findall returns the final tokens and the line is one join + replace:
# no Python work per token on the hot path.
_NUMBER_RUN = re.compile(rf"{_NUMBER}(?:\W+{_NUMBER})*")
_RUN = "\ue000"
_TOKEN = re.compile(rf"[{_CJK}]|{_RUN}|[^\W\d_{_CJK}]+(?:['’-][^\W\d_{_CJK}]+)*")
# _TOKEN on lower-cased ASCII text: the same matches, from classes the regex engine scans
# faster than the negated Unicode ones (most prompts are ASCII)
_ASCII_TOKEN = re.compile(rf"[a-z]+(?:['-][a-z]+)*|{_RUN}")
_HAN_CHAR = re.compile(f"[{_CJK}]")
_KANA_CHAR = re.compile(f"[{_KANA}]")
_HANGUL_CHAR = re.compile(f"[{_HANGUL}]")
_LATIN_WORD = re.compile(r"^[a-z\u00c0-\u024f'’-]+$")

NUM_TOKEN = "<num>"


def strip_placeholders(text: str) -> str:
    return _PLACEHOLDER.sub(" ", text) if "<" in text else text  # every placeholder starts with "<"


def normalize(text: str) -> str:
    text = strip_placeholders(text)
    if text.isascii():  # NFKC leaves ASCII as it is, and casefold is lower there
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class Analyzed:
    line: str  # the fastText input line: tokens joined by single spaces
    script: str  # see script_from_tokens


def analyze(text: str) -> Analyzed:
    """The fastText line and the script of a prompt, normalising it once (the tagger's hot path)."""
    normal = normalize(text)
    marked = _NUMBER_RUN.sub(_RUN, normal)
    if normal.isascii():  # ASCII tokens are Latin words or numbers, the runs the only non-ASCII
        words = _ASCII_TOKEN.findall(marked)
        script = "latin" if len(words) > marked.count(_RUN) else "none"
    else:
        words = _TOKEN.findall(marked)
        script = _script_of_mixed(normal, words)
    return Analyzed(" ".join(words).replace(_RUN, NUM_TOKEN), script)


def tokens(text: str) -> list[str]:
    """Tokens of a prompt (see the module notes); [] for a prompt with no words."""
    return tokenize(text).split()


def tokenize(text: str) -> str:
    """The fastText input line for a prompt: tokens joined by single spaces, no newline."""
    return analyze(text).line


def is_latin_word(token: str) -> bool:
    return token.isascii() or bool(_LATIN_WORD.match(token))


def script_from_tokens(words: list[str]) -> str:
    """`zh`, `latin`, `ja`, `ko`, `other` or `none` (no words), from the kinds of tokens.

    Chinese prompts often carry English words ("用Python写"), so Han characters win when
    there are at least as many of them as Latin words. Any kana or hangul means Japanese or
    Korean: both share Han characters with Chinese but are not what the model learnt.
    """
    han = latin = other = 0
    for word in words:
        if word in (NUM_TOKEN, _RUN):
            continue
        if len(word) == 1 and _HAN_CHAR.match(word):
            han += 1
        elif is_latin_word(word):
            latin += 1
        elif _KANA_CHAR.search(word):
            return "ja"
        elif _HANGUL_CHAR.search(word):
            return "ko"
        else:
            other += 1
    if han and han >= latin:
        return "zh"
    if latin > other:
        return "latin"
    if other:
        return "other"
    return "zh" if han else "none"


def _script_of_mixed(normal: str, words: list[str]) -> str:
    """script_from_tokens for a non-ASCII prompt, counting in C where it can: kana or hangul
    anywhere decides at once; Han characters (one token each) at least as many as all the
    other words make it Chinese without looking at those words one by one."""
    if _KANA_CHAR.search(normal) or _HANGUL_CHAR.search(normal):
        return script_from_tokens(words)
    han = len(_HAN_CHAR.findall(normal))
    if han and han >= len(words) - han - words.count(_RUN):
        return "zh"
    return script_from_tokens(words)


def script_of(text: str) -> str:
    return analyze(text).script
