"""The trainer's tokenizer: DeepSeek-LLM's from a local folder, or a tiny byte-level one.

Both carry the same four special tokens, under DeepSeek-LLM's spellings:

    <｜begin▁of▁sentence｜>   bos: first token of every sequence
    <｜end▁of▁sentence｜>     eos: ends every answer (supervised) and every text
    <image_placeholder>      one id; the chat format repeats it num_image_tokens times per image
    <｜▁pad▁｜>               padding (never attended, never supervised)

`tokenizer.image_token_id` is the image id; `len(tokenizer)` is the vocabulary size the
model must be built with (the added tokens sit past the base vocabulary).

Encoding data text always goes through `encode_text`: no bos/eos added behind our back and
special-token strings inside the data (a document *about* DeepSeek-VL may well contain
"<image_placeholder>") tokenised as plain text, so they can never turn into image positions
without an image.
"""

from __future__ import annotations

import os
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from vlforge.errors import VlforgeError

BOS_TOKEN = "<｜begin▁of▁sentence｜>"
EOS_TOKEN = "<｜end▁of▁sentence｜>"
IMAGE_TOKEN = "<image_placeholder>"
PAD_TOKEN = "<｜▁pad▁｜>"

# A text whose byte-level round trip catches tokenizers loaded with the wrong pre-tokenizer
# (transformers 5 has loaded DeepSeek's byte-level tokenizer.json as SentencePiece-style
# LlamaTokenizer, silently dropping every space).
_ROUND_TRIP_PROBE = "hello world\n\tx = 1  # 图像 ü"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table, the alphabet of byte-level BPE."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A deterministic byte-level tokenizer built offline: ids 0-255 are the bytes, then specials.

    No merges, so every text round-trips and any language or script works; sequences are
    long (one id per byte), which is what the tiny preset and the tests want. Like
    DeepSeek-LLM's tokenizer, `tokenizer(text)` puts bos first (what a processor loaded from
    an export folder does); the trainer's own encoding never adds anything (`encode_text`).
    """
    vocab = {char: byte for byte, char in bytes_to_unicode().items()}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([_special(token) for token in (BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, IMAGE_TOKEN)])
    bos_id = backend.token_to_id(BOS_TOKEN)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A {BOS_TOKEN} $B", special_tokens=[(BOS_TOKEN, bos_id)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=BOS_TOKEN, eos_token=EOS_TOKEN,
                                   pad_token=PAD_TOKEN, extra_special_tokens={"image_token": IMAGE_TOKEN})


def _special(token: str) -> AddedToken:
    return AddedToken(token, special=True, normalized=False)


def _load_pretrained(path: str) -> PreTrainedTokenizerFast:
    folder = Path(path)
    if not (folder / "tokenizer.json").is_file():
        raise VlforgeError(f"{path}: no tokenizer.json (a transformers tokenizer folder, e.g. "
                           "DeepSeek-LLM's, is needed; or leave the path empty for the byte tokenizer)")
    # PreTrainedTokenizerFast, not AutoTokenizer: it takes tokenizer.json as it is, whatever
    # `tokenizer_class` the config names (DeepSeek's says LlamaTokenizerFast but is byte-level).
    # The image token is named (`tokenizer.image_token`), as transformers' DeepSeek-VL
    # processors need it and as tokenizer_config.json then records it.
    return PreTrainedTokenizerFast.from_pretrained(str(folder), local_files_only=True,
                                                   extra_special_tokens={"image_token": IMAGE_TOKEN})


def _ensure_special_tokens(tokenizer: PreTrainedTokenizerFast) -> None:
    """Adds whichever of bos/eos/pad/image the tokenizer lacks from its vocabulary."""
    named = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "pad_token": PAD_TOKEN}
    missing = {key: _special(value) for key, value in named.items() if getattr(tokenizer, key) is None}
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        missing["image_token"] = _special(IMAGE_TOKEN)
    if missing:
        tokenizer.add_special_tokens(missing)


def _check(tokenizer: PreTrainedTokenizerFast, where: str) -> None:
    decoded = tokenizer.decode(encode_text(tokenizer, _ROUND_TRIP_PROBE))
    if decoded != _ROUND_TRIP_PROBE:
        raise VlforgeError(f"{where}: the tokenizer does not round-trip text ({_ROUND_TRIP_PROBE!r} -> "
                           f"{decoded!r}); is tokenizer.json byte-level BPE as DeepSeek-LLM's?")
    ids = {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.image_token_id}
    if None in ids or len(ids) != 4:
        raise VlforgeError(f"{where}: bos, eos, pad and image tokens must be four distinct ids, got {ids}")


def load_tokenizer(path: str | os.PathLike | None = None) -> PreTrainedTokenizerFast:
    """DeepSeek-LLM's tokenizer from a local folder, or the byte tokenizer when path is None/''."""
    if not path:
        tokenizer = byte_tokenizer()
    else:
        tokenizer = _load_pretrained(str(path))
        _ensure_special_tokens(tokenizer)
    _check(tokenizer, str(path) if path else "byte tokenizer")
    return tokenizer


def _encode_plain(tokenizer: PreTrainedTokenizerFast, text: str) -> list[int]:
    if not text:
        return []
    return tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]


def encode_text(tokenizer: PreTrainedTokenizerFast, text: str) -> list[int]:
    """Token ids of data text: nothing added, special-token strings split as ordinary text.

    A literal image tag is encoded in two halves: split_special_tokens covers special
    tokens only, and a tokenizer folder may carry the tag as an ordinary added token,
    which would otherwise still match and make an image position without an image.
    """
    pieces = text.split(IMAGE_TOKEN)
    ids = _encode_plain(tokenizer, pieces[0])
    for piece in pieces[1:]:
        ids += _encode_plain(tokenizer, IMAGE_TOKEN[:1]) + _encode_plain(tokenizer, IMAGE_TOKEN[1:])
        ids += _encode_plain(tokenizer, piece)
    return ids
