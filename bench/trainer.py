"""Trainer throughput: loader against consumption, 2 ranks against 1, and stage 2 on a GPU.

    python bench/trainer.py [--steps 12] [--samples 128] [--gpu-steps 30]

(a) Loader vs consumption, tiny preset, per modality: the loader's samples/s
    (`bench/trainer_loader.py`'s `measure_loader`: shards -> collated batches, one thread)
    divided by the trainer's samples/s when every batch is already made (forward,
    backward, clipping and AdamW on one CPU rank). Above 1: one loader thread keeps up.
(b) 2 ranks vs 1 on CPU (gloo), tiny preset, the same global batch (--rank-batch, 32) in
    micro-batches of half of it (1 rank accumulates two, 2 ranks take one each): optimizer
    steps/s of `vlforge.trainer --nproc 2` over `--nproc 1` (median step time, first 2
    steps left out). 2.0 would be perfect scaling; on a shared 2-core machine the tiny
    model's steps are short enough that the collectives weigh in.
(c) Stage 2 at the deepseek-vl-1.3b shape on a GPU (random weights, vocabulary 102400,
    FSDP2 + bf16 mixed precision, packed 4096-token rows through flex attention, 30% of
    the steps multimodal with one 576-token image per document): tokens/s and MFU
    (metrics.py: model FLOPs / peak bf16 of the GPU). The batches are made on the GPU
    (documents of random length, position ids restarting per document, normalised random
    pixels), so (c) measures the model step alone and needs nothing but torch and
    transformers: `python bench/trainer.py --parts c`. The step is the trainer's
    (`model.forward`, `causal_lm_loss` summed, clipping, AdamW). `--gpu-preset tiny
    --device cpu` runs the same code on a CPU (no MFU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import result

REPO = Path(__file__).resolve().parents[1]
# (c) runs from a plain checkout on a GPU machine: vlforge from src/, bench helpers from here.
sys.path[:0] = [str(REPO / "src"), str(Path(__file__).resolve().parent)]

from vlforge.trainer import model as M  # noqa: E402
from vlforge.trainer.distributed import (  # noqa: E402
    checkpoint_activations,
    init_distributed,
    mixed_precision_policy,
    shard_model,
    shutdown,
)
from vlforge.trainer.metrics import memory_bytes, mfu, peak_flops  # noqa: E402
from vlforge.trainer.presets import get_preset  # noqa: E402

WARMUP_STEPS = 2
IGNORE_INDEX = -100


def _options(out: Path, pairs: Path | None, texts: Path | None, steps: int, *extra: str) -> tuple[str, ...]:
    return (f"data.multimodal={pairs or ''}", f"data.language={texts or ''}", f"steps={steps}",
            f"output_dir={out}", "export=false", "checkpoint.at_end=false", "eval.mc_set=",
            "checkpoint.init_from=", "checkpoint.resume=false", *extra)


def consumption(pairs: Path | None, texts: Path | None, steps: int, out: Path) -> float:
    """Samples/s of training steps (tiny, one rank) on batches made beforehand."""
    from vlforge.trainer.config import load_train_config
    from vlforge.trainer.train import setup_run, train_step

    config = load_train_config(None, _options(out, pairs, texts, steps, "batch.global=8", "batch.micro=8",
                                              "data.prefetch=0"), stage=2)
    env = init_distributed()
    try:
        run, _ = setup_run(config, env)
        ready = [next(run.batches) for _ in range(steps * run.accum)]
        run.batches.close()
        run.batches = iter(ready)
        stats = [train_step(run, step) for step in range(1, steps + 1)][WARMUP_STEPS:]
    finally:
        shutdown()
    return sum(s.samples for s in stats) / sum(s.seconds for s in stats)


def loader_vs_consumption(pairs: Path, texts: Path, args, out: Path) -> None:
    from trainer_loader import measure_loader

    print("(a) loader vs consumption, tiny preset, batch 8, one CPU rank")
    for modality, shards in (("multimodal", pairs), ("language", texts)):
        loader = measure_loader(shards, modality, "tiny", batch_size=8, samples=args.samples)["samples_per_s"]
        used = consumption(shards if modality == "multimodal" else None,
                           shards if modality == "language" else None, args.steps, out / modality)
        # Above 1: one loader thread makes batches faster than the trainer uses them.
        result("trainer", f"loader vs consumption, {modality}", loader, used, "samples/s", aim=1.0,
               ours_label="loader", floor_label="trainer")


def steps_per_s(nproc: int, pairs: Path, texts: Path, steps: int, out: Path, global_batch: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sets = [a for option in _options(out, pairs, texts, steps, f"batch.global={global_batch}",
                                      f"batch.micro={global_batch // 2}")
            for a in ("--set", option)]
    subprocess.run([sys.executable, "-m", "vlforge.trainer", "--nproc", str(nproc), "--stage", "2", *sets],
                   check=True, cwd=REPO, env=env, capture_output=True)
    times = [r["step_time_s"] for r in _records(out)][WARMUP_STEPS:]
    return 1.0 / statistics.median(times)


def _records(out: Path) -> list[dict]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "train"]


def ranks(pairs: Path, texts: Path, args, out: Path) -> None:
    batch = args.rank_batch
    print(f"(b) 2 ranks vs 1 on CPU (gloo), tiny preset, global batch {batch} (micro {batch // 2})")
    one = steps_per_s(1, pairs, texts, args.steps, out / "one", batch)
    two = steps_per_s(2, pairs, texts, args.steps, out / "two", batch)
    # 2.0 is perfect scaling; the tiny model's short steps on a shared 2-core machine set no aim.
    result("trainer", "2 ranks over 1 (CPU, gloo)", two, one, "steps/s", aim=None,
           ours_label="2 ranks", floor_label="1 rank")


# --- (c) the model step at the 1.3B shape --------------------------------------------------


def packed_batch(gen: torch.Generator, rows: int, seq_len: int, image_token_id: int, preset,
                 multimodal: bool, device: torch.device) -> dict:
    """Packed rows of documents (128..seq_len/2 tokens), position ids restarting per document,
    the first label of each document ignored (as `mixing.Collator.packed`); multimodal rows
    open each document with one image's tokens."""
    image_tokens = preset.num_image_tokens
    input_ids = torch.randint(0, image_token_id, (rows, seq_len), generator=gen)
    labels, position_ids, images = input_ids.clone(), torch.zeros_like(input_ids), 0
    for row in range(rows):
        start = 0
        while start < seq_len:
            length = min(int(torch.randint(128, seq_len // 2, (1,), generator=gen)), seq_len - start)
            if multimodal and length > image_tokens + 16:
                input_ids[row, start + 1:start + 1 + image_tokens] = image_token_id
                labels[row, start:start + 1 + image_tokens] = IGNORE_INDEX
                images += 1
            labels[row, start] = IGNORE_INDEX
            position_ids[row, start:start + length] = torch.arange(length)
            start += length
    batch = {"input_ids": input_ids, "labels": labels, "position_ids": position_ids}
    if images:
        batch["pixel_values"] = torch.randn(images, 3, preset.low_res_size, preset.low_res_size, generator=gen)
        if preset.vision == "hybrid":
            batch["high_res_pixel_values"] = torch.randn(images, 3, preset.image_size, preset.image_size, generator=gen)
    return {k: v.to(device) for k, v in batch.items()}


def model_step(model, optimizer, batch: dict) -> None:
    """One optimizer step as the trainer's `train_step` makes it (one micro-batch)."""
    logits = M.forward(model, {k: v for k, v in batch.items() if k != "labels"})
    loss, count = M.causal_lm_loss(logits, batch["labels"], "sum")
    (loss / count.clamp(min=1)).backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _bench_model(args, env):
    preset = get_preset(args.gpu_preset)
    with env.device:
        model = M.build_model(preset, args.vocab_size, args.vocab_size - 1, attention=args.attention)
    M.set_trainable_for_stage(model, 2)
    flops = (M.flops_per_token(model, args.seq_len), M.flops_per_image(model, 2))
    if args.activation_checkpointing:
        checkpoint_activations(M.decoder_layers(model))
    precision = "bf16" if env.device.type == "cuda" else "fp32"
    model = shard_model(model, M.fsdp_units(model), mixed_precision_policy(precision, env.device))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-5,
                                  betas=(0.9, 0.95), weight_decay=0.0)
    return preset, model, optimizer, flops


def gpu_stage2(args) -> None:
    env = init_distributed()
    try:
        preset, model, optimizer, (per_token, per_image) = _bench_model(args, env)
        name = torch.cuda.get_device_name(env.device) if env.device.type == "cuda" else "cpu"
        peak = peak_flops(name, args.peak_tflops)
        print(f"(c) stage 2, {args.gpu_preset} shape, {name}, {args.gpu_micro} x {args.seq_len} packed tokens "
              f"per step, attention {args.attention}, activation checkpointing {args.activation_checkpointing}")
        gen = torch.Generator().manual_seed(0)
        times, flops_done, tokens = [], 0.0, 0
        for step in range(args.gpu_steps):
            multimodal = float(torch.rand(1, generator=gen)) < args.image_share
            batch = packed_batch(gen, args.gpu_micro, args.seq_len, args.vocab_size - 1, preset, multimodal,
                                 env.device)
            images = len(batch["pixel_values"]) if "pixel_values" in batch else 0
            _sync(env.device)
            started = time.perf_counter()
            model_step(model, optimizer, batch)
            _sync(env.device)
            if step >= args.gpu_warmup:
                times.append(time.perf_counter() - started)
                tokens += batch["input_ids"].numel()
                flops_done += per_token * batch["input_ids"].numel() + per_image * images
        seconds = sum(times)
        used = mfu(flops_done, seconds, env.world_size, peak)
        mfu_text = f"MFU {100 * used:.1f}%" if used is not None else "MFU n/a (no known peak; --peak-tflops)"
        print(f"    {tokens / seconds:,.0f} tokens/s   {mfu_text}   {seconds / len(times):.3f} s/step   "
              f"peak memory {memory_bytes(env.device) / 2**30:.1f} GiB   ({len(times)} steps measured)")
    finally:
        shutdown()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--rank-batch", type=int, default=32, help="(b): global batch, split over 2 micro-batches")
    parser.add_argument("--parts", default="abc", help="which measurements to run, e.g. b")
    parser.add_argument("--gpu-preset", default="deepseek-vl-1.3b", help="(c): the model shape")
    parser.add_argument("--gpu-steps", type=int, default=30)
    parser.add_argument("--gpu-warmup", type=int, default=8, help="(c): steps not timed (compilation, allocator)")
    parser.add_argument("--gpu-micro", type=int, default=2, help="(c): packed rows per step")
    parser.add_argument("--seq-len", type=int, default=4096)
    parser.add_argument("--vocab-size", type=int, default=102400)
    parser.add_argument("--image-share", type=float, default=0.3, help="(c): share of multimodal steps")
    parser.add_argument("--attention", default=None, help="(c): flex_attention (CUDA default) or sdpa")
    parser.add_argument("--activation-checkpointing", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None, help="(c): the GPU's bf16 peak if not known")
    parser.add_argument("--device", choices=("auto", "cpu"), default="auto", help="(c): cpu hides CUDA")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    if "a" in args.parts or "b" in args.parts:
        with tempfile.TemporaryDirectory() as tmp:
            cpu_parts(args, Path(tmp))
    if "c" not in args.parts:
        return
    if torch.cuda.is_available() or args.device == "cpu":
        args.attention = args.attention or ("flex_attention" if torch.cuda.is_available() else "sdpa")
        gpu_stage2(args)
    else:
        print("(c) no CUDA device: stage 2 at the 1.3B shape skipped (--device cpu --gpu-preset tiny runs it here)")


def cpu_parts(args, out: Path) -> None:
    from trainer_loader import make_bench_shards

    pairs, texts = make_bench_shards(out / "shards", max(64, args.samples // 2))
    if "a" in args.parts:
        loader_vs_consumption(pairs, texts, args, out / "a")
    if "b" in args.parts:
        ranks(pairs, texts, args, out / "b")


if __name__ == "__main__":
    main()
