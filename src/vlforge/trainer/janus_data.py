"""Janus training examples from our shards: text, understanding and text-to-image.

The captions corpus (`pipelines/captions.py`) writes one image + caption pair per record:
KEY.png, KEY.txt (the caption, or an ImageNet class name) and in KEY.json's metadata
`kind` ("caption" | "class_name"), `uses`, `first_sentence` and `vq.ids` (576 ids of the
generation view, written by the VQ stage, so training never runs the VQ encoder).

Four kinds of example (labels / image_ids aligned with input_ids, -100 = no target), in
Janus's chat format (`janus_chat`: roles <|User|> / <|Assistant|>, an image as
[boi] <image_placeholder> x 576 [eoi]):

    language       [bos] text [eos], every token a text target (data.ExampleEncoder)
    multimodal     understanding, the SigLIP path
                   stage I (plain):  [bos] IMAGE caption [eos]            (`<image><text>`)
                   stages II, III:   {system}\n\n<|User|>: IMAGE\nDescribe the image in detail.
                                     \n\n<|Assistant|>: caption [eos]
                   caption + eos are the text targets
    conversation   an SFT record of `vlforge run sft` (LLaVA, DeepSeek-VL or ms-swift layout,
                   read by data.conversation_turns), the default system prompt or the
                   record's own; the answers and their eos are the targets. With images it
                   is "multimodal" (understanding), without "language" (text)
    generation     text-to-image, the VQ path
                   stages I, II (plain):  [bos] caption [boi] id_1 .. id_576
                   stage III (chat):      [bos] <|User|>: caption\n\n<|Assistant|>: [boi] id_1 ..
                   (no system prompt, as the release's generation example)
                   image_ids holds the 576 ids at their positions (the only targets: the
                   image head predicts id_k from the position before it); the prompt has none.
                   With probability `first_sentence_share` the caption is cut to its first
                   sentence; with probability `uncond_share` the prompt becomes the
                   unconditional one: every token between bos and boi replaced by pad, the
                   prompt transformers' Janus `generate` feeds the unconditional half of CFG.

Both draws are a hash of (seed, the record's content, epoch, purpose), the content being
`data.content_digest` of the caption and the VQ ids (`Caption.content`), never the key,
which names the input file's absolute path: the same record gets fresh draws each epoch,
every run gets the same ones wherever its shards were written, and a resumed run
continues them exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from tokenizers import AddedToken

from vlforge.errors import VlforgeError
from vlforge.schemas import METADATA_MEMBER
from vlforge.shards.reader import IMAGE_MEMBERS, free_form
from vlforge.trainer.chat_format import DEFAULT_SYSTEM_PROMPT, IGNORE_INDEX, ChatFormatError, Turn
from vlforge.trainer.data import (
    Example,
    ExampleEncoder,
    RecordRef,
    RecordTable,
    ShardSource,
    SkipRecord,
    content_digest,
    conversation_turns,
)
from vlforge.trainer.janus_chat import (
    BOI_TOKEN,
    EOI_TOKEN,
    encode_janus_conversation,
    encode_janus_prompt,
)
from vlforge.trainer.tokenizer import IMAGE_TOKEN, encode_text

DESCRIBE = "Describe the image in detail."
JANUS_KINDS = ("understanding", "generation")


def janus_tokenizer(tokenizer):
    """The tokenizer with Janus's begin/end-of-image tokens added and named (`boi_token`,
    `eoi_token`, as transformers' JanusProcessor reads them). Idempotent."""
    tokens = [AddedToken(t, special=True, normalized=False) for t in (BOI_TOKEN, EOI_TOKEN)]
    tokenizer.add_tokens(tokens, special_tokens=True)
    # transformers 5 names model-specific special tokens through this (add_special_tokens
    # accepts only the standard names); loading a saved folder keeps them.
    tokenizer._set_model_specific_special_tokens(special_tokens={"boi_token": BOI_TOKEN, "eoi_token": EOI_TOKEN})
    return tokenizer


