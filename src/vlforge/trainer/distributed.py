"""Process group, FSDP2 sharding, mixed precision and activation checkpointing.

Every run is a process group, even a single process without torchrun (a world of one on
an in-memory store), so the trainer has one code path: the model is always FSDP2-sharded,
its parameters are DTensors, and collectives are no-ops in a world of one.

Sharding (`shard_model`): `fully_shard` on each unit the model names (its decoder layers and
the vision encoder), then on the root, which picks up what is left (embeddings, adaptor,
final norm, head). A unit may mix frozen and trainable parameters (the hybrid vision
encoder in stage 1 holds frozen SAM next to the trainable downsample convs): FSDP2
all-gathers all of them and reduce-scatters only the gradients that exist, so frozen
parameters never change (tests check them bit for bit).

Mixed precision is on GPUs only: bf16 compute, fp32 master weights and gradient reduction.
On a CPU everything stays fp32 (gloo reduces no bf16 and tests compare losses exactly).
"""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.utils.checkpoint import checkpoint

TIMEOUT = datetime.timedelta(minutes=30)


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistEnv:
    """Join the torchrun group (env vars) or make a world of one; NCCL on CUDA, else gloo."""
    use_cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        _init_group("nccl" if use_cuda else "gloo", device if use_cuda else None)
    return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, device)


def _init_group(backend: str, device_id: torch.device | None) -> None:
    if "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ:
        dist.init_process_group(backend, timeout=TIMEOUT, device_id=device_id)
        return
    # No torchrun: a world of one needs no port, so parallel test runs cannot collide.
    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1,
                            timeout=TIMEOUT, device_id=device_id)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def mixed_precision_policy(mode: str, device: torch.device) -> MixedPrecisionPolicy:
    """`auto`: bf16 params with fp32 reductions on CUDA, plain fp32 elsewhere."""
    use_bf16 = mode == "bf16" or (mode == "auto" and device.type == "cuda")
    if not use_bf16:
        return MixedPrecisionPolicy()
    return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)


def shard_model(model: nn.Module, units: Iterable[nn.Module], policy: MixedPrecisionPolicy) -> nn.Module:
    """fully_shard each unit, then the root; returns the (same, now sharded) model."""
    for unit in units:
        fully_shard(unit, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


def checkpoint_activations(layers: Iterable[nn.Module]) -> None:
    """Recompute each layer's activations in backward instead of keeping them.

    The layer's `forward` is wrapped in place rather than the module replaced by a wrapper,
    so parameter names (checkpoints, exports) stay the same with or without this option.
    FSDP2's hooks sit around `__call__`, outside the wrapper: in backward the layer's
    parameters are gathered before autograd reaches the recomputation.
    """
    for layer in layers:
        layer.forward = functools.partial(_recomputed, layer.forward)


def _recomputed(forward, *args, **kwargs):
    return checkpoint(forward, *args, use_reentrant=False, **kwargs)


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sums of the values over all ranks (one collective for the lot)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def barrier() -> None:
    dist.barrier()

