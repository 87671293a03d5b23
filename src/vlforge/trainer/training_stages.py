"""The three training stages: the paper's Table 4 as data, and the learning-rate schedules.

A `TrainingStagePlan` holds everything Table 4 fixes for one stage of one model size. The 1B
column (`deepseek-vl-1.3b`) and the 7B column (`deepseek-vl-7b`) are copied from the paper;
the `tiny` plans are ours: the same shapes of schedule, scaled down so a test or the demo
runs a stage in seconds on a CPU and can overfit a handful of samples.

What each stage trains (`model.STAGE_TRAINABLE`; `set_trainable_for_stage` applies it):
    1  the VL adaptor (and the high-res downsample convs, which are part of it)
    2  the LLM + the VL adaptor
    3  the LLM + the VL adaptor + SigLIP; SAM stays frozen

Schedules (Table 4 names them; the paper gives no more than the name):
    cosine  linear warm-up to the peak, then half a cosine down to `min_lr_ratio` x peak
            at the last step.
    step    linear warm-up, then constant; DeepSeek-LLM's multi-step schedule, whose
            checkpoints DeepSeek-VL starts from: x0.316 after 80% of the steps and x0.1
            after 90% (`STEP_DECAYS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from vlforge.errors import VlforgeError

STAGES = (1, 2, 3)

# DeepSeek-LLM's multi-step decay: (fraction of the steps done, multiplier from then on).
STEP_DECAYS = ((0.8, 0.316), (0.9, 0.1))

@dataclass(frozen=True)
class TrainingStagePlan:
    lr: float
    schedule: str  # "cosine" | "step"
    warmup_steps: int
    steps: int
    global_batch: int  # samples (or packed sequences) per optimizer step, over all ranks
    seq_len: int
    packing: bool
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    min_lr_ratio: float = 0.1  # cosine floor; the paper does not give one


# Stage 1's sequence length in Table 4 is 512, but one image alone takes 576 positions: we
# read it as 512 text tokens, so the sequence is 512 + 576 image positions.
_STAGE1_SEQ_LEN = 512 + 576

# Table 4 of the paper, column by column.
_TABLE4 = {
    "1b": {
        1: TrainingStagePlan(1.0e-3, "cosine", 128, 15000, 256, _STAGE1_SEQ_LEN, False),
        2: TrainingStagePlan(3e-5, "step", 2000, 96000, 1024, 4096, True),
        3: TrainingStagePlan(2.0e-5, "cosine", 256, 10000, 256, 4096, False),
    },
    "7b": {
        1: TrainingStagePlan(1.0e-3, "cosine", 128, 15000, 256, _STAGE1_SEQ_LEN, False),
        2: TrainingStagePlan(4.2e-5, "step", 2000, 42000, 2304, 4096, True),
        3: TrainingStagePlan(2.0e-5, "cosine", 256, 10000, 256, 4096, False),
    },
    # Ours: seconds on a CPU. Learning rates are high so a few samples are learnt in ~20
    # steps; stage 2 keeps the step schedule so its decay points are exercised too.
    "tiny": {
        1: TrainingStagePlan(3e-3, "cosine", 2, 20, 4, 512, False),
        2: TrainingStagePlan(2e-3, "step", 2, 20, 4, 512, False),
        3: TrainingStagePlan(2e-3, "cosine", 2, 20, 4, 512, False),
    },
}

# Janus: the spec gives stage II's 180k iterations and nothing else of the schedules; the
# other numbers are DeepSeek-VL's column of the same LLM size. Sequences hold one generation
# image (576 ids) or one understanding image with its text.
_TABLE4["janus-1b"] = {**_TABLE4["1b"], 2: replace(_TABLE4["1b"][2], steps=180000)}
_TABLE4["janus-7b"] = {**_TABLE4["7b"], 2: replace(_TABLE4["7b"][2], steps=180000)}
# tiny-janus keeps the real 576-id image: its sequences need 576 + text positions.
_TABLE4["tiny-janus"] = {stage: replace(plan, seq_len=1024) for stage, plan in _TABLE4["tiny"].items()}

_FAMILY = {
    "deepseek-vl-1.3b": "1b",
    "deepseek-vl-7b": "7b",
    "tiny": "tiny",
    "tiny-siglip": "tiny",
    "janus-1.3b": "janus-1b",
    "janus-pro-1b": "janus-1b",
    "janus-pro-7b": "janus-7b",
    "tiny-janus": "tiny-janus",
}


def stage_plan(preset: str, stage: int) -> TrainingStagePlan:
    """Table 4's plan for a model preset and stage (the tiny plans for the tiny presets)."""
    if stage not in STAGES:
        raise VlforgeError(f"stage must be one of 1, 2, 3, not {stage!r}")
    family = _FAMILY.get(preset)
    if family is None:
        raise VlforgeError(f"no stage plan for model preset {preset!r}; known: {', '.join(sorted(_FAMILY))}")
    return _TABLE4[family][stage]


def with_overrides(plan: TrainingStagePlan, **overrides) -> TrainingStagePlan:
    """The plan with every override that is not None applied (config values win)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if "betas" in given:
        given["betas"] = tuple(float(b) for b in given["betas"])
    plan = replace(plan, **given)
    _check_plan(plan)
    return plan


def _check_plan(plan: TrainingStagePlan) -> None:
    if plan.schedule not in ("cosine", "step", "constant"):
        raise VlforgeError(f"schedule must be cosine, step or constant, not {plan.schedule!r}")
    if plan.steps < 1 or plan.warmup_steps < 0:
        raise VlforgeError(f"steps must be >= 1 and warm-up >= 0 (got {plan.steps}, {plan.warmup_steps})")
    if plan.lr <= 0 or plan.global_batch < 1 or plan.seq_len < 1:
        raise VlforgeError("lr, global batch and sequence length must be positive")
    if len(plan.betas) != 2:
        raise VlforgeError(f"betas needs two values, got {plan.betas!r}")


@dataclass
class LrShape:
    """Multiplier of the peak lr at an optimizer step (0-based): warm-up, then the schedule.

    A callable object rather than a closure, so LambdaLR's state_dict records its settings
    and a resumed run can be checked against them.
    """

    schedule: str
    warmup_steps: int
    steps: int
    min_lr_ratio: float

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.schedule == "constant":
            return 1.0
        if self.schedule == "step":
            return step_multiplier(step, self.steps)
        done = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine


def step_multiplier(step: int, steps: int) -> float:
    multiplier = 1.0
    for fraction, value in STEP_DECAYS:
        if step >= fraction * steps:
            multiplier = value
    return multiplier


def build_scheduler(optimizer: torch.optim.Optimizer, plan: TrainingStagePlan) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR over the plan's shape; resuming is `load_state_dict` (it restores the step)."""
    shape = LrShape(plan.schedule, plan.warmup_steps, plan.steps, plan.min_lr_ratio)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, shape)
