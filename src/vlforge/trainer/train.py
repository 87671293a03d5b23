"""`train(config)`: one stage of DeepSeek-VL training on our shards, on one or many ranks.

The run, in order:
    process group (torchrun's, or a world of one) -> tokenizer -> model (transformers'
    DeepseekVL / DeepseekVLHybrid class: pretrained parts through `weights.load_parts`, or a
    whole model folder through `weights.load_full`; every load's report is printed) -> the
    stage's trainable set -> FSDP2 units -> AdamW over trainable parameters -> schedule ->
    batches (MixedBatches over ShardSources) -> resume from the newest checkpoint in
    output_dir, or load `init_from`'s DCP checkpoint -> steps -> final checkpoint,
    evaluation, export (a transformers folder: model, config, processor, tokenizer).

One optimizer step: `accum` micro-batches per rank (global batch = micro x accum x ranks).
The loss is a sum over supervised tokens divided by the count over all micro-batches and
ranks (counted before the forward passes), so every token weighs the same however the
tokens fall on ranks; FSDP averages gradients over ranks, hence the x world_size.

Data per stage:
    1  multimodal pairs only (captions, OCR pages, notebooks)
    2  language : multimodal by `data.ratio` with the modality warm-up; `data.sft_share` of
       each modality's examples from the SFT shards
    3  SFT conversations; their language and multimodal parts by their natural proportion
"""

from __future__ import annotations

import functools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import yaml

from vlforge.errors import VlforgeError
from vlforge.trainer import checkpoint as ckpt
from vlforge.trainer import weights
from vlforge.trainer.config import TrainConfig
from vlforge.trainer.data import ExampleEncoder, ShardSource
from vlforge.trainer.distributed import (
    DistEnv,
    all_reduce_sum,
    barrier,
    checkpoint_activations,
    init_distributed,
    mixed_precision_policy,
    shard_model,
    shutdown,
)
from vlforge.trainer.evaluation import evaluate_mc, load_mc_set
from vlforge.trainer.images import image_processor
from vlforge.trainer.janus_data import janus_tokenizer
from vlforge.trainer.janus_train import janus_batches, janus_loss, render_prompts, save_janus_extras
from vlforge.trainer.janus_weights import (
    is_janus_folder,
    load_janus_full,
    load_janus_parts,
    read_janus_config,
)
from vlforge.trainer.metrics import MetricsLog, StepClock, StepStats, peak_flops, train_record
from vlforge.trainer.mixing import MixedBatches
from vlforge.trainer.model import (
    build_from_config,
    build_model,
    causal_lm_loss,
    check_matches_preset,
    decoder_layers,
    describe,
    drop_image_outputs,
    flops_per_image,
    flops_per_token,
    forward,
    fsdp_units,
    model_inputs,
    save_model,
    set_trainable_for_stage,
)
from vlforge.trainer.prefetch import Prefetcher
from vlforge.trainer.presets import ModelConfig, resolve_config
from vlforge.trainer.tokenizer import load_tokenizer
from vlforge.trainer.training_stages import build_scheduler


def train(config: TrainConfig, options: dict | None = None) -> dict:
    """Run one stage; returns a summary (also written to output_dir/summary.json)."""
    created = not dist.is_initialized()
    env = init_distributed()
    try:
        return _train(config, env, options)
    finally:
        if created:
            shutdown()


@dataclass
class Run:
    """Everything the step loop needs."""

    config: TrainConfig
    env: DistEnv
    tokenizer: object
    preset: ModelConfig
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    batches: Prefetcher
    accum: int
    flops_per_token: float
    flops_per_image: float
    log: MetricsLog
    peak: float | None


def _train(config: TrainConfig, env: DistEnv, options: dict | None) -> dict:
    torch.manual_seed(config.seed)  # every rank builds the same initial weights
    resume_from = ckpt.latest_checkpoint(config.output_dir) if config.resume else None
    run, start = setup_run(config, env, resume_from)
    if env.is_main:
        _write_run_files(config, options, run, start)
    try:
        losses, last_eval = _loop(run, start)
        return _finish(run, start, losses, last_eval)
    finally:
        run.batches.close()


