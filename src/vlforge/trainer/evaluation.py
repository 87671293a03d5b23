"""Multiple-choice perplexity evaluation, and a generator for a small set from our shards.

The set is JSONL, one item a line:
    {"id": "...", "image": "images/KEY.png" | null, "question": "...",
     "options": ["...", "..."], "answer": 0, "system": ""}
`image` is relative to the JSONL file's folder; `system` is optional (absent: the
chat format's default system prompt). A question without `<image_placeholder>` gets one in
front when the item has an image.

Scoring, per item (the paper's "multi-choice PPL"): for every option, the prompt
(chat format, image tokens included) followed by " {option}"; the option's tokens are scored
by their mean log-probability given everything before them, i.e. -log PPL. The option
with the lowest perplexity is the model's answer. The prompt is `chat_format.encode_prompt`,
so prompt + option is token for token what training supervises.

Under FSDP every rank must make the same forward calls, and the vision tower runs only for
items with an image: items are split by modality, then dealt to the ranks in rounds of
world_size; a rank with no item left in a round scores a stand-in of the same modality and
ignores it. Counts are summed over ranks.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vlforge.errors import VlforgeError
from vlforge.shards.reader import find_shards, iter_samples, sample_image, sample_text
from vlforge.trainer.chat_format import DEFAULT_SYSTEM_PROMPT, IGNORE_INDEX, encode_prompt
from vlforge.trainer.data import INSTRUCTIONS, content_digest, pick_instruction
from vlforge.trainer.distributed import DistEnv, all_reduce_sum
from vlforge.trainer.images import image_processor, preprocess_image
from vlforge.trainer.model import sequence_logprob
from vlforge.trainer.tokenizer import IMAGE_TOKEN, encode_text


@dataclass(frozen=True)
class McItem:
    id: str
    image: bytes | None
    question: str
    options: tuple[str, ...]
    answer: int
    system: str = DEFAULT_SYSTEM_PROMPT


# --- the set on disk -----------------------------------------------------------------------


def load_mc_set(path: str | Path, max_items: int = 0) -> list[McItem]:
    """Items of a JSONL set (the first max_items when > 0), images read into memory."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise VlforgeError(f"cannot read multiple-choice set {path}: {exc.strerror}") from None
    items = [_item(json.loads(line), path, n) for n, line in enumerate(lines, 1) if line.strip()]
    if not items:
        raise VlforgeError(f"{path}: no multiple-choice items")
    return items[:max_items] if max_items else items


def _item(row: dict, path: Path, line: int) -> McItem:
    where = f"{path}:{line}"
    options = row.get("options")
    if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) and o for o in options):
        raise VlforgeError(f"{where}: `options` must be a list of at least two non-empty strings")
    answer = row.get("answer")
    if not isinstance(answer, int) or not 0 <= answer < len(options):
        raise VlforgeError(f"{where}: `answer` must be the index of the right option (0..{len(options) - 1})")
    image = None
    if row.get("image"):
        image_path = path.parent / row["image"]
        if not image_path.is_file():
            raise VlforgeError(f"{where}: image {image_path} not found")
        image = image_path.read_bytes()
    question = str(row.get("question", ""))
    if image is not None and IMAGE_TOKEN not in question:
        question = f"{IMAGE_TOKEN}\n{question}"
    return McItem(str(row.get("id", line)), image, question, tuple(options), answer,
                  str(row.get("system", DEFAULT_SYSTEM_PROMPT)))


def make_mc_set(shards, out_path: str | Path, *, items: int = 8, options: int = 4, seed: int = 0,
                answer_chars: int = 48) -> Path:
    """A set from image + text pairs in our shards: which text goes with this image?

    Each item is one pair: its question is the captioning instruction the trainer uses for
    that pair, its right option the first `answer_chars` characters of the pair's own text,
    the others the same cut of other pairs' texts. A model trained on the pairs ranks its
    own text first; an untrained one is at chance (1/options). Images are copied next to the
    JSONL under images/. `system` is "" as in the trainer's captioning-style pairs.
    """
    pairs = _image_text_pairs(shards, answer_chars)
    if len(pairs) < options:
        raise VlforgeError(f"{shards}: {len(pairs)} image + text pairs with distinct texts; "
                           f"{options} options need at least {options}")
    rng = random.Random(seed)
    chosen = rng.sample(pairs, min(items, len(pairs)))
    out_path = Path(out_path)
    (out_path.parent / "images").mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        for pair in chosen:
            f.write(json.dumps(_mc_row(pair, pairs, options, rng, out_path.parent), ensure_ascii=False) + "\n")
    return out_path


@dataclass(frozen=True)
class _Pair:
    key: str
    image: bytes
    image_ext: str
    snippet: str
    text_kind: str
    content: str  # data.content_digest of the text and image: picks the instruction as training does


