"""Mixing language and multimodal examples into batches: ratio, modality warm-up, grouping, packing.

The stream, one step at a time (`next(batches)` on every rank):

    step s -> language share p(s): 1.0 at s = 0, the target (7:3 -> 0.7) from s = warmup_steps
           -> grouped:   ONE draw u ~ U(0,1) from an RNG seeded by (seed, s) alone, so every
                         rank gets the same u: the whole global step is language (u < p) or
                         multimodal, and all ranks run (or skip) the vision tower together
              ungrouped: one draw per example from an RNG seeded by (seed, s, rank)
           -> examples from that modality's sources (several sources of one modality, and the
              optional SFT share, are chosen per example by weight, same per-rank RNG)
           -> collate: padded to the longest example, or packed into seq_len rows

With grouping the ratio is a ratio of steps: of sequences when unpacked, of packed rows
(about tokens) when packing.

Every draw comes from an RNG rebuilt from (seed, step[, rank]), so the step number is the
whole RNG state; with the sources' positions and the packer's carried-over example it is
the exact data position (`state_dict`).

What a batch holds (a dict):

    input_ids       long [B, L]   right-padded with pad_id
    labels          long [B, L]   aligned with input_ids, -100 = not supervised (the model
                                  shifts them for next-token prediction)
    attention_mask  unpacked: long [B, L], 1 = real token, 0 = padding
                    packed:   None; the document boundaries are in position_ids
    position_ids    packed: long [B, L], 0.. restarting at every example (0 on padding, so
                    each padding token is a document of its own); unpacked: None (the model
                    counts 0..L-1). transformers reads restarting position ids without a
                    mask as packed documents (masking_utils.find_packed_sequence_indices):
                    flex attention gets a BlockMask, SDPA a mask it builds itself; the
                    collator never builds a [B, 1, L, L] mask
    segment_ids     packed: long [B, L], 1, 2, ... per example in the row, 0 on padding (for
                    varlen kernels that take segments); else None
    pixel_values    float [N, 3, S, S], the images of all examples in row order (the order
                    of their image-token runs in the flattened batch), normalised by the
                    model's image processor; None when the batch has no image (every
                    language batch)
    high_res_pixel_values  float [N, 3, H, H], the hybrid model's SAM input; else None
    modality        "language" | "multimodal" ("mixed" only when grouping is off)
    keys            the example keys, in order (language chunks end in "#n")
    num_tokens      real (non-padding) tokens
    num_targets     supervised next-token targets (labels != -100 past each example's
                    first position): what a summed loss should be divided by
    step            the step this batch belongs to

Packing: rows are filled in order; an example that does not fit the rest of the row opens
the next row, and when the batch is full it waits (whole, never split) for the next step
of its modality. The first label of every packed example is -100: its prediction would come
from the previous example's last token, and unpacked that label is never used anyway, so
packed and unpacked batches train on exactly the same targets.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vlforge.trainer.chat_format import IGNORE_INDEX
from vlforge.trainer.data import MODALITIES, Example, ShardSource
from vlforge.trainer.images import preprocess_image

WARMUP_SHAPES = ("linear", "cosine", "step")
PIXEL_KEYS = ("pixel_values", "high_res_pixel_values")
# Tags that keep the independent RNG streams of one step apart.
_GLOBAL_STREAM, _RANK_STREAM = 0, 1


def target_share(ratio: float | tuple[float, float] | list[float]) -> float:
    """Language share from a share in [0, 1] or a language:multimodal pair such as (7, 3)."""
    if isinstance(ratio, (tuple, list)):
        language, multimodal = (float(r) for r in ratio)
        share = language / (language + multimodal)
    else:
        share = float(ratio)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"language share must lie in [0, 1], got {share}")
    return share


def language_share(step: int, target: float, warmup_steps: int, shape: str = "linear") -> float:
    """Modality warm-up: 1.0 at step 0, `target` from warmup_steps on.

    linear: straight line; cosine: half cosine (slow start and end); step: 1.0 until
    warmup_steps, then the target at once.
    """
    if shape not in WARMUP_SHAPES:
        raise ValueError(f"warmup shape must be one of {WARMUP_SHAPES}, not {shape!r}")
    if step >= warmup_steps:
        return target
    progress = step / warmup_steps
    if shape == "linear":
        return 1.0 - (1.0 - target) * progress
    if shape == "cosine":
        return target + (1.0 - target) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


class Collator:
    """Examples -> tensors. Images go through the model's image processor here, in a thread
    pool when image_workers > 0 (PIL releases the GIL while decoding and resizing; order is
    kept, so output is the same)."""

    def __init__(self, pad_id: int, processor, image_workers: int = 0):
        self.pad_id, self.processor = pad_id, processor
        self._pool = ThreadPoolExecutor(image_workers, thread_name_prefix="images") if image_workers else None

    def pixel_values(self, examples: list[Example]) -> dict[str, torch.Tensor | None]:
        """{"pixel_values", "high_res_pixel_values"}: stacked, or None (no image, or the
        SigLIP-only model's high-res input)."""
        images = [image for example in examples for image in example.images]
        found: dict[str, torch.Tensor | None] = dict.fromkeys(PIXEL_KEYS)
        if not images:
            return found
        work = self._preprocess
        prepared = list(self._pool.map(work, images)) if self._pool else [work(i) for i in images]
        for key in prepared[0]:
            found[key] = torch.stack([p[key] for p in prepared])
        return found

    def _preprocess(self, data: bytes) -> dict[str, torch.Tensor]:
        return preprocess_image(data, self.processor)

    def padded(self, examples: list[Example]) -> dict[str, Any]:
        length = max(len(e) for e in examples)
        input_ids = torch.full((len(examples), length), self.pad_id, dtype=torch.long)
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        attention_mask = torch.zeros_like(input_ids)
        for row, example in enumerate(examples):
            input_ids[row, :len(example)] = torch.tensor(example.input_ids)
            labels[row, :len(example)] = torch.tensor(example.labels)
            attention_mask[row, :len(example)] = 1
        return self._finish(examples, input_ids, labels, attention_mask, None, None,
                            targets=int((labels[:, 1:] != IGNORE_INDEX).sum()))

    def packed(self, rows: list[list[Example]], seq_len: int) -> dict[str, Any]:
        input_ids = torch.full((len(rows), seq_len), self.pad_id, dtype=torch.long)
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        position_ids, segment_ids = torch.zeros_like(input_ids), torch.zeros_like(input_ids)
        for r, row in enumerate(rows):
            start = 0
            for segment, example in enumerate(row, start=1):
                end = start + len(example)
                input_ids[r, start:end] = torch.tensor(example.input_ids)
                labels[r, start + 1:end] = torch.tensor(example.labels[1:])
                position_ids[r, start:end] = torch.arange(len(example))
                segment_ids[r, start:end] = segment
                start = end
        examples = [example for row in rows for example in row]
        return self._finish(examples, input_ids, labels, None, position_ids, segment_ids,
                            targets=int((labels != IGNORE_INDEX).sum()))

    def _finish(self, examples, input_ids, labels, attention_mask, position_ids, segment_ids, targets) -> dict:
        modalities = {e.modality for e in examples}
        return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask,
                "position_ids": position_ids, "segment_ids": segment_ids,
                **self.pixel_values(examples),
                "modality": modalities.pop() if len(modalities) == 1 else "mixed",
                "keys": [e.key for e in examples], "num_tokens": sum(len(e) for e in examples),
                "num_targets": targets}

    def close(self) -> None:
        if self._pool:
            self._pool.shutdown()