def setup_run(config: TrainConfig, env: DistEnv, resume_from: Path | None = None) -> tuple[Run, int]:
    """Everything up to the first step: (the run, the step it resumes after)."""
    accum = config.grad_accum(env.world_size)  # before the slow parts: a bad batch size fails at once
    preset = resolve_config(config.model.preset)
    tokenizer = load_tokenizer(_tokenizer_path(config))
    if preset.is_janus:
        tokenizer = janus_tokenizer(tokenizer)
        if config.mc_set:
            raise VlforgeError("eval.mc_set scores DeepSeek-VL's chat format; a Janus run renders eval.prompts")
    model, init_checkpoint = _initial_model(config, tokenizer, preset, resume_from, env)
    set_trainable_for_stage(model, config.stage, config.model.train_siglip)
    fpt = flops_per_token(model, config.plan.seq_len)
    fpi = flops_per_image(model, config.stage, config.model.train_siglip)
    model = _distribute(model, config, env)
    if init_checkpoint is not None:
        ckpt.load_model_weights(init_checkpoint, model)
    optimizer = _optimizer(model, config)
    scheduler = build_scheduler(optimizer, config.plan)
    make_batches = janus_batches if preset.is_janus else build_batches
    batches = make_batches(config, tokenizer, preset, env, accum)
    start = 0
    if resume_from is not None:
        start = _resume(resume_from, model, optimizer, scheduler, batches, env, config.stage)
    run = Run(config, env, tokenizer, preset, model, optimizer, scheduler,
              Prefetcher(batches, config.data.prefetch), accum, fpt, fpi,
              MetricsLog(config.output_dir, env.is_main), _peak(env, config))
    return run, start


def _peak(env: DistEnv, config: TrainConfig) -> float | None:
    name = torch.cuda.get_device_name(env.device) if env.device.type == "cuda" else "cpu"
    return peak_flops(name, config.peak_tflops)


def _tokenizer_path(config: TrainConfig) -> str | None:
    """The configured tokenizer; else the tokenizer of the model folder a stage starts from, or
    of the LLM's folder; else the byte tokenizer."""
    if config.model.tokenizer:
        return config.model.tokenizer
    for folder in (_init_folder(config), config.model.llm):
        if folder and (Path(folder) / "tokenizer.json").is_file():
            return str(folder)
    return None


def _init_folder(config: TrainConfig) -> Path | None:
    """The model folder `init_from` names (an export, a transformers or release folder), if any."""
    if config.init_from is None:
        return None
    kind, path = ckpt.resolve_init_source(config.init_from)
    return path if kind == "folder" else None


def _initial_model(config: TrainConfig, tokenizer, preset: ModelConfig, resume_from: Path | None, env: DistEnv):
    """(unsharded model, DCP checkpoint to load after sharding or None).

    A resumed run takes every weight from its own checkpoint, so `init_from` is skipped. A
    model folder is loaded whole (`weights.load_full`); a DCP checkpoint after sharding; else
    the preset is filled from the configured parts (`weights.load_parts`), or left at its
    random initialisation when no part is given (the tiny presets' tests).
    """
    source = None
    if resume_from is None and config.init_from is not None:
        if config.init_from.resolve() == config.output_dir.resolve():
            raise VlforgeError(f"init_from is this run's own output_dir {config.output_dir} (init_from=previous "
                               "needs {stage} in output_dir); give init_from the previous stage's dir")
        source = ckpt.resolve_init_source(config.init_from)
    if source is not None and source[0] == "folder":
        return _folder_model(source[1], config, tokenizer, preset, env), None
    m = config.model
    model = build_model(preset, _vocab_size(config, tokenizer), tokenizer.image_token_id,
                        attention=_attention(config, env))
    checkpoint = source[1] if source is not None else None
    # The parts seed a run that has no weights of its own yet: a DCP checkpoint (init_from or
    # resume) replaces every weight.
    if (m.siglip or m.sam or m.llm or m.vq) and checkpoint is None and resume_from is None:
        if preset.is_janus:
            _announce(load_janus_parts(model, siglip=m.siglip, vq=m.vq, llm=m.llm), env)
        else:
            _announce(weights.load_parts(model, siglip=m.siglip, sam=m.sam, llm=m.llm), env)
    return model, checkpoint


def _vocab_size(config: TrainConfig, tokenizer) -> int:
    """Embedding rows: model.vocab_size, else the LLM checkpoint's, else the tokenizer's."""
    size = config.model.vocab_size
    if size is None and config.model.llm:
        from transformers import AutoConfig

        size = AutoConfig.from_pretrained(config.model.llm, local_files_only=True).vocab_size
    size = size or len(tokenizer)
    if size < len(tokenizer):
        raise VlforgeError(f"the model has {size} embedding rows but the tokenizer {len(tokenizer)} tokens")
    return size


