"""The DeepSeek-VL use-case taxonomy (Table 3), loaded from `data/taxonomy.json`.

The JSON file is the single source of the tree: English and Chinese names, descriptions,
and which seven main categories make the paper's human-evaluation set. Everything else in
`vlforge.taxonomy` (prompt set, tagger labels, sampling, reports) reads it through
`load_taxonomy()`.

Shape: main -> secondary -> items. Evaluation and Safety have no secondary level, so their
items hang off the main category; Humor Reasoning is a secondary with no items.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from vlforge.errors import VlforgeError

UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class Item:
    id: str
    name: str
    name_zh: str
    path: str  # "main/secondary/item" or "main/item" where there is no secondary level


@dataclass(frozen=True)
class Secondary:
    id: str
    name: str
    name_zh: str
    description: str
    description_zh: str
    main: str  # main category id
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Main:
    id: str
    name: str
    name_zh: str
    description: str
    description_zh: str
    human_eval: bool
    secondaries: tuple[Secondary, ...]
    items: tuple[Item, ...]  # only for mains with no secondary level


@dataclass(frozen=True)
class Taxonomy:
    mains: tuple[Main, ...]

    @functools.cached_property
    def secondaries(self) -> tuple[Secondary, ...]:
        return tuple(s for m in self.mains for s in m.secondaries)

    @functools.cached_property
    def items(self) -> tuple[Item, ...]:
        return tuple(i for m in self.mains for i in (*m.items, *(i for s in m.secondaries for i in s.items)))

    @functools.cached_property
    def _by_id(self) -> dict[str, Main | Secondary]:
        return {node.id: node for node in (*self.mains, *self.secondaries)}

    def main(self, id_or_name: str) -> Main:
        node = self._lookup(id_or_name)
        if not isinstance(node, Main):
            raise VlforgeError(f"{id_or_name!r} is a secondary category, not a main one")
        return node

    def secondary(self, id_or_name: str) -> Secondary:
        node = self._lookup(id_or_name)
        if not isinstance(node, Secondary):
            raise VlforgeError(f"{id_or_name!r} is a main category, not a secondary one")
        return node

    def _lookup(self, id_or_name: str) -> Main | Secondary:
        if id_or_name in self._by_id:
            return self._by_id[id_or_name]
        for node in self._by_id.values():
            if id_or_name in (node.name, node.name_zh):
                return node
        raise VlforgeError(f"no category {id_or_name!r} in the taxonomy; main categories: "
                           f"{', '.join(m.name for m in self.mains)}")

    def name_of(self, label_id: str, lang: str = "en") -> str:
        """Display name of a main or secondary id; `unassigned` stays as it is."""
        if label_id == UNASSIGNED:
            return UNASSIGNED
        node = self._by_id[label_id]
        return node.name_zh if lang == "zh" else node.name

    def human_eval_mains(self) -> tuple[Main, ...]:
        return tuple(m for m in self.mains if m.human_eval)


def _items(raw: list[dict], parent_path: str) -> tuple[Item, ...]:
    return tuple(Item(i["id"], i["name"], i["name_zh"], f"{parent_path}/{i['id']}") for i in raw)


def _secondary(raw: dict, main_id: str) -> Secondary:
    return Secondary(raw["id"], raw["name"], raw["name_zh"], raw["description"], raw["description_zh"],
                     main_id, _items(raw["items"], f"{main_id}/{raw['id']}"))


def _main(raw: dict) -> Main:
    return Main(raw["id"], raw["name"], raw["name_zh"], raw["description"], raw["description_zh"],
                bool(raw["human_eval"]), tuple(_secondary(s, raw["id"]) for s in raw["secondary"]),
                _items(raw["items"], raw["id"]))


def parse_taxonomy(document: dict) -> Taxonomy:
    taxonomy = Taxonomy(tuple(_main(m) for m in document["main"]))
    ids = [node.id for node in (*taxonomy.mains, *taxonomy.secondaries)]
    if len(ids) != len(set(ids)) or UNASSIGNED in ids:
        raise VlforgeError("taxonomy ids of main and secondary categories must be unique")
    return taxonomy


@functools.cache
def load_taxonomy() -> Taxonomy:
    """The packaged tree (read once per process)."""
    text = resources.files("vlforge.taxonomy").joinpath("data/taxonomy.json").read_text("utf-8")
    return parse_taxonomy(json.loads(text))
