"""The trainer's model: transformers' DeepSeek-VL classes, and what training needs around them.

`build_model(preset, ...)` returns `DeepseekVLForConditionalGeneration` (SigLIP only: the
1.3B, `tiny-siglip`) or `DeepseekVLHybridForConditionalGeneration` (SigLIP + SAM: the 7B,
`tiny`), randomly initialised; `weights.load_full` / `weights.load_parts` fill it. The
architecture is transformers' own, so an export is a plain transformers folder.

Stream of one multimodal batch (7B shapes):

    pixel_values [N, 3, 384, 384], high_res_pixel_values [N, 3, 1024, 1024] (hybrid only),
    both normalised by the image processor (`images.image_processor`)
      -> SigLIP-L                                   [N, 576, 1024]
      -> SAM-B -> neck -> 96x96 -> conv/2 -> conv/2  [N, 1024, 24, 24]
         + hd_alpha x the same downsample of a second neck over the first global block
      -> aligner (hybrid split MLP)                  [N, 576, D]
    input_ids [B, T] with N*576 positions == image_token_id -> Llama decoder -> lm_head

Parameter groups (what a training stage trains, `STAGE_TRAINABLE`):
    siglip   model.vision_model
    sam      model.high_res_vision_model (SAM's encoder and its own neck)
    adaptor  model.aligner, and the hybrid's layers SAM's checkpoints lack: the downsample
             convs (high_res_vision_proj), the second branch's neck (high_res_vision_neck)
             and its scale (high_res_vision_alpha); they must train in stage 1
    llm      model.language_model, lm_head

FSDP, the contract with the training loop: `fsdp_units(model)` lists the modules to
`fully_shard` one by one, in order, before `fully_shard(model)` on the root. Everything
that runs goes through module calls (`model(...)`), so the FSDP hooks see it; the scoring
helpers below call `model(...)` for the same reason.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    DeepseekVLForConditionalGeneration,
    DeepseekVLHybridConfig,
    DeepseekVLHybridForConditionalGeneration,
    JanusForConditionalGeneration,
    PretrainedConfig,
)

from vlforge.errors import VlforgeError
from vlforge.trainer.janus_model import (
    build_janus,
    is_janus,
    janus_fsdp_units,
    janus_image_work,
    janus_parameter_groups,
    janus_stage_groups,
)
from vlforge.trainer.presets import ModelConfig, hf_config, resolve_config

IGNORE_INDEX = -100
GROUPS = ("siglip", "sam", "adaptor", "llm")
# Trainable groups per stage (spec, "Stages"); everything else is frozen.
STAGE_TRAINABLE: dict[int, tuple[str, ...]] = {
    1: ("adaptor",),
    2: ("adaptor", "llm"),
    3: ("adaptor", "llm", "siglip"),
}
# The hybrid's modules that are no part of SigLIP, SAM or the LLM checkpoints: new layers of
# a model built from parts, trained from stage 1 on (the adaptor group).
HYBRID_ADAPTOR = ("aligner", "high_res_vision_proj", "high_res_vision_neck")
ATTENTION = ("sdpa", "flex_attention", "eager")
VLModel = DeepseekVLForConditionalGeneration | DeepseekVLHybridForConditionalGeneration


# --- building ------------------------------------------------------------------------------


def is_hybrid(model_or_config: VLModel | PretrainedConfig) -> bool:
    config = getattr(model_or_config, "config", model_or_config)
    return isinstance(config, DeepseekVLHybridConfig)


def build_from_config(config: PretrainedConfig, *, attention: str = "sdpa",
                      dtype: torch.dtype | None = None) -> VLModel:
    """A randomly initialised model of a DeepseekVL(Hybrid)Config or JanusConfig (under the
    current seed); Janus as `janus_model.JanusTrainer`."""
    if is_janus(config):
        model = build_janus(config)
        set_attention(model, attention)
        return model.to(dtype) if dtype is not None else model
    cls = DeepseekVLHybridForConditionalGeneration if is_hybrid(config) else DeepseekVLForConditionalGeneration
    model = cls(config)
    set_attention(model, attention)
    return model.to(dtype) if dtype is not None else model


def build_model(preset: str | ModelConfig, vocab_size: int, image_token_id: int, *,
                attention: str = "sdpa", dtype: torch.dtype | None = None) -> VLModel:
    """The preset's model, randomly initialised. Works under `torch.device("meta")`."""
    return build_from_config(hf_config(preset, vocab_size, image_token_id), attention=attention, dtype=dtype)