def generation_prompt(tokenizer, text: str, chat: bool) -> list[int]:
    """The words of a text-to-image prompt, without bos: the chat format's user turn up to
    "<|Assistant|>:" with no system prompt (stage III, and sampling), or the text alone."""
    if chat:
        return encode_janus_prompt(tokenizer, text, None, system_prompt="")[1:]
    return encode_text(tokenizer, text)


def cut_at_image(input_ids: list[int], boi: int, span: int, max_len: int) -> int:
    """Where to cut ids to max_len without splitting an image span ([boi] + ids + [eoi],
    `span` long): before the span the cut would fall in."""
    cut = min(len(input_ids), max_len)
    starts = [i for i, token in enumerate(input_ids[:cut]) if token == boi]
    if starts and starts[-1] + span > cut:
        cut = starts[-1]
    return cut


def draw(seed: int, content: str, epoch: int, purpose: str) -> float:
    """A uniform number in [0, 1) fixed by its arguments (`content`: a record's content digest)."""
    digest = hashlib.sha256(f"{seed}/{epoch}/{purpose}/{content}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class Caption:
    """One captions-corpus record as the encoder needs it."""

    key: str
    text: str
    first_sentence: str
    kind: str  # "caption" | "class_name"
    uses: tuple[str, ...]
    vq_ids: tuple[int, ...] | None
    image: bytes | None = None

    @property
    def content(self) -> str:
        """The digest the record's draws hash: its caption and its image's VQ ids (many
        class-name records share a caption; their images tell them apart)."""
        return content_digest(self.text, np.asarray(self.vq_ids or (), dtype=np.int64).tobytes())


def caption_record(key: str, text: str, metadata: dict[str, Any], image: bytes | None) -> Caption:
    vq = metadata.get("vq") or {}
    ids = vq.get("ids")
    return Caption(key, text, str(metadata.get("first_sentence") or text), str(metadata.get("kind", "caption")),
                   tuple(metadata.get("uses") or ("understanding", "generation")),
                   tuple(int(i) for i in ids) if ids is not None else None, image)


@dataclass(frozen=True)
class JanusEncoder:
    """Turns records into Janus examples for one stage (`chat`: stages II-III understanding,
    stage III generation; see the module notes)."""

    tokenizer: Any
    max_seq_len: int
    num_image_tokens: int
    stage: int
    seed: int = 0
    first_sentence_share: float = 0.25
    uncond_share: float = 0.10

    def __post_init__(self) -> None:
        if self.tokenizer.convert_tokens_to_ids(BOI_TOKEN) in (None, self.tokenizer.unk_token_id):
            raise VlforgeError("the tokenizer has no begin-of-image token: pass it through janus_tokenizer")
        if self.max_seq_len < self.num_image_tokens + 32:
            raise VlforgeError(f"max_seq_len={self.max_seq_len} cannot hold an image of {self.num_image_tokens} "
                               "ids with its prompt; give at least num_image_tokens + 32")

    @property
    def boi(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(BOI_TOKEN)

    @property
    def eoi(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(EOI_TOKEN)

    def language(self, key: str, text: str) -> list[Example]:
        return ExampleEncoder(self.tokenizer, self.max_seq_len, self.num_image_tokens).language(key, text)

    def understanding(self, record: Caption) -> list[Example]:
        if "understanding" not in record.uses:
            raise SkipRecord("not_for_understanding")
        if record.image is None:
            raise SkipRecord("no_image")
        if not record.text.strip():
            raise SkipRecord("empty_text")
        if self.stage == 1:
            tok = self.tokenizer
            image = [self.boi] + [tok.image_token_id] * self.num_image_tokens + [self.eoi]
            prompt, answer = [tok.bos_token_id] + image, encode_text(tok, record.text.strip())
            answer = (answer + [tok.eos_token_id])[:self.max_seq_len - len(prompt)]  # a cut answer loses its eos
            return [Example(record.key, "multimodal", prompt + answer, [IGNORE_INDEX] * len(prompt) + answer,
                            [record.image])]
        turns = [Turn("user", f"{IMAGE_TOKEN}\n{DESCRIBE}"), Turn("assistant", record.text)]
        return self._chat_example(record.key, turns, DEFAULT_SYSTEM_PROMPT, [record.image])

    def conversation(self, key: str, record: dict, images: list[bytes]) -> list[Example]:
        """An SFT conversation record (ShardSource kind "sft" calls this)."""
        system, turns = conversation_turns(record, len(images))
        return self._chat_example(key, turns, DEFAULT_SYSTEM_PROMPT if system is None else system, images)

    def _chat_example(self, key: str, turns: list[Turn], system: str, images: list[bytes]) -> list[Example]:
        """One example of chat turns, cut to max_seq_len between image spans (images past
        the cut dropped); "multimodal" when an image is left, else "language"."""
        try:
            ids, labels = encode_janus_conversation(self.tokenizer, turns, self.num_image_tokens, system)
        except ChatFormatError:
            raise SkipRecord("invalid_record") from None
        cut = cut_at_image(ids, self.boi, self.num_image_tokens + 2, self.max_seq_len)
        ids, labels = ids[:cut], labels[:cut]
        kept = images[:ids.count(self.boi)]
        if all(label == IGNORE_INDEX for label in labels):
            raise SkipRecord("no_answer_within_max_seq_len")
        if images and not kept:
            raise SkipRecord("image_past_max_seq_len")
        return [Example(key, "multimodal" if kept else "language", ids, labels, kept)]

    def prompt_text(self, record: Caption, epoch: int) -> str:
        """The generation prompt's words: the caption, or its first sentence by the draw."""
        text = record.text.strip()
        if record.kind == "caption" and draw(self.seed, record.content, epoch, "first_sentence") < self.first_sentence_share:
            text = record.first_sentence.strip() or text
        return text

    def generation(self, record: Caption, epoch: int) -> list[Example]:
        if "generation" not in record.uses:
            raise SkipRecord("not_for_generation")
        if record.vq_ids is None:
            raise SkipRecord("no_vq_ids")
        if len(record.vq_ids) != self.num_image_tokens:
            raise SkipRecord("vq_ids_count")
        tok = self.tokenizer
        room = self.max_seq_len - self.num_image_tokens - 2
        words = generation_prompt(tok, self.prompt_text(record, epoch), chat=self.stage == 3)[:room]
        if draw(self.seed, record.content, epoch, "unconditional") < self.uncond_share:
            words = [tok.pad_token_id] * len(words)
        prompt = [tok.bos_token_id] + words + [self.boi]
        # Image positions carry pad in input_ids: the model embeds image_ids there instead.
        ids = prompt + [tok.pad_token_id] * self.num_image_tokens
        image_ids = [IGNORE_INDEX] * len(prompt) + list(record.vq_ids)
        return [Example(record.key, "generation", ids, [IGNORE_INDEX] * len(ids), image_ids=image_ids)]


class CaptionSource(ShardSource):
    """A ShardSource over captions-corpus shards serving `kind` examples: "understanding"
    (image -> caption) or "generation" (caption -> VQ ids). Records need an image member and
    a text member; what a record lacks for its kind is counted in `skipped`."""

    def __init__(self, paths, kind: str, encoder: JanusEncoder, **kwargs):
        if kind not in JANUS_KINDS:
            raise ValueError(f"kind must be one of {JANUS_KINDS}, not {kind!r}")
        self.janus_kind = kind
        super().__init__(paths, "multimodal", encoder, **kwargs)
        self.modality = "multimodal" if kind == "understanding" else "generation"

    def usable(self, records: RecordTable) -> np.ndarray:
        return records.has_image & records.has_text

    def _examples(self, ref: RecordRef) -> list[Example]:
        metadata = {}
        if METADATA_MEMBER in ref.members:
            metadata = free_form(json.loads(self._read(ref, METADATA_MEMBER)).get("metadata"))
        text = self._read(ref, ref.text_member).decode("utf-8")
        if self.janus_kind == "understanding":
            image = self._read(ref, ref.first(IMAGE_MEMBERS))
            return self.encoder.understanding(caption_record(ref.key, text, metadata, image))
        return self.encoder.generation(caption_record(ref.key, text, metadata, None), self._epoch)
