"""The labelled prompt set the tagger is trained and evaluated on, and how it is made.

Recipe (`generate(seed)`; `vlforge taxonomy prompts` writes `data/prompts.jsonl`):

1. Source: the phrasings (`data/phrasings.yaml`, loaded by `phrasings`), five or more
   English and Chinese sentence frames per tertiary item of Table 3 (Humor Reasoning, which
   has no items, counts as one), written by hand for vlforge; no prompt was copied from a
   data set.
2. Budget, balanced at the main level: every main category gets PER_MAIN prompts per
   language. A main's budget is split evenly over its secondary categories (or its items,
   for Evaluation and Safety), a secondary's over its items, an item's over its frames
   (differences of one from integer division). With PER_MAIN = 288 every secondary category
   has at least 48 prompts per language (96 in all) and every Evaluation and Safety item at
   least 57 per language.
3. A prompt: a frame with each `{slot}` filled at random from the phrasings' slots, then an
   opening and a closing from its wrappers that carry no category signal ("Hi!",
   "请问，", "Thanks!"). Duplicates are drawn again. Randomness comes from
   `random.Random(f"{seed}:{lang}:{item}:{frame}")`, so a row depends only on the seed and
   its own frame, not on the order of the rest.
4. Split: for each item and language, 20% of its rows, drawn with the same seed, are held
   out (`split: "test"`). Held-out rows share sentence frames with training rows (other
   fillers, other wrappers), so the held-out score says how well the model learnt the set,
   not how it does on phrasings it has never seen: `vlforge taxonomy eval --by-frame`
   measures that (five folds; fold k tests on the frames whose index is k modulo 5 and
   trains on the others, so every test prompt has a sentence frame the model never saw).

Rows: `{"id", "text", "lang", "main", "secondary", "item", "frame", "split"}` with taxonomy
ids (`secondary` is null for Evaluation and Safety).
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from vlforge.errors import VlforgeError
from vlforge.taxonomy.phrasings import load_phrasings
from vlforge.taxonomy.tree import Main, Taxonomy, load_taxonomy

PER_MAIN = 288
MIN_FRAMES = 5
LANGS = ("en", "zh")
DEFAULT_SEED = 20240308  # DeepSeek-VL's arXiv submission date
PACKAGED = "data/prompts.jsonl"
TEST_SHARE = 0.2


def frames_of(path: str) -> dict[str, list[str]]:
    """The frames of one item: {"en": [...], "zh": [...]}, at least MIN_FRAMES each."""
    frames = load_phrasings().frames[path]
    for lang in LANGS:
        lines = frames.get(lang) or []
        if len(lines) < MIN_FRAMES or not all(isinstance(line, str) and line.strip() for line in lines):
            raise VlforgeError(f"phrasings of {path} ({lang}) need {MIN_FRAMES} or more non-empty frames")
    return {lang: frames[lang] for lang in LANGS}


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` over `parts` buckets, the first `total % parts` one larger."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def item_budgets(main: Main, per_main: int) -> list[tuple[str, str | None, int]]:
    """(item path, secondary id, prompts per language) for every item of one main."""
    if not main.secondaries:
        return [(item.path, None, n) for item, n in zip(main.items, split_evenly(per_main, len(main.items)), strict=True)]
    budgets = []
    for secondary, share in zip(main.secondaries, split_evenly(per_main, len(main.secondaries)), strict=True):
        paths = [i.path for i in secondary.items] or [f"{main.id}/{secondary.id}"]  # Humor Reasoning
        budgets += [(p, secondary.id, n) for p, n in zip(paths, split_evenly(share, len(paths)), strict=True)]
    return budgets


def _slots_in(frame: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(frame) if name]


def _wrap(text: str, lang: str, rng: random.Random) -> str:
    openings, closings = load_phrasings().wrappers[lang]
    opening, closing = rng.choice(openings), rng.choice(closings)
    if opening.endswith((", ", "so ")) and text[:1].isupper():
        text = text[0].lower() + text[1:]  # "Hey, what is ..." rather than "Hey, What is ..."
    return f"{opening}{text}{closing}"


def fill_frame(frame: str, lang: str, n: int, key: str) -> list[str]:
    """n distinct prompts from one frame (fewer only if the frame cannot give n)."""
    rng = random.Random(key)
    fillers = load_phrasings().slots[lang]
    slots = _slots_in(frame)
    prompts: dict[str, None] = {}
    for _ in range(n * 50):
        if len(prompts) == n:
            break
        filled = frame.format(**{s: rng.choice(fillers[s]) for s in slots})
        prompts.setdefault(re.sub(r"\s+", " ", _wrap(filled, lang, rng)).strip(), None)
    return list(prompts)


def _item_rows(path: str, secondary: str | None, per_lang: int, seed: int) -> Iterator[dict]:
    main = path.split("/", 1)[0]
    for lang, frames in frames_of(path).items():
        rows = []
        for frame_index, (frame, n) in enumerate(zip(frames, split_evenly(per_lang, len(frames)), strict=True)):
            texts = fill_frame(frame, lang, n, f"{seed}:{lang}:{path}:{frame_index}")
            rows += [{"id": f"{lang}:{path}:{frame_index}:{k}", "text": text, "lang": lang, "main": main,
                      "secondary": secondary, "item": path, "frame": frame_index, "split": "train"}
                     for k, text in enumerate(texts)]
        held_out = random.Random(f"{seed}:split:{lang}:{path}").sample(range(len(rows)), round(len(rows) * TEST_SHARE))
        for index in held_out:
            rows[index]["split"] = "test"
        yield from rows


def generate(seed: int = DEFAULT_SEED, per_main: int = PER_MAIN,
             taxonomy: Taxonomy | None = None) -> list[dict]:
    """The whole labelled set, in taxonomy order; the same seed always gives the same rows."""
    taxonomy = taxonomy or load_taxonomy()
    missing = [i.path for i in taxonomy.items if i.path not in load_phrasings().frames]
    if missing:
        raise VlforgeError(f"no phrasings for {len(missing)} taxonomy items, e.g. {missing[0]}")
    rows: list[dict] = []
    for main in taxonomy.mains:
        for path, secondary, per_lang in item_budgets(main, per_main):
            rows += _item_rows(path, secondary, per_lang, seed)
    return rows


def write_promptset(rows: list[dict], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def load_promptset(path: str | Path | None = None) -> list[dict]:
    """Rows of a prompt set file; the packaged one when path is None."""
    if path is None:
        text = resources.files("vlforge.taxonomy").joinpath(PACKAGED).read_text("utf-8")
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise VlforgeError(f"cannot read prompt set {path}: {exc.strerror}") from None
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not rows or not all({"text", "main", "split"} <= set(r) for r in rows):
        raise VlforgeError(f"{path or PACKAGED} is not a prompt set (rows need text, main, split)")
    return rows