def set_attention(model: VLModel, attention: str) -> None:
    """The language model's attention kernel. `flex_attention` takes packed rows' document
    boundaries as a BlockMask (no dense mask; CUDA for training); `sdpa` builds a boolean
    mask from them. The vision towers keep SDPA (SAM's relative positions need it)."""
    if attention not in ATTENTION:
        raise VlforgeError(f"attention must be one of {', '.join(ATTENTION)}, not {attention!r}")
    model.model.language_model.set_attn_implementation(attention)


def check_matches_preset(config: PretrainedConfig, cfg: ModelConfig, source: str | Path) -> None:
    """A folder's model must have the preset's shape: the data side (image sizes, image
    tokens) and the stage plans go by the preset."""
    vision = config.vision_config
    kind = "janus" if is_janus(config) else "hybrid" if is_hybrid(config) else "siglip"
    found = {"vision": kind, "low_res_size": vision.image_size,
             "grid": vision.image_size // vision.patch_size,
             "llm_width": config.text_config.hidden_size,
             "llm_layers": config.text_config.num_hidden_layers}
    wanted = {"vision": cfg.vision, "low_res_size": cfg.low_res_size, "grid": cfg.low_res_grid,
              "llm_width": cfg.llm_width, "llm_layers": int(cfg.llm["num_hidden_layers"])}
    if cfg.vision == "hybrid" and is_hybrid(config):
        found["image_size"], wanted["image_size"] = config.high_res_vision_config.image_size, cfg.image_size
    diff = {k: (found[k], wanted[k]) for k in wanted if found.get(k) != wanted[k]}
    if diff:
        raise VlforgeError(f"{source}: the model there does not have the shape of preset {cfg.name!r} "
                           f"(field: (folder, preset)): {diff}; set model.preset to its shape")


# --- forward and loss ------------------------------------------------------------------------

MODEL_INPUTS = ("input_ids", "attention_mask", "position_ids", "pixel_values", "high_res_pixel_values")


def model_inputs(batch: dict, device: torch.device) -> dict:
    """The model's keyword arguments from a batch (mixing.Collator's dict)."""
    inputs = {}
    for name in MODEL_INPUTS:
        value = batch.get(name)
        if value is not None:
            inputs[name] = value.to(device, non_blocking=True)
    return inputs


def forward(model: nn.Module, inputs: dict) -> torch.Tensor:
    """Logits [B, T, V]. No KV cache: with one, transformers would not read position ids that
    restart inside a row as packed documents."""
    return model(**inputs, use_cache=False).logits


