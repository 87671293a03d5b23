"""Balanced evaluation sets and coverage counts over tagged records.

`balanced_sample` takes up to N records per category, the way DeepSeek-VL built its
balanced evaluation set: by default the seven main categories of the paper's human
evaluation (all but Safety). Which N: the records with the smallest
sha256(seed, record JSON), so the choice depends on the seed and on each record's content,
not on the order the files were read in (ties, i.e. identical records, by position).
Records tagged `unassigned` are never chosen.

`coverage` counts records per main and per (main, secondary) category, unassigned included.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass

from vlforge.taxonomy.tree import UNASSIGNED, Taxonomy, load_taxonomy

LEVELS = ("main", "secondary")


@dataclass
class Selection:
    records: list[dict]  # chosen records, grouped by category in taxonomy order
    counts: dict[str, int]  # category -> records chosen
    available: dict[str, int]  # category -> records there were to choose from


def category_names(taxonomy: Taxonomy, level: str, include_all: bool) -> list[str]:
    """The categories to balance over, in taxonomy order (display names)."""
    mains = taxonomy.mains if include_all else taxonomy.human_eval_mains()
    if level == "main":
        return [m.name for m in mains]
    return [s.name for m in mains for s in m.secondaries]


def _rank(record: dict, seed: int) -> str:
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{seed}\0{canonical}".encode()).hexdigest()


def balanced_sample(records: list[dict], per_category: int, seed: int = 0, level: str = "main",
                    include_all: bool = False, taxonomy: Taxonomy | None = None) -> Selection:
    taxonomy = taxonomy or load_taxonomy()
    names = category_names(taxonomy, level, include_all)
    groups: dict[str, list[tuple[str, int, dict]]] = {name: [] for name in names}
    for position, record in enumerate(records):
        label = record["taxonomy"].get(level)
        if label in groups:
            groups[label].append((_rank(record, seed), position, record))
    chosen, counts = [], {}
    for name in names:
        picked = sorted(groups[name], key=lambda entry: entry[:2])[:per_category]
        chosen += [record for _, _, record in picked]
        counts[name] = len(picked)
    return Selection(chosen, counts, {name: len(group) for name, group in groups.items()})


def coverage(records: list[dict], taxonomy: Taxonomy | None = None) -> dict:
    """{"total", "main": {name: n}, "secondary": {"Main / Secondary": n}} in taxonomy order,
    every category listed (zeros too) and `unassigned` last."""
    taxonomy = taxonomy or load_taxonomy()
    mains = Counter(r["taxonomy"]["main"] for r in records)
    pairs = Counter((r["taxonomy"]["main"], r["taxonomy"]["secondary"]) for r in records)
    main_counts = {m.name: mains.get(m.name, 0) for m in taxonomy.mains}
    main_counts[UNASSIGNED] = mains.get(UNASSIGNED, 0)
    secondary_counts = {}
    for m in taxonomy.mains:
        for s in m.secondaries:
            secondary_counts[f"{m.name} / {s.name}"] = pairs.get((m.name, s.name), 0)
        label = f"{m.name} / {UNASSIGNED}" if m.secondaries else f"{m.name} / -"
        secondary_counts[label] = pairs.get((m.name, UNASSIGNED if m.secondaries else None), 0)
    secondary_counts[UNASSIGNED] = mains.get(UNASSIGNED, 0)
    return {"total": len(records), "main": main_counts, "secondary": secondary_counts}
