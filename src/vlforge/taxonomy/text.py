"""Prompt text -> the token string fastText sees, and the script the prompt is written in.

The same tokens are made when the model is trained (`tokenize`) and when prompts are tagged
(`lines_and_scripts`, a batch at once), so the two always agree. What it does, in order:

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
_HAN_CHAR = re.compile(f"[{_CJK}]")
_HAN_RUN = re.compile(f"[{_CJK}]+")
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
    """The fastText line and the script of a prompt, normalising it once."""
    [(line, script)] = lines_and_scripts([text])
    return Analyzed(" ".join(line.split()), script)


def lines_and_scripts(texts: list[str]) -> list[tuple[str, str]]:
    """Per prompt: what fastText reads, and the script; the tagger's hot path.

    What fastText reads is `tokenize`'s tokens, in order, but some may be separated by more
    than one space: fastText splits its input on whitespace, so it reads the same words
    and predicts the same labels, without the cost of joining each line anew."""
    normals = [normalize(text) for text in texts]
    ascii_normals = [normal for normal in normals if normal.isascii()]
    if len(ascii_normals) == len(normals):
        return _ascii_lines_and_scripts(ascii_normals)
    ascii_pairs = iter(_ascii_lines_and_scripts(ascii_normals))
    return [next(ascii_pairs) if normal.isascii() else _unicode_line_and_script(normal) for normal in normals]


def _unicode_line_and_script(normal: str) -> tuple[str, str]:
    words = _TOKEN.findall(_NUMBER_RUN.sub(_RUN, normal))
    return " ".join(words).replace(_RUN, NUM_TOKEN), _script_of_mixed(normal, words)


# Most prompts are ASCII once normalised. Those of a batch are joined into one byte string and
# tokenised together by C-speed bytes operations instead of a findall over every character of
# every prompt; the tokens are the same (tests/taxonomy/test_taxonomy_text.py compares the two
# on random ASCII text):
#   - the prompts are joined by Z, which no lower-cased prompt has and no step below crosses
#   - every byte is reduced to its class: a-z, _, ' and - stay, digits become 0, every other
#     byte a space (all of them \W)
#   - a number run (_NUMBER_RUN: digits with only \W between them) is then a 0 up to the last
#     0 before the next letter, _ or Z; it becomes " 0 ", the only 0 left
#   - _ becomes a space, and an apostrophe or hyphen stays only between two letters, where
#     _TOKEN keeps it
# What is left is the tokens, separated by one space or more.
_PROMPT_END = "Z"
_ASCII_RUN = b"0"
_ASCII_CLASSES = bytes(c if c in b"abcdefghijklmnopqrstuvwxyz_'-" + _PROMPT_END.encode("ascii") else
                       _ASCII_RUN[0] if c in b"0123456789" else ord(" ") for c in range(256))
_ASCII_NUMBER_RUN = re.compile(rb"0(?:[ '0-]*0)?")
_UNDERSCORE = bytes.maketrans(b"_", b" ")
_LOOSE_JOINER = re.compile(rb"['-](?:(?![a-z])|(?<![a-z]['-]))")  # an ' or - not between two letters


def _ascii_lines_and_scripts(normals: list[str]) -> list[tuple[str, str]]:
    if not normals:
        return []
    data = _PROMPT_END.join(normals).encode("ascii").translate(_ASCII_CLASSES)
    if _ASCII_RUN in data:
        data = _ASCII_NUMBER_RUN.sub(b" " + _ASCII_RUN + b" ", data)
    data = data.translate(_UNDERSCORE)
    if b"'" in data or b"-" in data:
        data = _LOOSE_JOINER.sub(b" ", data)
    lines = data.replace(_ASCII_RUN, NUM_TOKEN.encode("ascii")).decode("ascii").split(_PROMPT_END)
    # any letter left is a word (an ' or - left has letters beside it): numbers alone are no words
    no_words = b" " + _ASCII_RUN
    scripts = ["latin" if kept.strip(no_words) else "none" for kept in data.split(_PROMPT_END.encode("ascii"))]
    return list(zip(lines, scripts, strict=True))


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
    han = sum(map(len, _HAN_RUN.findall(normal)))  # runs: fewer objects than one per character
    if han and han >= len(words) - han - words.count(_RUN):
        return "zh"
    return script_from_tokens(words)


def script_of(text: str) -> str:
    return analyze(text).script
