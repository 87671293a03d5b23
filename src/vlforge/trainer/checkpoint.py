"""Checkpoints with torch.distributed.checkpoint (DCP): save, resume, start a stage, export.

A run's output dir:
    checkpoints/step-000006/      one checkpoint, complete (renamed into place when done)
        .metadata, __*_*.distcp   DCP: {"model": ..., "optim": ...}, each rank its shards
        rank-00000.pt ...         per rank: step, scheduler, data position, RNG states
        trainer.json              step, stage, world size (rank 0; for people and checks)
    checkpoints/step-000009.tmp/  a checkpoint being written (never read; removed on retry)
    export/                       a transformers folder (end of the run)

Model and optimizer go through DCP's state-dict helpers (`get_state_dict` /
`set_state_dict`): FQN-keyed, sharded, and loadable on another number of ranks. The data
position is per rank (each rank reads its own slice of the shards), so it sits in a file
per rank and a resume needs the same number of ranks.

Starting a stage from the previous one (`init_from`) loads model weights only: from a
checkpoint (DCP, sharded, no full copy anywhere) or from a model folder (an export, a
transformers or a release DeepSeek-VL folder, read by `weights.load_full`); the optimizer and
schedule start fresh.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)

from vlforge.errors import VlforgeError
from vlforge.trainer.distributed import DistEnv, barrier

_STEP_DIR = re.compile(r"^step-(\d{6,})$")


@dataclass
class TrainState:
    """What a resume restores besides model and optimizer."""

    step: int
    scheduler: dict
    data: dict
    rng: dict


def checkpoint_root(output_dir: Path) -> Path:
    return Path(output_dir) / "checkpoints"


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint under a run's output dir (`.tmp` dirs never count)."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and (p / ".metadata").is_file()]
    return max(done, key=_step_of, default=None)


def _step_of(path: Path) -> int:
    return int(_STEP_DIR.match(path.name).group(1))


def save_checkpoint(output_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    state: TrainState, env: DistEnv, stage: int, keep: int) -> Path:
    """Write step-N.tmp on every rank, then rank 0 renames it to step-N and prunes old ones."""
    final = checkpoint_root(output_dir) / f"step-{state.step:06d}"
    tmp = final.with_name(final.name + ".tmp")
    if env.is_main:
        shutil.rmtree(tmp, ignore_errors=True)  # a crashed earlier attempt
        tmp.mkdir(parents=True)
    barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(tmp))
    torch.save(_rank_payload(state), tmp / f"rank-{env.rank:05d}.pt")
    barrier()
    if env.is_main:
        _write_json(tmp / "trainer.json", {"step": state.step, "stage": stage, "world_size": env.world_size})
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        _prune(output_dir, keep)
    barrier()
    return final


def _rank_payload(state: TrainState) -> dict:
    return {"step": state.step, "scheduler": state.scheduler, "data": state.data, "rng": state.rng}


def _write_json(path: Path, record: dict) -> None:
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _prune(output_dir: Path, keep: int) -> None:
    root = checkpoint_root(output_dir)
    done = sorted((p for p in root.iterdir() if _STEP_DIR.match(p.name)), key=_step_of)
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, env: DistEnv,
                    stage: int) -> TrainState:
    """Restore model, optimizer and this rank's train state from a checkpoint dir."""
    _check_written_by(path, env.world_size, stage)
    model_sd, optim_sd = get_state_dict(model, optimizer)
    loaded = {"model": model_sd, "optim": optim_sd}
    dcp.load(loaded, checkpoint_id=str(path))
    set_state_dict(model, optimizer, model_state_dict=loaded["model"], optim_state_dict=loaded["optim"])
    payload = torch.load(path / f"rank-{env.rank:05d}.pt", weights_only=False)
    return TrainState(payload["step"], payload["scheduler"], payload["data"], payload["rng"])


def _check_written_by(path: Path, world_size: int, stage: int) -> None:
    written = json.loads((path / "trainer.json").read_text())
    if written["stage"] != stage:
        raise VlforgeError(f"{path} is a stage {written['stage']} checkpoint, this is stage {stage}: give "
                           f"this stage its own output_dir (or --set checkpoint.resume=false)")
    if written["world_size"] != world_size:
        raise VlforgeError(f"{path} was written by {written['world_size']} ranks and holds each rank's data "
                           f"position; resume with {written['world_size']} ranks (this run has {world_size})")


def load_model_weights(path: Path, model: nn.Module) -> None:
    """Model weights only from a DCP checkpoint dir into the (sharded) model."""
    model_sd = get_model_state_dict(model)
    loaded = {"model": model_sd}
    try:
        dcp.load(loaded, checkpoint_id=str(path))
    except Exception as exc:  # DCP raises a bare CheckpointException listing each rank's error
        raise VlforgeError(f"cannot load model weights from {path} (another model preset?): "
                           f"{str(exc).splitlines()[0][:300]}") from exc
    set_model_state_dict(model, loaded["model"])


def resolve_init_source(path: Path) -> tuple[str, Path]:
    """Where `init_from` points: ("checkpoint", dir) or ("folder", model folder).

    Accepts a run's output dir (its newest checkpoint, else its export), one checkpoint dir,
    or a model folder (config.json: an export, a transformers or a release folder).
    """
    path = Path(path)
    if (path / ".metadata").is_file():
        return "checkpoint", path
    newest = latest_checkpoint(path)
    if newest is not None:
        return "checkpoint", newest
    for candidate in (path, path / "export"):
        if (candidate / "config.json").is_file():
            return "folder", candidate
    raise VlforgeError(f"init_from {path}: no checkpoint (checkpoints/step-*) and no model folder "
                       f"(config.json) there; run the previous stage first")


def full_model_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole, unsharded state dict on CPU on rank 0 (empty elsewhere); every rank calls it."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
