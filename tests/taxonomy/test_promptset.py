"""The labelled prompt set: reproducible, balanced, bilingual, with a 20% held-out split."""

from collections import Counter

from vlforge.taxonomy.promptset import DEFAULT_SEED, generate, load_promptset
from vlforge.taxonomy.tree import load_taxonomy


def test_packaged_set_is_what_the_recipe_generates():
    rows = generate(DEFAULT_SEED)
    assert rows == generate(DEFAULT_SEED)  # the same seed, the same rows
    assert load_promptset() == rows  # data/prompts.jsonl is not edited by hand
    assert generate(DEFAULT_SEED + 1) != rows


def test_balanced_bilingual_and_at_least_40_per_category():
    rows = load_promptset()
    per_main_lang = Counter((r["main"], r["lang"]) for r in rows)
    assert len(set(per_main_lang.values())) == 1 and len(per_main_lang) == 16
    per_secondary = Counter(r["secondary"] for r in rows if r["secondary"])
    assert len(per_secondary) == 19 and min(per_secondary.values()) >= 40
    taxonomy = load_taxonomy()
    flat_items = {i.path for m in taxonomy.mains if not m.secondaries for i in m.items}
    per_item = Counter(r["item"] for r in rows if r["item"] in flat_items)
    assert len(per_item) == 8 and min(per_item.values()) >= 40  # Evaluation and Safety items
    assert len({r["text"] for r in rows}) == len(rows)  # no duplicate prompt


def test_held_out_split_is_a_fifth_of_every_item_and_language():
    rows = load_promptset()
    by_group = Counter((r["item"], r["lang"], r["split"]) for r in rows)
    for item, lang, split in by_group:
        if split == "test":
            total = by_group[(item, lang, "test")] + by_group[(item, lang, "train")]
            assert abs(by_group[(item, lang, "test")] - 0.2 * total) <= 0.5
