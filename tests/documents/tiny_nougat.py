"""A tiny, randomly initialised Nougat checkpoint of the real classes, for tests.

    build_tiny_nougat(dir)   DonutSwin encoder + MBart decoder in a VisionEncoderDecoderModel,
                             a NougatTokenizer (byte-level BPE trained here, offline) and the PIL
                             NougatImageProcessor, all written with save_pretrained: the same
                             files a facebook/nougat-base download holds, so vlforge loads it
                             through the path a real checkpoint takes (documents.nougat).

Random weights write random bytes. A test that needs a known output gives a `script`: the
generation config then carries a `sequence_bias` that makes greedy decoding emit exactly
that text and stop (each token is boosted only after the exact prefix before it), or, with
`loop=True`, emit the text over and over until max_new_tokens. That is a generation option
of the checkpoint, so it too goes through the real loading and generate() path.
"""

from __future__ import annotations

import functools
from pathlib import Path

# Nougat's tokenizer starts with these (bos 0, pad 1, eos 2, unk 3 matter to generation).
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "[START_REF]", "[END_REF]", "[IMAGE]"]

# The image size of facebook/nougat-base (height, width): the processor pads every page to it.
IMAGE_SIZE = (896, 672)

# What the tokenizer's merges are learnt from: markdown and LaTeX of the kind Nougat writes.
_CORPUS = """# Introduction

We study the problem of learning from documents. The results are shown in Table 1 and
Figure 2. Let $x \\in \\mathbb{R}^n$ be the input and \\(f(x) = Wx + b\\) the output.

## Related Work

Previous work on optical character recognition of scientific documents [1, 2] relies on
the text layer of the PDF. In this paper we present a model that reads the page image.

\\[\\sum_{i=1}^{n} x_i^2 \\leq \\frac{1}{2}\\]

* The first item of the list.
* The second item, with **bold** and _italic_ text.

| Method | Accuracy |
| --- | --- |
| Ours | 0.95 |
"""


@functools.lru_cache(maxsize=2)
def train_tokenizer(vocab_size: int = 400):
    """A NougatTokenizer whose vocabulary is learnt from _CORPUS by the tokenizers library."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import NougatTokenizer

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator([_CORPUS] * 4, trainer)
    vocab = bpe.get_vocab()
    merges = [tuple(pair) for pair in _model_merges(bpe)]
    # NougatTokenizer puts its own normaliser, pre-tokeniser and decoder (Nougat's) around
    # the vocabulary: the pipeline a real tokenizer.json describes.
    return NougatTokenizer(vocab=vocab, merges=merges)


def _model_merges(bpe) -> list:
    import json

    return json.loads(bpe.to_str())["model"]["merges"]


def tiny_config(vocab_size: int, image_size: tuple[int, int] = IMAGE_SIZE):
    """Real Nougat classes, tiny dims: one Swin block per stage, a two-layer decoder."""
    from transformers import DonutSwinConfig, MBartConfig, VisionEncoderDecoderConfig

    encoder = DonutSwinConfig(image_size=list(image_size), patch_size=4, embed_dim=8,
                              depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=7,
                              drop_path_rate=0.0)
    decoder = MBartConfig(vocab_size=vocab_size, d_model=64, decoder_layers=2,
                          decoder_attention_heads=2, decoder_ffn_dim=128, encoder_layers=0,
                          max_position_embeddings=4096, scale_embedding=True,
                          add_final_layer_norm=True, is_decoder=True, add_cross_attention=True,
                          is_encoder_decoder=False, tie_word_embeddings=False,
                          bos_token_id=0, pad_token_id=1, eos_token_id=2, forced_eos_token_id=2)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = 0
    config.pad_token_id = 1
    config.eos_token_id = 2
    return config


def script_bias(tokenizer, script: str, loop: bool = False) -> list:
    """`sequence_bias` entries that make greedy decoding write `script` (then stop, or loop).

    Each entry is [prefix + [next token], bias]: the bias applies only when the tokens
    generated so far end with that whole prefix, so repeated tokens in the script do not
    confuse it. A loop keys each token on the 4 before it instead (the text comes round
    again, so no fixed prefix exists): no 4 tokens of a looping script may repeat within it.
    """
    ids = tokenizer(script, add_special_tokens=False)["input_ids"]
    ids = [i for i in ids if i != tokenizer.pad_token_id]  # NougatTokenizer pads to 4096
    start = 0  # decoder_start_token_id
    if loop:
        cycle = ids + ids[:4]
        return [[[start, *ids[:k], ids[k]], 100.0] for k in range(min(4, len(ids)))] + [
            [cycle[k - 4:k + 1], 100.0] for k in range(4, len(cycle))]
    tokens = ids + [tokenizer.eos_token_id]
    return [[[start, *tokens[:k], tokens[k]], 100.0] for k in range(len(tokens))]


def build_tiny_nougat(directory: str | Path, *, script: str | None = None, loop: bool = False,
                      seed: int = 0, image_size: tuple[int, int] = IMAGE_SIZE) -> Path:
    """Writes a tiny Nougat checkpoint to `directory` and returns it."""
    import torch
    from transformers import (
        GenerationConfig,
        NougatImageProcessorPil,
        VisionEncoderDecoderModel,
    )

    directory = Path(directory)
    tokenizer = train_tokenizer()
    torch.manual_seed(seed)
    model = VisionEncoderDecoderModel(tiny_config(len(tokenizer), image_size)).eval()
    generation = GenerationConfig(decoder_start_token_id=0, bos_token_id=0, pad_token_id=1,
                                  eos_token_id=2, forced_eos_token_id=2, max_length=4096)
    if script is not None:
        generation.sequence_bias = script_bias(tokenizer, script, loop)
    model.generation_config = generation
    model.save_pretrained(directory)
    height, width = image_size
    # Saved part by part, as facebook/nougat-base is: preprocessor_config.json and the
    # tokenizer files (a NougatProcessor would write one processor_config.json instead).
    NougatImageProcessorPil(size={"height": height, "width": width}).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


# What the scripted checkpoint writes, and what Nougat's post-processing makes of it
# (markdown_compatible turns \bm{ into \mathbf{).
SCRIPT = "# Introduction\n\nLet \\bm{x} be the input of the model."
SCRIPT_MARKDOWN = "# Introduction\n\nLet \\mathbf{x} be the input of the model."


def build_test_checkpoints(root: Path, missing_marker: str) -> dict[str, Path]:
    """The checkpoints the tests drive: one that writes SCRIPT, one that loops, one that
    writes a missing-page marker, and one with random weights."""
    return {
        "script": build_tiny_nougat(root / "script", script=SCRIPT),
        "loop": build_tiny_nougat(root / "loop", script="The first item of the list. ", loop=True),
        "missing": build_tiny_nougat(root / "missing", script=missing_marker),
        "random": build_tiny_nougat(root / "random"),
    }
