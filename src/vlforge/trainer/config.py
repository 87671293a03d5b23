"""Train options: defaults, then a YAML file (--config), then `--set key=value`, then --stage.

The layering and the strictness are `vlforge.config`'s: every key must exist in
`TRAIN_DEFAULTS` and keep the default's type, so a typo in a long run's config fails at once
with the known keys. Options left at None take the stage plan's value (Table 4 for the real
model sizes, `stages.py`'s tiny plan for the tiny presets).

`output_dir` may hold `{stage}`, so one YAML serves all three stages. `checkpoint.init_from`
is a path (a run's output dir, one checkpoint, or a model folder: an export, a transformers or
a release DeepSeek-VL folder; `{prev_stage}` allowed)
or `previous`: the previous stage's `output_dir` (nothing for stage 1, which starts from the
pretrained parts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlforge.config import load_config_file, merge_options, parse_set
from vlforge.errors import VlforgeError
from vlforge.trainer.training_stages import TrainingStagePlan, stage_plan, with_overrides

TRAIN_DEFAULTS: dict[str, Any] = {
    "stage": None,  # 1, 2 or 3; --stage wins over the file
    # Relative paths of data, eval.mc_set, output_dir, checkpoint.init_from and the model's
    # checkpoints (siglip, sam, llm, tokenizer) are read
    # against this directory (None: the working directory). One YAML then serves any
    # `make demo OUT=...`: `--set root=$(OUT)`.
    "root": None,
    "model": {
        "preset": "tiny",  # tiny, tiny-siglip, deepseek-vl-1.3b, deepseek-vl-7b
        # Local checkpoints of the pretrained parts (stage 1 starts from them, weights.load_parts):
        # SigLIP / SAM as transformers folders or timm files, the LLM as a transformers folder.
        # None of the three = random init.
        "siglip": None,
        "sam": None,
        "llm": None,
        "vq": None,  # Janus: the VQ model folder (JanusVQVAE) stage I starts from, with siglip and llm
        # Janus stage III: train SigLIP too (the spec's table: everything but the VQ model);
        # false freezes it.
        "train_siglip": True,
        "tokenizer": None,  # a tokenizer folder; None = the LLM's folder, else the built-in test tokenizer
        # Embedding rows: None = the tokenizer's size; larger pads the vocabulary (DeepSeek-LLM
        # has 102400 rows for ~100k tokens; benchmarks use it to get the real head size).
        "vocab_size": None,
    },
    "data": {
        # Shard dirs (or shard files) per kind of sample, read with the data helper's ShardSource.
        "language": [],  # text shards: language-only samples
        "multimodal": [],  # image + text pairs (OCR pages, notebooks, captions)
        "sft": [],  # conversation shards (stage 3, and `sft_share` of stage 2)
        # language : multimodal in stage 2, as two numbers: YAML reads a bare 7:3 as the
        # base-60 integer 423, so `ratio: [7, 3]` or `--set data.ratio=7,3`.
        "ratio": [7, 3],
        "warmup_steps": 0,  # modality warm-up: language share from 1.0 down to the ratio
        "warmup_shape": "linear",
        "group_by_modality": True,  # every global step all-language or all-multimodal
        "packing": None,  # None = the stage plan's (Table 4: stage 2 only)
        "seq_len": None,
        "sft_share": 0.0,  # share of SFT conversations mixed into stage 2 (per modality)
        "prefetch": 2,  # batches made ahead in a background thread (0: made inline)
        "image_workers": 0,  # threads decoding a batch's images (0: the loader thread)
        # Janus presets only (see trainer/janus_train.py):
        "captions": [],  # captions-corpus shards: understanding (image -> caption) and generation
        "imagenet": [],  # class-name shards (`<category_name><image>`): generation before the switch
        # understanding : text : generation; None = the published SFT ratio of the preset
        # (Janus 7:3:10, Janus-Pro 5:1:4) in stages II-III, 1:0:1 in stage I
        "janus_ratio": None,
        "curriculum_switch": 0.6667,  # fraction of the stage's steps on ImageNet before captions (II)
        "first_sentence_share": 0.25,  # generation captions cut to their first sentence
        "uncond_share": 0.1,  # generation prompts replaced by the unconditional one (CFG)
    },
    "optim": {
        "lr": None,
        "schedule": None,  # cosine | step | constant
        "warmup_steps": None,
        "min_lr_ratio": None,
        "weight_decay": None,
        "betas": None,  # [0.9, 0.95] or 0.9,0.95
        "grad_clip": None,
    },
    "steps": None,  # optimizer steps; None = the stage plan's
    "batch": {
        "global": None,  # samples per optimizer step over all ranks; None = the stage plan's
        "micro": 1,  # samples per forward pass per rank; accumulation = global / (micro x ranks)
    },
    "output_dir": "out/train/stage{stage}",
    "checkpoint": {
        "every": 0,  # save every N steps (0: only at the end)
        "keep": 2,  # keep the last K checkpoints
        "at_end": True,  # also save after the last step (benchmarks turn it off)
        "resume": True,  # continue from the newest checkpoint in output_dir when there is one
        "init_from": None,  # path or `previous`: model weights only, fresh optimizer
    },
    "eval": {
        "mc_set": None,  # multiple-choice JSONL (evaluation.make_mc_set writes one)
        "every": 0,  # evaluate every N steps (0: only at the end when mc_set is given)
        "max_items": 0,  # 0 = all
        "prompts": [],  # Janus: prompts drawn (CFG 5) onto output_dir/samples/step-N.png at eval steps
    },
    "activation_checkpointing": False,
    # The language model's attention kernel: auto = flex_attention for packed rows on CUDA
    # (document boundaries as a BlockMask, no dense mask), sdpa otherwise; or sdpa,
    # flex_attention (CUDA for training), eager.
    "attention": "auto",
    "mixed_precision": "auto",  # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    "seed": 0,
    "log_every": 1,
    "export": True,  # write a transformers folder (model, processor, tokenizer) at the end
    "peak_tflops": None,  # MFU denominator; None = looked up from the GPU's name
}


@dataclass(frozen=True)
class ModelOptions:
    preset: str
    siglip: str | None
    sam: str | None
    llm: str | None
    tokenizer: str | None
    vocab_size: int | None
    vq: str | None = None
    train_siglip: bool = True


@dataclass(frozen=True)
class DataOptions:
    language: tuple[str, ...]
    multimodal: tuple[str, ...]
    sft: tuple[str, ...]
    language_share: float  # from `ratio`
    warmup_steps: int
    warmup_shape: str
    group_by_modality: bool
    packing: bool
    seq_len: int
    sft_share: float
    prefetch: int
    image_workers: int
    captions: tuple[str, ...] = ()
    imagenet: tuple[str, ...] = ()
    janus_ratio: tuple[float, float, float] | None = None
    curriculum_switch: float = 2 / 3
    first_sentence_share: float = 0.25
    uncond_share: float = 0.1


@dataclass(frozen=True)
class TrainConfig:
    stage: int
    model: ModelOptions
    data: DataOptions
    plan: TrainingStagePlan  # Table 4 with the optim/steps/batch overrides applied
    micro_batch: int
    output_dir: Path
    checkpoint_every: int
    keep_checkpoints: int
    checkpoint_at_end: bool
    resume: bool
    init_from: Path | None
    mc_set: Path | None
    eval_every: int
    eval_max_items: int
    activation_checkpointing: bool
    attention: str
    mixed_precision: str
    seed: int
    log_every: int
    export: bool
    peak_tflops: float | None
    eval_prompts: tuple[str, ...] = ()

    def grad_accum(self, world_size: int) -> int:
        """Micro-batches per rank per optimizer step; the global batch must split evenly."""
        per_step = self.micro_batch * world_size
        if self.plan.global_batch % per_step:
            raise VlforgeError(f"global batch {self.plan.global_batch} does not split into micro batches "
                               f"of {self.micro_batch} on {world_size} ranks; set batch.global to a "
                               f"multiple of {per_step}")
        return self.plan.global_batch // per_step


def resolve_train_options(config_file: str | None = None, assignments: tuple[str, ...] = (),
                          stage: int | None = None) -> dict:
    """Defaults, then the YAML file, then each --set, then --stage: the nested option dict."""
    options = merge_options(TRAIN_DEFAULTS, {})
    if config_file:
        options = merge_options(options, load_config_file(config_file))
    for assignment in assignments:
        options = merge_options(options, parse_set(assignment))
    if stage is not None:
        options["stage"] = stage
    return options


def load_train_config(config_file: str | None = None, assignments: tuple[str, ...] = (),
                      stage: int | None = None) -> TrainConfig:
    return build_train_config(resolve_train_options(config_file, assignments, stage))


def build_train_config(options: dict) -> TrainConfig:
    options = _rooted(options)
    stage = _stage(options["stage"])
    model = ModelOptions(**{k: _optional_str(options["model"], k) for k in ("siglip", "sam", "llm", "tokenizer", "vq")},
                         preset=str(options["model"]["preset"]),
                         train_siglip=bool(options["model"]["train_siglip"]),
                         vocab_size=_maybe(int, options["model"]["vocab_size"], "model.vocab_size"))
    plan = _plan(options, model.preset, stage)
    output_dir = Path(_for_stage(str(options["output_dir"]), stage))
    ckpt, ev = options["checkpoint"], options["eval"]
    return TrainConfig(
        stage=stage, model=model, data=_data(options["data"], plan), plan=plan,
        micro_batch=_positive(options["batch"]["micro"], "batch.micro"),
        output_dir=output_dir,
        checkpoint_every=_non_negative(ckpt["every"], "checkpoint.every"),
        keep_checkpoints=_positive(ckpt["keep"], "checkpoint.keep"),
        checkpoint_at_end=bool(ckpt["at_end"]),
        resume=bool(ckpt["resume"]),
        init_from=_init_from(ckpt["init_from"], str(options["output_dir"]), stage),
        mc_set=Path(ev["mc_set"]) if ev["mc_set"] else None,
        eval_every=_non_negative(ev["every"], "eval.every"),
        eval_max_items=_non_negative(ev["max_items"], "eval.max_items"),
        eval_prompts=tuple(str(p) for p in ev["prompts"]),
        activation_checkpointing=bool(options["activation_checkpointing"]),
        attention=_choice(options["attention"], "attention", ("auto", "sdpa", "flex_attention", "eager")),
        mixed_precision=_choice(options["mixed_precision"], "mixed_precision", ("auto", "bf16", "fp32")),
        seed=int(options["seed"]),
        log_every=_positive(options["log_every"], "log_every"),
        export=bool(options["export"]),
        peak_tflops=_maybe(float, options["peak_tflops"], "peak_tflops"),
    )


def _rooted(options: dict) -> dict:
    """A copy of the options with their relative paths put under `root` (when it is set)."""
    root = options["root"]
    if root in (None, ""):
        return options

    def under(path: Any) -> Any:
        if path in (None, "", "previous") or Path(str(path)).is_absolute():
            return path
        return str(Path(str(root)) / str(path))

    rooted = {**options, "output_dir": under(options["output_dir"]),
              "data": {**options["data"]}, "eval": {**options["eval"]},
              "checkpoint": {**options["checkpoint"]}, "model": {**options["model"]}}
    for part in ("siglip", "sam", "llm", "tokenizer", "vq"):
        rooted["model"][part] = under(options["model"][part])
    for kind in ("language", "multimodal", "sft", "captions", "imagenet"):
        rooted["data"][kind] = [under(p) for p in options["data"][kind]]
    rooted["eval"]["mc_set"] = under(options["eval"]["mc_set"])
    rooted["checkpoint"]["init_from"] = under(options["checkpoint"]["init_from"])
    return rooted


def _stage(value: Any) -> int:
    if value is None:
        raise VlforgeError("no stage given: pass --stage 1, 2 or 3 (or set `stage` in the config)")
    if value not in (1, 2, 3):
        raise VlforgeError(f"stage must be 1, 2 or 3, not {value!r}")
    return int(value)


def _plan(options: dict, preset: str, stage: int) -> TrainingStagePlan:
    optim, data = options["optim"], options["data"]
    return with_overrides(
        stage_plan(preset, stage),
        lr=_maybe(float, optim["lr"], "optim.lr"), schedule=optim["schedule"],
        warmup_steps=_maybe(int, optim["warmup_steps"], "optim.warmup_steps"),
        min_lr_ratio=_maybe(float, optim["min_lr_ratio"], "optim.min_lr_ratio"),
        weight_decay=_maybe(float, optim["weight_decay"], "optim.weight_decay"),
        betas=_maybe(_betas, optim["betas"], "optim.betas"),
        grad_clip=_maybe(float, optim["grad_clip"], "optim.grad_clip"),
        steps=_maybe(int, options["steps"], "steps"),
        global_batch=_maybe(int, options["batch"]["global"], "batch.global"),
        seq_len=_maybe(int, data["seq_len"], "data.seq_len"),
        packing=_maybe(_bool, data["packing"], "data.packing"),
    )


def _maybe(kind, value: Any, name: str):
    """None stays None (the plan's value); else the value as `kind`, or a one-line error.

    Options whose default is None take any YAML type, and YAML reads `1e-5` (no dot) as a
    string, so numbers are converted here rather than trusted.
    """
    if value is None:
        return None
    try:
        if kind in (int, float) and isinstance(value, bool):
            raise ValueError
        converted = kind(value)
        if kind is int and converted != float(value):
            raise ValueError
        return converted
    except (TypeError, ValueError):
        raise VlforgeError(f"option {name!r} expects {_EXPECTED[kind]}, got {value!r}") from None


def _betas(value: Any) -> tuple[float, float]:
    if isinstance(value, str):  # --set optim.betas=0.9,0.95
        value = value.split(",")
    betas = tuple(float(b) for b in value)
    if len(betas) != 2:
        raise ValueError
    return betas


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


_EXPECTED = {float: "a number", int: "an integer", _betas: "two numbers, e.g. 0.9,0.95", _bool: "true or false"}


def _data(data: dict, plan: TrainingStagePlan) -> DataOptions:
    return DataOptions(
        language=tuple(data["language"]), multimodal=tuple(data["multimodal"]), sft=tuple(data["sft"]),
        language_share=parse_ratio(data["ratio"]),
        warmup_steps=_non_negative(data["warmup_steps"], "data.warmup_steps"),
        warmup_shape=str(data["warmup_shape"]),
        group_by_modality=bool(data["group_by_modality"]),
        packing=plan.packing, seq_len=plan.seq_len,
        sft_share=_fraction(data["sft_share"], "data.sft_share"),
        prefetch=_non_negative(data["prefetch"], "data.prefetch"),
        image_workers=_non_negative(data["image_workers"], "data.image_workers"),
        captions=tuple(data["captions"]), imagenet=tuple(data["imagenet"]),
        janus_ratio=_janus_ratio(data["janus_ratio"]),
        curriculum_switch=_fraction(data["curriculum_switch"], "data.curriculum_switch"),
        first_sentence_share=_fraction(data["first_sentence_share"], "data.first_sentence_share"),
        uncond_share=_fraction(data["uncond_share"], "data.uncond_share"),
    )


def _janus_ratio(value: Any) -> tuple[float, float, float] | None:
    """None, or understanding : text : generation as three non-negative numbers."""
    if value is None:
        return None
    if isinstance(value, str):  # --set data.janus_ratio=7,3,10
        value = value.split(",")
    try:
        parts = tuple(float(p) for p in value)
    except (TypeError, ValueError):
        parts = ()
    if len(parts) != 3 or min(parts) < 0 or sum(parts) <= 0:
        raise VlforgeError(f"data.janus_ratio must be three non-negative numbers (understanding, text, "
                           f"generation) with a positive sum, e.g. [7, 3, 10], not {value!r}")
    return parts


def parse_ratio(ratio: Any) -> float:
    """[language, multimodal] parts (numbers or numeric strings) -> the language share."""
    try:
        language, multimodal = (float(p) for p in ratio)
    except (TypeError, ValueError):
        raise VlforgeError(f"data.ratio must be two numbers, language and multimodal, e.g. [7, 3], "
                           f"not {ratio!r}") from None
    if language < 0 or multimodal < 0 or language + multimodal <= 0:
        raise VlforgeError(f"data.ratio needs non-negative parts with a positive sum, not {ratio!r}")
    return language / (language + multimodal)


def _init_from(value: Any, output_pattern: str, stage: int) -> Path | None:
    if value in (None, ""):
        return None
    if value == "previous":
        return Path(_for_stage(output_pattern, stage - 1)) if stage > 1 else None
    return Path(_for_stage(str(value), stage))


def _for_stage(pattern: str, stage: int) -> str:
    """`{stage}` -> the stage and `{prev_stage}` -> the one before (str.replace, not format:
    other braces in a path stay as they are)."""
    return pattern.replace("{prev_stage}", str(stage - 1)).replace("{stage}", str(stage))


def _optional_str(section: dict, key: str) -> str | None:
    value = section[key]
    return str(value) if value not in (None, "") else None


def _positive(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise VlforgeError(f"{name} must be a positive integer, not {value!r}")
    return value


def _non_negative(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise VlforgeError(f"{name} must be an integer >= 0, not {value!r}")
    return value


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise VlforgeError(f"{name} must be a number between 0 and 1, not {value!r}")
    return float(value)


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise VlforgeError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value