def _image_text_pairs(shards, answer_chars: int) -> list[_Pair]:
    """Pairs with a distinct snippet each (a repeated snippet could not tell pairs apart)."""
    shards = [shards] if isinstance(shards, (str, Path)) else shards
    by_snippet: dict[str, _Pair] = {}
    for shard in sorted({s for p in shards for s in find_shards(p)}):
        for sample in iter_samples(shard):
            pair = _as_pair(sample, answer_chars)
            if pair is not None:
                by_snippet.setdefault(pair.snippet, pair)
    # By snippet, not key: keys name the input files' absolute paths, and the set must be the
    # same for the same pairs wherever their job ran.
    return sorted(by_snippet.values(), key=lambda p: p.snippet)


def _as_pair(sample: dict, answer_chars: int) -> _Pair | None:
    image, text = sample_image(sample), sample_text(sample)
    if image is None or text is None or text[0] not in INSTRUCTIONS:
        return None
    (image_ext, image_bytes), (text_kind, text) = image, text
    snippet = re.sub(r"\s+", " ", text).strip()[:answer_chars].strip()
    if not snippet:
        return None
    return _Pair(sample["__key__"], image_bytes, image_ext, snippet, text_kind, content_digest(text, image_bytes))


def _mc_row(pair: _Pair, pairs: list[_Pair], options: int, rng: random.Random, folder: Path) -> dict:
    others = rng.sample([p.snippet for p in pairs if p.key != pair.key], options - 1)
    answer = rng.randrange(options)
    texts = others[:answer] + [pair.snippet] + others[answer:]
    image_name = f"images/{pair.key}.{pair.image_ext}"
    (folder / image_name).write_bytes(pair.image)
    return {"id": pair.key, "image": image_name, "answer": answer, "options": texts, "system": "",
            "question": f"{IMAGE_TOKEN}\n{pick_instruction(pair.content, pair.text_kind)}"}


# --- scoring -------------------------------------------------------------------------------


def option_batch(item: McItem, tokenizer, num_image_tokens: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, labels, attention_mask) [n_options, T]: prompt + option, right-padded;
    labels mark the option's tokens only."""
    prompt = encode_prompt(tokenizer, item.question, num_image_tokens, system_prompt=item.system)
    rows = [(prompt + ids, [IGNORE_INDEX] * len(prompt) + ids)
            for ids in (encode_text(tokenizer, " " + option) for option in item.options)]
    length = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), length), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    mask = torch.zeros_like(input_ids)
    for r, (ids, labs) in enumerate(rows):
        input_ids[r, :len(ids)], labels[r, :len(ids)], mask[r, :len(ids)] = torch.tensor(ids), torch.tensor(labs), 1
    return input_ids, labels, mask


def choose(model: nn.Module, item: McItem, tokenizer, model_config, device: torch.device, processor=None) -> int:
    """The index of the option with the lowest perplexity (highest mean log-probability).

    model_config: the preset's ModelConfig; processor: its image processor (made when None).
    """
    input_ids, labels, mask = option_batch(item, tokenizer, model_config.num_image_tokens)
    inputs = {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}
    if item.image is not None:
        pixels = preprocess_image(item.image, processor or image_processor(model_config))
        inputs.update({key: value.unsqueeze(0).expand(len(item.options), -1, -1, -1).to(device)
                       for key, value in pixels.items()})
    return int(torch.argmax(sequence_logprob(model, inputs, labels.to(device))))


def rank_schedule(items: list[McItem], rank: int, world_size: int) -> list[tuple[int, bool]]:
    """(item index, counts) per forward call of this rank; same call count and modality
    sequence on every rank, each item counted on exactly one rank."""
    calls = []
    for with_image in (True, False):
        group = [i for i, item in enumerate(items) if (item.image is not None) == with_image]
        for start in range(0, len(group), world_size):
            chunk = group[start:start + world_size]
            calls.append((chunk[rank], True) if rank < len(chunk) else (chunk[0], False))
    return calls


def evaluate_mc(model: nn.Module, items: list[McItem], tokenizer, model_config, env: DistEnv) -> dict:
    """{"accuracy", "items", "correct"} over all ranks; every rank must call it.
    model_config: the preset's ModelConfig (image tokens, image processor)."""
    correct = counted = 0
    processor = image_processor(model_config)
    for index, counts in rank_schedule(items, env.rank, env.world_size):
        right = choose(model, items[index], tokenizer, model_config, env.device, processor) == items[index].answer
        if counts:
            correct, counted = correct + int(right), counted + 1
    correct, counted = (int(v) for v in all_reduce_sum([correct, counted], env.device))
    return {"accuracy": correct / max(counted, 1), "items": counted, "correct": correct}


def main(argv: list[str] | None = None) -> int:
    """`python -m vlforge.trainer.evaluation SHARDS... --output FILE`: write a set."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m vlforge.trainer.evaluation",
                                     description="Write a multiple-choice set from image + text shards.")
    parser.add_argument("shards", nargs="+", help="shard files or directories of image + text pairs")
    parser.add_argument("--output", "-o", required=True, help="JSONL file (images go beside it, in images/)")
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--options", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        path = make_mc_set(args.shards, args.output, items=args.items, options=args.options, seed=args.seed)
    except VlforgeError as exc:
        print(f"vlforge: error: {exc}", file=sys.stderr)
        return 2
    print(f"{sum(1 for _ in open(path, encoding='utf-8'))} items written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
