"""Janus batches: understanding, text and generation examples mixed within every step.

The spec mixes all data types inside one training step by a fixed ratio. Each batch has
`batch_size` slots; slot kinds are drawn from the ratio (understanding : text : generation)
with an RNG seeded by (seed, batch number) alone, so every rank has the same kinds in the
same slots (the vision tower runs on all ranks or on none, as FSDP needs) and different
examples (each source reads its own rank's slice of the shards).

A slot kind may have more than one source: understanding slots read the captions
(`understanding`) and the SFT conversations with images (`conversations`), text slots the
text shards (`text`) and the conversations without one (`text_conversations`). A slot draws
one of its kind's sources in proportion to their records (as if the shards were one pool),
from the same per-batch RNG, so the choice too is the same on every rank.

Generation curriculum (stage II): before optimizer step `switch_step` generation slots read
the ImageNet-style class-name shards (`imagenet`), from then on the open-domain captions
(`generation`); without class-name shards, captions throughout.

A batch (dict) is mixing.Collator's padded batch plus
    image_ids   long [B, L]: the VQ id at generation-image positions, -100 elsewhere
    kinds       the slot kinds in order
    num_targets text targets + image targets (positions 1.. of labels and image_ids)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vlforge.trainer.chat_format import IGNORE_INDEX
from vlforge.trainer.data import Example, ShardSource
from vlforge.trainer.mixing import Collator

RATIO_KINDS = ("understanding", "text", "generation")
# The sources that feed understanding and text slots (generation: the curriculum's one).
SLOT_SOURCES = {"understanding": ("understanding", "conversations"), "text": ("text", "text_conversations")}


class JanusCollator(Collator):
    def padded(self, examples: list[Example]) -> dict[str, Any]:
        batch = super().padded(examples)
        image_ids = torch.full_like(batch["input_ids"], IGNORE_INDEX)
        for row, example in enumerate(examples):
            if example.image_ids is not None:
                image_ids[row, :len(example)] = torch.tensor(example.image_ids)
        batch["image_ids"] = image_ids
        batch["num_targets"] += int((image_ids[:, 1:] != IGNORE_INDEX).sum())
        return batch


def ratio_shares(ratio) -> np.ndarray:
    """[understanding, text, generation] parts -> shares summing to 1."""
    try:
        parts = np.array([float(p) for p in ratio], dtype=float)
    except (TypeError, ValueError):
        parts = np.zeros(0)
    if parts.shape != (3,) or (parts < 0).any() or parts.sum() <= 0:
        raise ValueError(f"the Janus ratio needs three non-negative parts (understanding, text, "
                         f"generation) with a positive sum, not {ratio!r}")
    return parts / parts.sum()


class JanusBatches:
    """Endless Janus batches for one rank (one batch = one micro-batch).

    sources: {"understanding": S, "conversations": S, "text": S, "text_conversations": S,
    "generation": S, "imagenet": S}, any may be missing as long as every kind with a positive
    ratio part has a source.
    """

    def __init__(self, sources: dict[str, ShardSource], *, ratio, batch_size: int, pad_id: int, processor,
                 switch_step: int = 0, seed: int = 0, batches_per_step: int = 1, image_workers: int = 0):
        if batch_size < 1 or batches_per_step < 1:
            raise ValueError("batch_size and batches_per_step must be at least 1")
        self.shares = ratio_shares(ratio)
        self.sources = dict(sources)
        for kind, share in zip(RATIO_KINDS, self.shares, strict=True):
            if share > 0 and not self._has(kind):
                raise ValueError(f"the ratio gives {kind} examples a share but no shards feed them")
        self.batch_size, self.seed, self.batches_per_step = batch_size, seed, batches_per_step
        self.switch_step = switch_step
        self.collator = JanusCollator(pad_id, processor, image_workers)
        self.step = 0

    def _has(self, kind: str) -> bool:
        if kind == "generation":
            return "generation" in self.sources or "imagenet" in self.sources
        return any(name in self.sources for name in SLOT_SOURCES[kind])

    def generation_source(self, optimizer_step: int) -> str:
        """Which source feeds generation slots at an optimizer step (the curriculum)."""
        if "imagenet" in self.sources and (optimizer_step < self.switch_step or "generation" not in self.sources):
            return "imagenet"
        return "generation"

    def slots_at(self, batch: int) -> tuple[list[str], list[str]]:
        """The slot kinds of a batch and the source each slot reads: the same on every rank
        (no rank in the seed; source sizes are records per rank, equal on all ranks)."""
        rng = np.random.default_rng([self.seed, batch])
        draws, source_draws = rng.random(self.batch_size), rng.random(self.batch_size)
        picks = np.searchsorted(np.cumsum(self.shares), draws, side="right").clip(max=2)
        kinds = [RATIO_KINDS[int(i)] for i in picks]
        generation = self.generation_source(batch // self.batches_per_step)
        names = [generation if kind == "generation" else self._pick(kind, u)
                 for kind, u in zip(kinds, source_draws, strict=True)]
        return kinds, names

    def _pick(self, kind: str, u: float) -> str:
        names = [name for name in SLOT_SOURCES[kind] if name in self.sources]
        sizes = np.cumsum([len(self.sources[name]) for name in names], dtype=float)
        return names[min(int(np.searchsorted(sizes / sizes[-1], u, side="right")), len(names) - 1)]

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, Any]:
        kinds, names = self.slots_at(self.step)
        examples = [next(self.sources[name]) for name in names]
        batch = self.collator.padded(examples)
        batch.update(step=self.step, kinds=kinds, modality="mixed" if len(set(kinds)) > 1 else kinds[0])
        self.step += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "seed": self.seed,
                "sources": {name: source.state_dict() for name, source in self.sources.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["seed"] != self.seed or set(state["sources"]) != set(self.sources):
            raise ValueError(f"data position of seed {state['seed']} with sources {sorted(state['sources'])} "
                             f"loaded into seed {self.seed} with {sorted(self.sources)}")
        for name, source_state in state["sources"].items():
            self.sources[name].load_state_dict(source_state)
        self.step = state["step"]

    def skipped(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for source in self.sources.values():
            for reason, count in source.skipped.items():
                total[reason] = total.get(reason, 0) + count
        return total

    def close(self) -> None:
        self.collator.close()
        for source in self.sources.values():
            source.close()
