"""Per-step metrics: to the console and to `metrics.jsonl` in the output dir, rank 0 only.

One JSON object per line. Training steps:
    {"kind": "train", "step", "loss", "lr", "grad_norm", "modality", "tokens", "samples",
     "step_time_s", "tokens_per_s", "samples_per_s", "memory_bytes", "mfu"}
`tokens` and `samples` are global (all ranks) for that optimizer step; `tokens` counts the
non-padding positions the model ran over (image positions included), which is what the
FLOP estimate is per. `memory_bytes` is this rank's peak CUDA allocation on a GPU, the
process's resident set on a CPU. `mfu` is null on a CPU.
Evaluations: {"kind": "eval", "step", "accuracy", "items", "correct"}.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

# Dense bf16 tensor-core peaks (no sparsity), per GPU, in FLOP/s. Matched on the device name
# in order, so the more specific names come first.
PEAK_BF16_FLOPS = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("GH200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
)


def peak_flops(device_name: str, override_tflops: float | None = None) -> float | None:
    """The bf16 peak of one GPU, from the override (TFLOP/s) or the name; None if unknown."""
    if override_tflops:
        return override_tflops * 1e12
    for name, flops in PEAK_BF16_FLOPS:
        if name in device_name:
            return flops
    return None


def memory_bytes(device: torch.device) -> int:
    """Peak CUDA allocation on a GPU; on a CPU the current resident set (peak if unreadable)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def mfu(flops: float, seconds: float, world_size: int, peak: float | None) -> float | None:
    """Model FLOPs utilisation: the step's model FLOPs (all ranks) per second over the peak
    of all GPUs in the run."""
    if not peak or not flops:
        return None
    return flops / seconds / (peak * world_size)


class MetricsLog:
    """Appends records to `metrics.jsonl` and prints a line per record, on rank 0 only."""

    def __init__(self, output_dir: Path, enabled: bool, stream=None):
        self.enabled = enabled
        self.path = Path(output_dir) / "metrics.jsonl"
        self.stream = stream or sys.stderr
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict, console: bool = True) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        if console:
            print(format_record(record), file=self.stream, flush=True)


def format_record(record: dict) -> str:
    if record.get("kind") == "eval":
        return f"step {record['step']:>6}  eval accuracy {record['accuracy']:.3f} ({record['correct']}/{record['items']})"
    line = (f"step {record['step']:>6}  loss {record['loss']:.4f}  lr {record['lr']:.2e}  "
            f"gnorm {record['grad_norm']:.3f}  {record['tokens_per_s']:.0f} tok/s  "
            f"{record['samples_per_s']:.1f} samples/s  mem {record['memory_bytes'] / 2**30:.2f} GiB")
    if record.get("mfu") is not None:
        line += f"  mfu {100 * record['mfu']:.1f}%"
    return line


class StepClock:
    """Wall time of one optimizer step, synchronised with the GPU so kernels are counted."""

    def __init__(self, device: torch.device):
        self.device = device
        self.started = time.perf_counter()

    def restart(self) -> None:
        self._sync()
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        self._sync()
        return max(time.perf_counter() - self.started, 1e-9)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


@dataclass(frozen=True)
class StepStats:
    """One optimizer step, summed over ranks and micro-batches."""

    step: int
    loss: float
    lr: float
    grad_norm: float
    modality: str
    tokens: int
    samples: int
    seconds: float
    flops: float  # model FLOPs of the step (LLM tokens + images), all ranks


def train_record(stats: StepStats, device: torch.device, world_size: int, peak: float | None) -> dict:
    return {
        "kind": "train", "step": stats.step, "loss": stats.loss, "lr": stats.lr,
        "grad_norm": stats.grad_norm, "modality": stats.modality, "tokens": stats.tokens,
        "samples": stats.samples, "step_time_s": stats.seconds,
        "tokens_per_s": stats.tokens / stats.seconds, "samples_per_s": stats.samples / stats.seconds,
        "memory_bytes": memory_bytes(device), "mfu": mfu(stats.flops, stats.seconds, world_size, peak),
    }