def _folder_model(path: Path, config: TrainConfig, tokenizer, preset: ModelConfig, env: DistEnv):
    """A model folder's model, every weight loaded; it must have the preset's shape and fit the tokenizer."""
    janus = preset.is_janus or is_janus_folder(path)
    model_config = read_janus_config(path) if janus else weights.read_model_config(path)
    check_matches_preset(model_config, preset, path)
    vocab = model_config.text_config.vocab_size
    if vocab < len(tokenizer) or model_config.image_token_id != tokenizer.image_token_id:
        raise VlforgeError(f"init_from {path} was trained with another tokenizer (vocabulary {vocab}, image "
                           f"token {model_config.image_token_id}; this one {len(tokenizer)}, "
                           f"{tokenizer.image_token_id}); set model.tokenizer to the folder's tokenizer")
    model = build_from_config(model_config, attention=_attention(config, env))
    _announce((load_janus_full if janus else weights.load_full)(model, path), env)
    return model


def _announce(report, env: DistEnv) -> None:
    if env.is_main:
        print(f"weights: {report.summary()}", flush=True)


def _attention(config: TrainConfig, env: DistEnv) -> str:
    """`auto`: flex attention (document boundaries as a BlockMask) for packed rows on CUDA;
    SDPA elsewhere (flex attention has no backward on CPU)."""
    if config.attention != "auto":
        return config.attention
    return "flex_attention" if config.data.packing and env.device.type == "cuda" else "sdpa"


def _distribute(model, config: TrainConfig, env: DistEnv):
    model.to(env.device)
    if config.activation_checkpointing:
        checkpoint_activations(decoder_layers(model))
    drop_image_outputs(model)
    return shard_model(model, fsdp_units(model), mixed_precision_policy(config.mixed_precision, env.device))


def _optimizer(model, config: TrainConfig) -> torch.optim.AdamW:
    trainable = [p for p in model.parameters() if p.requires_grad]
    plan = config.plan
    return torch.optim.AdamW(trainable, lr=plan.lr, betas=plan.betas, weight_decay=plan.weight_decay)


def _resume(path: Path, model, optimizer, scheduler, batches: MixedBatches, env: DistEnv, stage: int) -> int:
    state = ckpt.load_checkpoint(path, model, optimizer, env, stage)
    scheduler.load_state_dict(state.scheduler)
    batches.load_state_dict(state.data)
    ckpt.set_rng_state(state.rng)
    return state.step


# --- data ------------------------------------------------------------------------------------


def build_batches(config: TrainConfig, tokenizer, model_config: ModelConfig, env: DistEnv, accum: int) -> MixedBatches:
    """This rank's MixedBatches for the stage (one batch = one micro-batch)."""
    data = config.data
    if not data.group_by_modality and env.world_size > 1:
        # FSDP gathers the vision tower only on ranks that call it: if one rank's batch had
        # images and another's not, their collectives would no longer pair up.
        raise VlforgeError("data.group_by_modality=false runs on one rank only: with several ranks every "
                           "batch must be one modality on all of them")
    encoder = ExampleEncoder.for_model(tokenizer, model_config, max_seq_len=data.seq_len)
    source = functools.partial(ShardSource, encoder=encoder, seed=config.seed, rank=env.rank,
                               world_size=env.world_size)
    sources, ratio, sft_sources = _stage_sources(config, source)
    return MixedBatches(
        sources, batch_size=config.micro_batch, pad_id=tokenizer.pad_token_id,
        processor=image_processor(model_config), ratio=ratio,
        # One optimizer step is `accum` micro-batches: its modality and warm-up go by step.
        batches_per_step=accum, warmup_steps=data.warmup_steps, warmup_shape=data.warmup_shape,
        group_by_modality=data.group_by_modality, packing=data.packing, seq_len=data.seq_len,
        seed=config.seed, rank=env.rank, world_size=env.world_size, sft_sources=sft_sources,
        sft_share=data.sft_share if sft_sources else 0.0, image_workers=data.image_workers,
    )


