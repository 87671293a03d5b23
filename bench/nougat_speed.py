"""Path 2 speed: pages/s through documents.nougat at the real facebook/nougat-base shape.

Random weights (the speed of a transformer does not depend on its values): DonutSwin
encoder (embed 128, depths 2/2/14/2, heads 4/8/16/32, window 7, 896x672 input) and a
10-layer MBart decoder (d_model 1024, vocab 50,000, 4,096 positions), on CUDA in bf16 when
there is a GPU, else on CPU in float32. Each page is a synthetic page of text (PIL), run
through NougatModel.generate: the PIL image processor, the encoder, and greedy decoding of
exactly --max-new-tokens tokens (end-of-sequence is suppressed and the loop check cannot
fire, so every page costs the same). Reference: Nougat's paper reports 6 pages per batch
in 19.5 s on an A10G (~0.31 pages/s) for full pages of text (often 1,000-3,000 tokens).

Run: `python bench/nougat_speed.py` (CPU: 2 pages of 32 tokens, about a minute) or on a
GPU e.g. `python bench/nougat_speed.py --pages 24 --batch-size 8 --max-new-tokens 1024`.
`--checkpoint DIR` times a real local checkpoint instead (loaded by load_nougat; its pages
end where the model ends them, so tokens per page vary: tokens/s is printed too).
"""

from __future__ import annotations

import argparse
import time

import torch
from common import result
from PIL import Image, ImageDraw

from vlforge.documents.nougat import (
    LoopRule,
    NougatModel,
    load_nougat,
    resolve_device,
    resolve_dtype,
)

EOS = 2
PAPER_PAGES_PER_S = 6 / 19.5  # Nougat's paper: 6 pages a batch in 19.5 s on an A10G


def nougat_base_config():
    """facebook/nougat-base's architecture."""
    from transformers import DonutSwinConfig, MBartConfig, VisionEncoderDecoderConfig

    encoder = DonutSwinConfig(image_size=[896, 672], patch_size=4, embed_dim=128, depths=[2, 2, 14, 2],
                              num_heads=[4, 8, 16, 32], window_size=7, drop_path_rate=0.0)
    decoder = MBartConfig(vocab_size=50000, d_model=1024, decoder_layers=10, decoder_attention_heads=16,
                          decoder_ffn_dim=4096, max_position_embeddings=4096, scale_embedding=True,
                          add_final_layer_norm=True, is_decoder=True, add_cross_attention=True,
                          is_encoder_decoder=False, tie_word_embeddings=False,
                          bos_token_id=0, pad_token_id=1, eos_token_id=EOS)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 0, 1, EOS
    return config


def random_nougat(device: str, dtype) -> NougatModel:
    from transformers import (
        GenerationConfig,
        NougatImageProcessorPil,
        NougatProcessor,
        NougatTokenizer,
        VisionEncoderDecoderModel,
    )

    torch.manual_seed(0)
    with torch.device(device):  # initialise on the device: seconds instead of a minute on CPU
        model = VisionEncoderDecoderModel(nougat_base_config()).to(dtype).eval()
    model.generation_config = GenerationConfig(decoder_start_token_id=0, pad_token_id=1, eos_token_id=EOS,
                                               suppress_tokens=[EOS])  # every page: all its tokens
    # The real tokenizer's vocabulary is not needed for speed: ids it lacks decode to nothing.
    processor = NougatProcessor(image_processor=NougatImageProcessorPil(), tokenizer=NougatTokenizer())
    return NougatModel(model, processor, device, dtype, "random-nougat-base")


def text_page(seed: int) -> Image.Image:
    """A letter-size page at 96 dpi covered in lines of text."""
    image = Image.new("RGB", (816, 1056), "white")
    draw = ImageDraw.Draw(image)
    for line in range(48):
        draw.text((72, 72 + 19 * line), f"{seed}.{line} We study the problem of reading documents "
                                        "from page images; the model writes markdown.", fill="black")
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="", help="a local Nougat checkpoint instead of random weights")
    parser.add_argument("--device", default="", help="default: cuda when there is one, else cpu")
    parser.add_argument("--dtype", default="", help="default: bfloat16 on cuda, float32 on cpu")
    parser.add_argument("--pages", type=int, default=0, help="default: 24 on a GPU, 2 on CPU")
    parser.add_argument("--batch-size", type=int, default=0, help="default: 8 on a GPU, 2 on CPU")
    parser.add_argument("--max-new-tokens", type=int, default=0, help="default: 1024 on a GPU, 32 on CPU")
    args = parser.parse_args()
    device = resolve_device(args.device or None)
    gpu = device.startswith("cuda")
    pages = args.pages or (24 if gpu else 2)
    batch_size = args.batch_size or (8 if gpu else 2)
    tokens = args.max_new_tokens or (1024 if gpu else 32)
    dtype = resolve_dtype(device, args.dtype or None)
    if args.checkpoint:
        model, rule = load_nougat(args.checkpoint, device, dtype), LoopRule()
    else:  # random weights: no page may stop early, so no loop check either
        model, rule = random_nougat(device, dtype), LoopRule(min_loop_tokens=tokens + 1)
    images = [text_page(i) for i in range(pages)]
    if gpu:  # warm-up: kernels and the allocator (on CPU it would cost as much as a page)
        model.generate(images[:1], max_new_tokens=8, rule=rule)
        torch.cuda.synchronize()
    started = time.perf_counter()
    outputs = model.generate(images, batch_size=batch_size, max_new_tokens=tokens, rule=rule)
    seconds = time.perf_counter() - started
    generated = sum(out.tokens for out in outputs)
    name = torch.cuda.get_device_name(0) if gpu else f"cpu ({torch.get_num_threads()} threads)"
    weights = f"checkpoint {model.name}" if args.checkpoint else "nougat-base shape, random weights"
    print(f"{weights}: {device} = {name}, {str(dtype).removeprefix('torch.')}")
    print(f"  {pages} pages, batch {batch_size}, at most {tokens} new tokens per page ({generated} in all)")
    print(f"  {pages / seconds:.3f} pages/s, {generated / seconds:.1f} tokens/s, {seconds:.1f} s "
          f"(Nougat paper: ~0.31 pages/s on an A10G)")
    # The paper's pages run to their end (often 1,000-3,000 tokens): a reference, not an aim.
    result("nougat_speed", f"pages/s, {device}, {tokens} tokens a page, against the paper's A10G", pages / seconds,
           PAPER_PAGES_PER_S, "pages/s", aim=None, floor_label="paper")


if __name__ == "__main__":
    main()