def causal_lm_loss(
    logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, supervised count): token t's logits predict label t+1; -100 labels are ignored.
    Float32 for the softmax. "sum" leaves the normalising to the caller (over micro-batches
    and ranks)."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {reduction!r}")
    targets = labels[:, 1:].reshape(-1)
    flat = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    total = F.cross_entropy(flat, targets, ignore_index=IGNORE_INDEX, reduction="sum")
    count = (targets != IGNORE_INDEX).sum()
    if reduction == "sum":
        return total, count
    # A batch with no supervised token gives 0 (not NaN) and still carries a graph.
    return total / count.clamp(min=1), count


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """[B, T]: log p(input_ids[t] | < t); position 0 has no prediction and is 0."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return F.pad(picked, (1, 0))


@torch.no_grad()
def sequence_logprob(model: nn.Module, inputs: dict, labels: torch.Tensor, *, average: bool = True) -> torch.Tensor:
    """[B] log probability of the positions where labels != -100 (the option's tokens).

    For multi-choice PPL: row b is prompt + image + option b, labels mark the option.
    `average=True` gives the mean per token (-log PPL; pick the highest), else the sum.
    """
    logits = forward(model, inputs)
    mask = labels != IGNORE_INDEX
    mask[:, 0] = False  # the first token has no prediction
    scores = (token_logprobs(logits, inputs["input_ids"]) * mask).sum(-1)
    return scores / mask.sum(-1).clamp(min=1) if average else scores


# --- parameter groups and stages ---------------------------------------------------------


def parameter_groups(model: VLModel) -> dict[str, list[nn.Module | nn.Parameter]]:
    """The modules (and the hybrid's alpha parameter) of each group; `sam` is empty for the
    SigLIP-only model. Janus models have their own groups (`janus_model.JANUS_GROUPS`)."""
    if is_janus(model):
        return janus_parameter_groups(model)
    inner = model.model
    if is_hybrid(model):
        adaptor = [getattr(inner, name) for name in HYBRID_ADAPTOR] + [inner.high_res_vision_alpha]
        sam = [inner.high_res_vision_model]
    else:
        adaptor, sam = [inner.aligner], []
    return {"siglip": [inner.vision_model], "sam": sam, "adaptor": adaptor,
            "llm": [inner.language_model, model.lm_head]}


def _parameters(part: nn.Module | nn.Parameter):
    return [part] if isinstance(part, nn.Parameter) else list(part.parameters())


def group_parameter_names(model: VLModel) -> dict[str, list[str]]:
    """Fully qualified parameter names per group (as in `model.named_parameters()`)."""
    owner = {id(p): group for group, parts in parameter_groups(model).items()
             for part in parts for p in _parameters(part)}
    names: dict[str, list[str]] = {g: [] for g in parameter_groups(model)}
    for name, param in model.named_parameters():
        names[owner[id(param)]].append(name)
    return names


def stage_groups(model: VLModel, stage: int, train_siglip: bool = True) -> tuple[str, ...]:
    """The groups a stage trains; `train_siglip` is Janus's stage III setting."""
    if is_janus(model):
        return janus_stage_groups(stage, train_siglip)
    if stage not in STAGE_TRAINABLE:
        raise ValueError(f"stage must be one of {sorted(STAGE_TRAINABLE)}, got {stage!r}")
    return STAGE_TRAINABLE[stage]


def set_trainable_for_stage(model: VLModel, stage: int, train_siglip: bool = True) -> dict[str, bool]:
    """requires_grad per the spec's stage table; returns {group: trainable}.

    Call before wrapping with FSDP and before building the optimizer (which should take
    only parameters with requires_grad).
    """
    groups = parameter_groups(model)
    trainable = {g: g in stage_groups(model, stage, train_siglip) for g in groups}
    for group, parts in groups.items():
        for part in parts:
            for param in _parameters(part):
                param.requires_grad_(trainable[group])
    return trainable


def fsdp_units(model: VLModel) -> list[nn.Module]:
    """Modules to `fully_shard` one by one, then `fully_shard(model)` for the root.

    [SigLIP, SAM (hybrid), input embedding, each LlamaDecoderLayer, output head]. The
    embedding and head are separate units (as torchtitan does) because at 102400 x 4096 each
    is the size of several decoder layers; the adaptor and final norm stay in the root. A
    tied head shares the embedding's weight, so it is not listed.
    """
    if is_janus(model):
        return janus_fsdp_units(model)
    inner = model.model
    units: list[nn.Module] = [inner.vision_model]
    if is_hybrid(model):
        units.append(inner.high_res_vision_model)
    units.append(inner.language_model.embed_tokens)
    units.extend(inner.language_model.layers)
    if not model.config.tie_word_embeddings:
        units.append(model.lm_head)
    return units


def decoder_layers(model: VLModel) -> list[nn.Module]:
    """The LlamaDecoderLayers, for activation checkpointing."""
    return list(model.model.language_model.layers)


def drop_image_outputs(model: nn.Module) -> None:
    """The root's output loses `image_outputs` before FSDP2's post-forward hook sees it.

    transformers' DeepSeek-VL forward returns, beside the logits, the vision encoders'
    outputs, some of them views: the aligner's features reshaped from [N * 576, D] to
    [N, 576, D] (both models) and the hybrid's SAM projection flattened from [N, D, 24, 24].
    FSDP2 hooks every grad-requiring tensor the root returns and warns on each view ("returned
    a view tensor"), at every run. The training loop reads only the logits; the features still
    feed the decoder inside the forward, and the root's pre-backward hook still fires from the
    logits, so the losses are unchanged. Prepended, so it runs before FSDP's hook whichever is
    registered first.
    """
    model.register_forward_hook(_without_image_outputs, prepend=True)


def _without_image_outputs(module: nn.Module, args, output):
    if getattr(output, "image_outputs", None) is None:
        return output
    # A ModelOutput keeps a field set to None in its dict (it cannot be deleted): build anew.
    return type(output)(**{k: v for k, v in output.items() if k != "image_outputs"})


# --- sizes and FLOPs (for MFU) -------------------------------------------------------------


def _shape_model(model_or_config: VLModel | ModelConfig | str) -> VLModel:
    """The model itself, or a preset's built on the meta device (no memory, no time)."""
    if isinstance(model_or_config, nn.Module):
        return model_or_config
    cfg = resolve_config(model_or_config)
    with torch.device("meta"):
        return build_model(cfg, cfg.vocab_size, image_token_id=0)


def parameter_counts(model_or_config: VLModel | ModelConfig | str) -> dict[str, int]:
    """Parameters per group plus `total` and `llm_embedding` (the input embedding table)."""
    model = _shape_model(model_or_config)
    counts = {g: sum(p.numel() for part in parts for p in _parameters(part))
              for g, parts in parameter_groups(model).items()}
    counts["llm_embedding"] = model.get_input_embeddings().weight.numel()
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


def flops_per_token(model_or_config: VLModel | ModelConfig | str, seq_len: int) -> float:
    """Training FLOPs per LLM token: 6 N (N without the input embedding, a lookup) plus the
    attention scores 12 L d T (torchtitan / PaLM convention; causal masking not discounted).
    """
    model = _shape_model(model_or_config)
    counts = parameter_counts(model)
    text = model.config.text_config
    return 6.0 * (counts["llm"] - counts["llm_embedding"]) + 12.0 * text.num_hidden_layers * text.hidden_size * seq_len


def _image_work(model: VLModel) -> list[tuple[str, int, int]]:
    """(group, parameters, output positions per image) of every part an image runs through,
    one entry per call: each weight is used once per output position."""
    if is_janus(model):
        return janus_image_work(model)
    inner, vision = model.model, model.config.vision_config
    grid = vision.image_size // vision.patch_size
    work = [("siglip", sum(p.numel() for p in inner.vision_model.parameters()), grid**2),
            ("adaptor", sum(p.numel() for p in inner.aligner.parameters()), grid**2)]
    if not is_hybrid(model):
        return work
    sam = model.config.high_res_vision_config
    sam_grid = sam.image_size // sam.patch_size
    proj = inner.high_res_vision_proj
    work += [("sam", sum(p.numel() for p in inner.high_res_vision_model.parameters()), sam_grid**2),
             ("adaptor", sum(p.numel() for p in inner.high_res_vision_neck.parameters()), sam_grid**2)]
    for _branch in range(2):  # the main output and the second branch share the downsample convs
        work += [("adaptor", proj.conv1.weight.numel(), (2 * grid) ** 2),
                 ("adaptor", proj.conv2.weight.numel(), grid**2)]
    return work


def flops_per_image(model_or_config: VLModel | ModelConfig | str, stage: int, train_siglip: bool = True) -> float:
    """FLOPs per image for the towers and adaptor in a stage: 2 N per output position forward,
    x3 when the part trains (frozen towers get no backward at all). The adaptor always
    trains. Attention-score FLOPs of the towers are left out (small at these widths).
    """
    model = _shape_model(model_or_config)
    trains = stage_groups(model, stage, train_siglip)
    return sum((6.0 if group in trains else 2.0) * params * positions
               for group, params, positions in _image_work(model))


def describe(model: VLModel, name: str) -> str:
    """One line for logs: preset, parameter counts per group in millions."""
    counts = parameter_counts(model)
    parts = ", ".join(f"{g} {counts[g] / 1e6:.1f}M" for g in parameter_groups(model) if counts[g])
    cls = type(model).__name__.removeprefix("FSDP")  # fully_shard renames the class
    return f"{name} ({cls}): {counts['total'] / 1e6:.1f}M params ({parts})"


# --- export: a transformers folder -----------------------------------------------------------


def save_model(config: PretrainedConfig, state_dict: dict[str, torch.Tensor], out_dir: str | Path,
               *, dtype: torch.dtype | None = None) -> Path:
    """`config.json` + safetensors of a full, plain state dict (gathered from FSDP on rank 0)
    through transformers' `save_pretrained`, so any transformers user loads the folder.

    The weights go into a model shell built on the meta device (no second copy in memory);
    a state dict that does not fill every parameter is an error.
    """
    with torch.device("meta"):
        # Janus: transformers' own class (JanusTrainer only adds a forward), so the folder's
        # `architectures` names a class any transformers user has.
        shell = JanusForConditionalGeneration(config) if is_janus(config) else build_from_config(config)
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu()
             for k, v in state_dict.items()}
    shell.load_state_dict(state, strict=True, assign=True)
    out = Path(out_dir)
    shell.save_pretrained(out)
    return out


def load_exported(path: str | Path, *, dtype: torch.dtype = torch.float32) -> VLModel:
    """A transformers folder through `AutoModelForImageTextToText`, the way any user loads an
    export; a key missing or left over is an error, never a random or dropped weight."""
    from transformers import AutoModelForImageTextToText

    model, info = AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtype, output_loading_info=True)
    problems = {k: sorted(v) for k, v in info.items() if k != "error_msgs" and v}
    if problems or info.get("error_msgs"):
        raise VlforgeError(f"{path}: the weights do not match the model ({problems or info['error_msgs']})")
    return model