def _stage_sources(config: TrainConfig, source) -> tuple[dict, float, dict | None]:
    """(sources by modality, language share, SFT sources for stage 2's share or None)."""
    data, stage = config.data, config.stage
    if stage == 1:
        return {"multimodal": source(list(_listed(data.multimodal, "data.multimodal")), "multimodal")}, 0.0, None
    if stage == 2:
        sources = {m: source(list(paths), m) for m, paths in
                   (("language", data.language), ("multimodal", data.multimodal)) if paths}
        if not sources:
            raise VlforgeError("stage 2 needs data.language and/or data.multimodal shard dirs")
        sft = _sft_sources(data.sft, source) if data.sft and data.sft_share else None
        return sources, data.language_share, sft
    sft = _sft_sources(_listed(data.sft, "data.sft"), source)
    counts = {m: len(s.records) for m, s in sft.items()}
    return sft, counts.get("language", 0) / sum(counts.values()), None


def _listed(paths, name: str):
    if not paths:
        raise VlforgeError(f"this stage needs shard dirs in {name}")
    return paths


def _sft_sources(paths, source) -> dict:
    """SFT shards split into their text-only and image conversations (either may be empty)."""
    found, errors = {}, []
    for modality in ("language", "multimodal"):
        try:
            found[modality] = source(list(paths), "sft", modality=modality)
        except VlforgeError as exc:  # none (or fewer than ranks) of this modality, or no shards
            errors.append(str(exc))
    if not found:
        raise VlforgeError(f"no SFT conversations (text kind conversation) for every rank: {errors[0]}")
    return found


# --- the loop --------------------------------------------------------------------------------


def _loop(run: Run, start: int) -> tuple[list[float], dict | None]:
    config, losses, last_eval, saved = run.config, [], None, start
    mc_items = load_mc_set(config.mc_set, config.eval_max_items) if config.mc_set else None
    for step in range(start + 1, config.plan.steps + 1):
        stats = train_step(run, step)
        losses.append(stats.loss)
        if step % config.log_every == 0 or step == config.plan.steps:
            run.log.write(train_record(stats, run.env.device, run.env.world_size, run.peak))
        if mc_items and config.eval_every and step % config.eval_every == 0:
            last_eval = _evaluate(run, mc_items, step)
        if config.eval_prompts and config.eval_every and step % config.eval_every == 0:
            _render(run, step)
        if config.checkpoint_every and step % config.checkpoint_every == 0:
            _save(run, step)
            saved = step
    if config.checkpoint_at_end and saved != config.plan.steps:
        _save(run, config.plan.steps)
    if mc_items and (last_eval is None or last_eval["step"] != config.plan.steps):
        last_eval = _evaluate(run, mc_items, config.plan.steps)
    if config.eval_prompts and not (config.eval_every and config.plan.steps % config.eval_every == 0):
        _render(run, config.plan.steps)
    return losses, last_eval


def train_step(run: Run, step: int) -> StepStats:
    """One optimizer step over `accum` micro-batches; every rank returns the same stats."""
    clock = StepClock(run.env.device)
    micro = [next(run.batches) for _ in range(run.accum)]
    targets, tokens, samples, images = all_reduce_sum(_counts(micro), run.env.device)
    scale = run.env.world_size / max(targets, 1.0)
    loss_sum = torch.zeros((), device=run.env.device)
    for batch in micro:
        loss = _batch_loss(run, batch)
        (loss * scale).backward()
        loss_sum += loss.detach().float()
    grad_norm = _clip(run)
    lr = run.scheduler.get_last_lr()[0]
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    [loss] = all_reduce_sum([float(loss_sum)], run.env.device)
    flops = run.flops_per_token * tokens + run.flops_per_image * images
    modality = "+".join(sorted({b["modality"] for b in micro}))
    return StepStats(step, loss / max(targets, 1.0), lr, grad_norm, modality, int(tokens), int(samples),
                     clock.elapsed(), flops)


def _batch_loss(run: Run, batch: dict) -> torch.Tensor:
    """The summed loss over the batch's targets (text, and Janus's image ids)."""
    inputs = model_inputs(batch, run.env.device)
    if run.preset.is_janus:
        return janus_loss(run.model, inputs, batch, run.env.device)
    loss, _ = causal_lm_loss(forward(run.model, inputs), batch["labels"].to(run.env.device), "sum")
    return loss


def _counts(micro: list[dict]) -> list[float]:
    """[supervised targets, real tokens, samples, images] of this rank's micro-batches."""
    return [float(sum(b["num_targets"] for b in micro)), float(sum(b["num_tokens"] for b in micro)),
            float(sum(len(b["keys"]) for b in micro)),
            float(sum(0 if b["pixel_values"] is None else b["pixel_values"].shape[0] for b in micro))]


