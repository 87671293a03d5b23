"""Trainer data loader throughput: samples/s from shard bytes to collated batches.

    python bench/trainer_loader.py [--samples 256] [--batch 8] [--image-workers 0 2] [--repeat 2]

What one sample costs here: read its members from the tar (seek + read), decode the text,
tokenise it through the "deepseek" template, and, in collate, the model's image processor
(`images.image_processor`: decode the PNG, resize, pad, the hybrid's low-res copy,
normalise) and stacking. Printed for the tiny preset (SAM 64 px) and the hybrid 7B
(SAM 1024 px + SigLIP 384 px), multimodal and language batches, per `--image-workers`
setting (threads preparing images in collate).
Each measurement runs `--repeat` times and the best is kept (the machine is shared).

The shards are synthetic but shaped like ours: half notebook-style plots (640x480 PNG +
code), half page renders (816x1056 PNG + page text, arXiv pages at 96 dpi), and text
records of 1-4 KB. The tokenizer is the byte tokenizer (DeepSeek-LLM's needs local
files); a BPE tokenizer makes fewer tokens, so tokenising is, if anything, overstated.

The loop's half of the benchmark imports `measure_loader` and divides these samples/s by
the trainer's consumption (samples/s of training steps) to show whether loading keeps up.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vlforge.schemas import Provenance, Sample, make_key
from vlforge.shards.writer import ShardWriter
from vlforge.trainer.data import ExampleEncoder, ShardSource
from vlforge.trainer.images import image_processor
from vlforge.trainer.mixing import MixedBatches
from vlforge.trainer.presets import get_preset
from vlforge.trainer.tokenizer import load_tokenizer

# (preset, seq_len) of the tiny preset and the hybrid 7B model.
SHAPES = {"tiny": ("tiny", 512), "real": ("deepseek-vl-7b", 4096)}


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _plot(rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (640, 480), "white")
    draw = ImageDraw.Draw(image)
    points = [(60 + x * 5, 240 - int(150 * np.sin(x / 12 + rng.random()))) for x in range(110)]
    draw.line(points, fill=(31, 119, 180), width=2)
    draw.rectangle((50, 40, 610, 440), outline="black")
    return image


def _page(rng: np.random.Generator, text: str) -> Image.Image:
    image = Image.new("RGB", (816, 1056), "white")
    draw = ImageDraw.Draw(image)
    for line, y in enumerate(range(60, 1000, 18)):
        start = int(rng.integers(0, max(1, len(text) - 90)))
        draw.text((70, y), text[start:start + 90] if line % 9 else "Section", fill="black")
    return image


def make_bench_shards(root: Path, samples: int, seed: int = 0) -> tuple[Path, Path]:
    """(pairs dir, text dir) with `samples` records each."""
    rng = np.random.default_rng(seed)
    words = "the keeper climbed the stairs of the light with a lamp in hand and watched the sea".split()
    pairs, texts = ShardWriter(root / "pairs", "pairs"), ShardWriter(root / "text", "text")
    for i in range(samples):
        text = " ".join(rng.choice(words, size=int(rng.integers(200, 800))))
        if i % 2:
            image, body, kind = _page(rng, text), text, "plain"
        else:
            image, body, kind = _plot(rng), "import numpy as np\nplt.plot(np.sin(x))\n" * 4, "code"
        pairs.write(Sample(make_key("pairs", "/bench", i), "pairs", body, kind, Provenance("/bench"),
                           image=_png(image), image_format="png", image_size=image.size))
        texts.write(Sample(make_key("text", "/bench", i), "text", text, "plain", Provenance("/bench")))
    pairs.close()
    texts.close()
    return root / "pairs", root / "text"


def measure_loader(shards: Path, modality: str, shape: str = "tiny", batch_size: int = 8,
                   samples: int = 256, image_workers: int = 0, packing: bool = False) -> dict:
    """Samples/s of `MixedBatches` over one modality's shards (a warm-up batch not timed)."""
    name, seq_len = SHAPES[shape]
    preset = get_preset(name)
    tokenizer = load_tokenizer(None)
    encoder = ExampleEncoder(tokenizer, seq_len, preset.num_image_tokens)
    source = ShardSource(shards, modality, encoder, seed=0)
    batches = MixedBatches({modality: source}, batch_size=batch_size, pad_id=tokenizer.pad_token_id,
                           processor=image_processor(preset), packing=packing,
                           seq_len=seq_len, image_workers=image_workers)
    next(batches)
    count, tokens, started = 0, 0, time.perf_counter()
    while count < samples:
        batch = next(batches)
        count += len(batch["keys"])
        tokens += batch["num_tokens"]
    seconds = time.perf_counter() - started
    batches.close()
    return {"shape": shape, "modality": modality, "image_workers": image_workers, "samples": count,
            "seconds": seconds, "samples_per_s": count / seconds, "tokens_per_s": tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--image-workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    def best(*measure_args) -> dict:
        runs = [measure_loader(*measure_args) for _ in range(args.repeat)]
        return max(runs, key=lambda run: run["samples_per_s"])

    with tempfile.TemporaryDirectory() as tmp:
        pairs, texts = make_bench_shards(Path(tmp), max(64, args.samples // 2))
        print(f"trainer loader: batch {args.batch}, {args.samples} samples per run, byte tokenizer")
        for shape in SHAPES:
            language = best(texts, "language", shape, args.batch, args.samples)
            print(f"  {shape:5s} language                 {language['samples_per_s']:9.1f} samples/s "
                  f"({language['tokens_per_s']:,.0f} tokens/s)")
            for workers in args.image_workers:
                result = best(pairs, "multimodal", shape, args.batch, args.samples, workers)
                print(f"  {shape:5s} multimodal {get_preset(SHAPES[shape][0]).image_size:4d}px workers={workers} "
                      f"{result['samples_per_s']:9.1f} samples/s ({result['tokens_per_s']:,.0f} tokens/s)")


if __name__ == "__main__":
    main()