@dataclass
class _Channel:
    name: str  # "language/0", "multimodal/sft", ...: the key of its position in state_dict
    modality: str
    source: ShardSource
    weight: float


@dataclass
class _Taken:
    example: Example
    channel: str
    state_before: dict  # the channel's position before this example: a carried-over
    #                     example is restored by re-reading from here


def _as_weighted(value) -> list[tuple[ShardSource, float]]:
    if isinstance(value, ShardSource):
        return [(value, 1.0)]
    return [(source, float(weight)) for source, weight in value]


class MixedBatches:
    """Endless batches for one rank; see the module notes for the stream and the batch dict.

    processor: the model's image processor (`images.image_processor`).
    sources: {"language": S, "multimodal": S}, S a ShardSource or [(ShardSource, weight), ...]
    (one modality may be absent: stage 1 is multimodal only). batch_size is per rank: examples
    per batch, or rows of seq_len tokens when packing. sft_sources ({"language": ShardSource,
    "multimodal": ShardSource}) with sft_share > 0 replaces that share of each modality's
    examples with SFT examples of the same modality (stage 2's "small share of SFT data").
    """

    def __init__(self, sources: dict, *, batch_size: int, pad_id: int, processor,
                 ratio: float | tuple[float, float] = (7, 3),
                 warmup_steps: int = 0, warmup_shape: str = "linear", group_by_modality: bool = True,
                 packing: bool = False, seq_len: int = 4096, seed: int = 0, rank: int = 0,
                 world_size: int = 1, sft_sources: dict | None = None, sft_share: float = 0.0,
                 image_workers: int = 0, batches_per_step: int = 1):
        if batch_size < 1 or batches_per_step < 1:
            raise ValueError("batch_size and batches_per_step must be at least 1")
        # Micro-batches that make one optimizer step (gradient accumulation): the modality and
        # the warm-up go by optimizer step, so a grouped step is one modality all through.
        self.batches_per_step = batches_per_step
        language_share(0, 1.0, warmup_steps, warmup_shape)  # validates the shape
        self.batch_size, self.packing, self.seq_len = batch_size, packing, seq_len
        self.group_by_modality, self.seed, self.rank = group_by_modality, seed, rank
        self.warmup_steps, self.warmup_shape = warmup_steps, warmup_shape
        self.channels = self._channels(sources, sft_sources or {}, sft_share, rank, world_size)
        present = {c.modality for c in self.channels}
        # With one modality only there is nothing to mix or warm up.
        self.target = target_share(ratio) if len(present) == 2 else float("language" in present)
        self._mixing = len(present) == 2
        self.collator = Collator(pad_id, processor, image_workers)
        self.step = 0
        self._pending: dict[str, _Taken] = {}  # per modality: the example carried to its next batch

    @staticmethod
    def _channels(sources, sft_sources, sft_share, rank, world_size) -> list[_Channel]:
        unknown = set(sources) - set(MODALITIES) or set(sft_sources) - set(MODALITIES)
        if unknown or not sources:
            raise ValueError(f"sources are keyed by modality {MODALITIES}, got {sorted(sources)}")
        if not 0.0 <= sft_share < 1.0:
            raise ValueError("sft_share must lie in [0, 1)")
        channels = []
        for modality, value in sources.items():
            weighted = _as_weighted(value)
            keep = 1.0 - sft_share if modality in sft_sources and sft_share else 1.0
            channels += [_Channel(f"{modality}/{i}", modality, s, w * keep) for i, (s, w) in enumerate(weighted)]
            if sft_share and modality in sft_sources:
                channels.append(_Channel(f"{modality}/sft", modality, sft_sources[modality], sft_share))
        for channel in channels:
            source = channel.source
            if (source.rank, source.world_size) != (rank, world_size):
                raise ValueError(f"{channel.name}: source is rank {source.rank}/{source.world_size}, "
                                 f"batches are rank {rank}/{world_size}")
            if source.modality not in (None, channel.modality):
                raise ValueError(f"{channel.name}: a {source.modality} source under {channel.modality}")
        if len({id(c.source) for c in channels}) != len(channels):
            raise ValueError("each source may feed one channel only (their positions are saved apart)")
        return channels

    # --- drawing ---------------------------------------------------------------------------

    def share_at(self, step: int) -> float:
        if not self._mixing:
            return self.target
        return language_share(step, self.target, self.warmup_steps, self.warmup_shape)

    def modality_at(self, step: int) -> str:
        """The modality of a grouped optimizer step: the same on every rank (no rank in the
        seed) and for each of its batches_per_step micro-batches."""
        u = np.random.default_rng([self.seed, step, _GLOBAL_STREAM]).random()
        return "language" if u < self.share_at(step) else "multimodal"

    def _picker(self, step: int, draws: np.random.Generator):
        if self.group_by_modality:
            modality = self.modality_at(step)
            return lambda: modality
        share = self.share_at(step)
        return lambda: "language" if draws.random() < share else "multimodal"

    def _take(self, modality: str, draws: np.random.Generator) -> _Taken:
        if modality in self._pending:
            return self._pending.pop(modality)
        channels = [c for c in self.channels if c.modality == modality]
        weights = np.array([c.weight for c in channels])
        channel = channels[0] if len(channels) == 1 else \
            channels[int(np.searchsorted(np.cumsum(weights / weights.sum()), draws.random(), side="right"))]
        before = channel.source.state_dict()
        example = next(channel.source)
        if example.modality != modality:
            raise ValueError(f"{channel.name} gave a {example.modality} example ({example.key})")
        return _Taken(example, channel.name, before)

    # --- batches ---------------------------------------------------------------------------

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, Any]:
        draws = np.random.default_rng([self.seed, self.step, _RANK_STREAM, self.rank])
        pick = self._picker(self.step // self.batches_per_step, draws)
        if self.packing:
            batch = self.collator.packed(self._rows(pick, draws), self.seq_len)
        else:
            batch = self.collator.padded([self._take(pick(), draws).example for _ in range(self.batch_size)])
        batch["step"] = self.step
        self.step += 1
        return batch

    def _rows(self, pick, draws) -> list[list[Example]]:
        rows, row, used = [], [], 0
        while True:
            modality = pick()
            taken = self._take(modality, draws)
            size = len(taken.example)
            if size > self.seq_len:
                raise ValueError(f"{taken.example.key}: {size} tokens > seq_len {self.seq_len}; "
                                 "give the encoder max_seq_len <= seq_len")
            if used + size <= self.seq_len:
                row.append(taken.example)
                used += size
                continue
            rows.append(row)
            if len(rows) == self.batch_size:
                self._pending[modality] = taken
                return rows
            row, used = [taken.example], size

    # --- position --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "seed": self.seed, "rank": self.rank,
                "sources": {c.name: c.source.state_dict() for c in self.channels},
                "pending": {m: {"channel": t.channel, "state_before": t.state_before}
                            for m, t in self._pending.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state["seed"], state["rank"]) != (self.seed, self.rank):
            raise ValueError(f"data position of seed {state['seed']} rank {state['rank']} loaded into "
                             f"seed {self.seed} rank {self.rank}")
        by_name = {c.name: c for c in self.channels}
        if set(state["sources"]) != set(by_name):
            raise ValueError(f"saved sources {sorted(state['sources'])} != {sorted(by_name)}")
        self._pending = {}
        for modality, saved in state["pending"].items():
            source = by_name[saved["channel"]].source
            source.load_state_dict(saved["state_before"])
            self._pending[modality] = _Taken(next(source), saved["channel"], saved["state_before"])
        for name, source_state in state["sources"].items():
            by_name[name].source.load_state_dict(source_state)
        self.step = state["step"]

    def skipped(self) -> dict[str, int]:
        """Records this rank read that gave no example, by reason (ShardSource.skipped), so a
        run can say what it left out instead of dropping it silently."""
        total: dict[str, int] = {}
        for channel in self.channels:
            for reason, count in channel.source.skipped.items():
                total[reason] = total.get(reason, 0) + count
        return total

    def close(self) -> None:
        self.collator.close()
        for channel in self.channels:
            channel.source.close()
