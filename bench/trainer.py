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
(c) With CUDA: stage 2 at the deepseek-vl-1.3b shape (random weights, vocabulary padded to
    DeepSeek-LLM's 102400, packed 4096-token rows, bf16, activation checkpointing), N
    steps: tokens/s and MFU (metrics.py: model FLOPs / peak bf16 of the GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trainer_loader import make_bench_shards, measure_loader  # noqa: E402

from vlforge.trainer.config import load_train_config  # noqa: E402
from vlforge.trainer.distributed import init_distributed, shutdown  # noqa: E402
from vlforge.trainer.train import setup_run, train, train_step  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WARMUP_STEPS = 2


def _options(out: Path, pairs: Path | None, texts: Path | None, steps: int, *extra: str) -> tuple[str, ...]:
    return (f"data.multimodal={pairs or ''}", f"data.language={texts or ''}", f"steps={steps}",
            f"output_dir={out}", "export=false", "checkpoint.at_end=false", "eval.mc_set=",
            "checkpoint.init_from=", "checkpoint.resume=false", *extra)


def consumption(pairs: Path | None, texts: Path | None, steps: int, out: Path) -> float:
    """Samples/s of training steps (tiny, one rank) on batches made beforehand."""
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
    print("(a) loader vs consumption, tiny preset, batch 8, one CPU rank")
    for modality, shards in (("multimodal", pairs), ("language", texts)):
        loader = measure_loader(shards, modality, "tiny", batch_size=8, samples=args.samples)["samples_per_s"]
        used = consumption(shards if modality == "multimodal" else None,
                           shards if modality == "language" else None, args.steps, out / modality)
        print(f"    {modality:10s} loader {loader:8.1f} samples/s   trainer {used:8.1f} samples/s   "
              f"ratio {loader / used:6.2f}")


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
    print(f"    1 rank {one:6.2f} steps/s   2 ranks {two:6.2f} steps/s   ratio {two / one:5.2f}")


def gpu_stage2(pairs: Path, texts: Path, args, out: Path) -> None:
    name = torch.cuda.get_device_name()
    print(f"(c) stage 2, deepseek-vl-1.3b shape, {name}, {args.gpu_steps} steps")
    config = load_train_config(None, _options(
        out, pairs, texts, args.gpu_steps, "model.preset=deepseek-vl-1.3b", "model.vocab_size=102400",
        "data.packing=true", "data.seq_len=4096", f"batch.micro={args.gpu_micro}",
        f"batch.global={args.gpu_micro}", "activation_checkpointing=true", "data.prefetch=4",
        "data.image_workers=4", "optim.warmup_steps=2", "log_every=5"), stage=2)
    train(config)
    records = _records(out)[5:]  # compile/allocator warm-up
    tokens = statistics.median(r["tokens_per_s"] for r in records)
    mfus = [r["mfu"] for r in records if r["mfu"] is not None]
    memory = max(r["memory_bytes"] for r in records) / 2**30
    mfu_text = f"MFU {100 * statistics.median(mfus):.1f}%" if mfus else "MFU n/a (unknown GPU; --set peak_tflops)"
    print(f"    {tokens:,.0f} tokens/s   {mfu_text}   peak memory {memory:.1f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--rank-batch", type=int, default=32, help="(b): global batch, split over 2 micro-batches")
    parser.add_argument("--parts", default="abc", help="which measurements to run, e.g. b")
    parser.add_argument("--gpu-steps", type=int, default=30)
    parser.add_argument("--gpu-micro", type=int, default=2, help="packed 4096-token rows per step on the GPU")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        pairs, texts = make_bench_shards(out / "shards", max(64, args.samples // 2))
        if "a" in args.parts:
            loader_vs_consumption(pairs, texts, args, out / "a")
        if "b" in args.parts:
            ranks(pairs, texts, args, out / "b")
        if "c" not in args.parts:
            return
        if torch.cuda.is_available():
            gpu_stage2(pairs, texts, args, out / "c")
        else:
            print("(c) no CUDA device: stage 2 at the 1.3B shape skipped")


if __name__ == "__main__":
    main()