def _clip(run: Run) -> float:
    """Clip the global gradient norm; returns the norm before clipping (0 with no gradient)."""
    params = [p for p in run.model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    norm = torch.nn.utils.clip_grad_norm_(params, run.config.plan.grad_clip)
    # FSDP2 gradients are DTensors: the norm is one too, and full_tensor() is the global value.
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)


def _render(run: Run, step: int) -> Path | None:
    """Janus: one image per eval prompt on a contact sheet, output_dir/samples/step-N.png,
    drawn by an unsharded copy of the weights on rank 0 (transformers' sampler calls parts of
    the model outside the FSDP-wrapped root's forward)."""
    state = ckpt.full_model_state_dict(run.model)  # a collective: every rank calls it
    path = None
    if run.env.is_main:
        model = build_from_config(run.model.config)
        model.load_state_dict(state)
        path = render_prompts(model.eval(), run.tokenizer, list(run.config.eval_prompts),
                              run.config.output_dir / "samples" / f"step-{step:06d}.png", seed=run.config.seed)
        run.log.write({"kind": "samples", "step": step, "path": str(path)}, console=False)
        print(f"step {step:>6}  samples {path}", flush=True)
    barrier()
    return path


def _evaluate(run: Run, items, step: int) -> dict:
    result = evaluate_mc(run.model, items, run.tokenizer, run.preset, run.env)
    record = {"kind": "eval", "step": step, **result}
    run.log.write(record)
    return record


def _save(run: Run, step: int) -> Path:
    state = ckpt.TrainState(step, run.scheduler.state_dict(), run.batches.state_dict(), ckpt.rng_state())
    return ckpt.save_checkpoint(run.config.output_dir, run.model, run.optimizer, state, run.env,
                                run.config.stage, run.config.keep_checkpoints)


# --- the end ---------------------------------------------------------------------------------


def export(run: Run) -> Path:
    """Gather the full weights on rank 0 and write a transformers folder (atomic): the model
    (`save_pretrained`), its processor, tokenizer and chat template (`processing.save_processor`).
    `AutoModelForImageTextToText.from_pretrained` loads it with no code of ours."""
    from vlforge.trainer.processing import save_processor

    state = ckpt.full_model_state_dict(run.model)  # a collective: every rank calls it
    target = run.config.output_dir / "export"
    if run.env.is_main:
        tmp = target.with_name("export.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        save_model(run.model.config, state, tmp)
        if run.preset.is_janus:
            save_janus_extras(tmp, run.preset, run.tokenizer)
        else:
            save_processor(tmp, run.preset, run.tokenizer)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    barrier()
    return target


def _finish(run: Run, start: int, losses: list[float], last_eval: dict | None) -> dict:
    config = run.config
    exported = export(run) if config.export else None
    summary = {
        "stage": config.stage, "preset": config.model.preset, "world_size": run.env.world_size,
        "start_step": start, "steps": config.plan.steps, "losses": losses,
        "final_loss": losses[-1] if losses else None, "eval": last_eval,
        "records_skipped": _records_skipped(run),
        "checkpoint": _optional_str(ckpt.latest_checkpoint(config.output_dir)),
        "export": _optional_str(exported), "output_dir": str(config.output_dir),
    }
    if run.env.is_main:
        (config.output_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _records_skipped(run: Run) -> dict[str, int]:
    """Shard records that gave no training example in this run (all ranks, by reason): a
    record is never dropped without the run saying so."""
    per_rank: list[dict[str, int] | None] = [None] * run.env.world_size
    dist.all_gather_object(per_rank, run.batches.batches.skipped())
    total: dict[str, int] = {}
    for counts in per_rank:
        for reason, count in (counts or {}).items():
            total[reason] = total.get(reason, 0) + count
    return dict(sorted(total.items()))


def _optional_str(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def _write_run_files(config: TrainConfig, options: dict | None, run: Run, start: int) -> None:
    config.output_dir.mkdir(parents=True, exist_ok=True)
    if options is not None:
        (config.output_dir / "config.yaml").write_text(yaml.safe_dump(options, sort_keys=True))
    if start:
        where = f"resuming at step {start}"
    elif config.init_from is not None:
        where = f"from step 0 with the weights of {config.init_from}"
    elif config.model.llm or config.model.siglip or config.model.sam or config.model.vq:
        where = "from step 0 with the pretrained parts (new layers at their init)"
    else:
        where = "from step 0 with randomly initialised weights (no pretrained part given)"
    print(f"stage {config.stage}: {describe(run.model, config.model.preset)}; {config.plan.steps} steps, {where}",
          flush=True)
