"""The DeepSeek-VL architecture: hybrid vision encoder, VL adaptor, LLaMA-style decoder.

Stream of one multimodal batch (7B shapes; `tiny` keeps the same structure, smaller):

    pixel_values [N, 3, 1024, 1024] in [0, 1]          (the data side pads and resizes)
      -> SAM-B (CLIP norm inside)      [N, 256, 64, 64]  channels first after the neck
      -> SigLIP-L on a 384 bicubic copy (0.5 norm inside)  [N, 576, 1024]
    adaptor:
      SAM map -> bilinear 96x96 -> conv3x3/2 -> 48x48x512 -> conv3x3/2 -> 24x24x1024
              -> [N, 576, 1024] -> Linear(1024, D/2)        (high-res half)
      SigLIP tokens            -> Linear(1024, D/2)         (low-res half)
      concat -> GELU -> Linear(D, D)          [N, 576, D]
    input_ids [B, T] with N*576 positions == image_token_id
      -> token embeddings, image positions overwritten in order -> LlamaForCausalLM

Module layout (state-dict prefixes): `vision.siglip`, `vision.sam` (hybrid only),
`adaptor` (including the interpolation + two downsample convs, which are new layers that
must train in stage 1: SAM's pretrained weights have none, and the paper counts them as
part of the adaptor), `llm`.

FSDP, the contract with the training loop: `fsdp_units(model)` lists the modules to
`fully_shard` one by one, in order, before `fully_shard(model)` on the root. Everything
that runs goes through module calls (`model(...)`), so the FSDP hooks see it; the scoring
helpers below call `model(...)` rather than methods for the same reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributed.tensor import DTensor
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    SamVisionConfig,
    SamVisionModel,
    SiglipVisionConfig,
    SiglipVisionModel,
)
from transformers.utils import ModelOutput

from vlforge.trainer import weights
from vlforge.trainer.presets import (
    CLIP_MEAN,
    CLIP_STD,
    SIGLIP_MEAN,
    SIGLIP_STD,
    ModelConfig,
    resolve_config,
)

IGNORE_INDEX = -100
GROUPS = ("siglip", "sam", "adaptor", "llm")
# Trainable groups per stage (spec, "Stages"); everything else is frozen.
STAGE_TRAINABLE: dict[int, tuple[str, ...]] = {
    1: ("adaptor",),
    2: ("adaptor", "llm"),
    3: ("adaptor", "llm", "siglip"),
}
EXPORT_FORMAT = "vlforge-deepseek-vl"


# --- vision towers -----------------------------------------------------------------------


class Normalise(nn.Module):
    """(x - mean) / std per channel; not persistent, so checkpoints carry only weights."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


class SiglipTower(nn.Module):
    """SigLIP on [0, 1] pixels: all patch tokens after the final LayerNorm, no pooling."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.norm = Normalise(SIGLIP_MEAN, SIGLIP_STD)
        self.model = SiglipVisionModel(SiglipVisionConfig(**config))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        # Pixels arrive float32; a bf16 tower (no FSDP input cast) needs them in its dtype.
        pixels = pixels.to(self.model.embeddings.patch_embedding.weight.dtype)
        return self.model(pixel_values=self.norm(pixels)).last_hidden_state


class SamTower(nn.Module):
    """SAM's ViTDet image encoder on [0, 1] pixels: the neck's [N, C, g, g] map."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.norm = Normalise(CLIP_MEAN, CLIP_STD)
        # The bare encoder (no prompt encoder / mask decoder): only it is used.
        self.encoder = SamVisionModel(SamVisionConfig(**config)).vision_encoder

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = pixels.to(self.encoder.patch_embed.projection.weight.dtype)
        return self.encoder(pixel_values=self.norm(pixels)).last_hidden_state


class VisionEncoder(nn.Module):
    """Both towers (or SigLIP alone): one FSDP unit, frozen in stages 1 and 2.

    Returns (low-res tokens [N, T, C], high-res map [N, C', g, g] or None).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.low_res_size = cfg.low_res_size
        self.siglip = SiglipTower(cfg.siglip)
        self.sam = SamTower(cfg.sam) if cfg.vision == "hybrid" else None

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.sam is None:
            return self.siglip(pixels), None
        high = self.sam(pixels)
        # The SigLIP copy is a bicubic antialiased resize of the same padded square, like
        # torchvision's Resize on tensors (no clamping of the bicubic overshoot). In float32:
        # resampling kernels are not implemented for every low-precision dtype.
        low = F.interpolate(
            pixels.float(), size=(self.low_res_size,) * 2, mode="bicubic", antialias=True,
            align_corners=False,
        )
        return self.siglip(low), high


# --- adaptor -----------------------------------------------------------------------------


class HighResDownsample(nn.Module):
    """SAM map -> token grid: bilinear to 4x the SigLIP grid, then two stride-2 convs.

    64x64 -> 96x96 -> 48x48 -> 24x24 for the 7B; no bias, no activation between (spec).
    """

    def __init__(self, in_channels: int, channels: tuple[int, int], grid: int):
        super().__init__()
        self.size = 4 * grid
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, stride=2, padding=1, bias=False)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, stride=2, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = F.interpolate(x.float(), size=(self.size,) * 2, mode="bilinear", align_corners=False)
        x = self.conv2(self.conv1(x.to(dtype)))
        return x.flatten(2).transpose(1, 2)  # [N, C, h, w] -> [N, h*w, C], row-major


class HybridAdaptor(nn.Module):
    """Hybrid split MLP: each stream to D/2, concatenate, GELU, Linear(D, D)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        width, half = cfg.llm_width, cfg.llm_width // 2
        self.downsample = HighResDownsample(
            int(cfg.sam["output_channels"]), cfg.downsample_channels, cfg.low_res_grid
        )
        self.high_proj = nn.Linear(cfg.downsample_channels[-1], half)
        self.low_proj = nn.Linear(cfg.vision_width, half)
        self.out = nn.Linear(width, width)

    def forward(self, low: torch.Tensor, high: torch.Tensor | None) -> torch.Tensor:
        if high is None:
            raise ValueError("the hybrid adaptor needs the SAM feature map")
        high_tokens = self.high_proj(self.downsample(high))
        x = torch.cat([high_tokens, self.low_proj(low)], dim=-1)
        return self.out(F.gelu(x))


class MlpAdaptor(nn.Module):
    """SigLIP-only model (1.3B): Linear(C, D), GELU, Linear(D, D)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.proj = nn.Linear(cfg.vision_width, cfg.llm_width)
        self.out = nn.Linear(cfg.llm_width, cfg.llm_width)

    def forward(self, low: torch.Tensor, high: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(F.gelu(self.proj(low)))


# --- the whole model ---------------------------------------------------------------------


@dataclass
class VLOutput(ModelOutput):
    """`loss` is None without labels. A ModelOutput so FSDP/pytree see the tensors inside.

    `num_label_tokens` counts the supervised positions (after the causal shift), for
    callers that sum losses over micro-batches and normalise by the global count.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    num_label_tokens: torch.Tensor | None = None


class DeepSeekVLModel(nn.Module):
    """`llm`: an already loaded decoder (from a checkpoint), so no random 7B is built first."""

    def __init__(
        self, cfg: ModelConfig, vocab_size: int, image_token_id: int,
        llm: LlamaForCausalLM | None = None,
    ):
        super().__init__()
        if not 0 <= image_token_id < vocab_size:
            raise ValueError(f"image_token_id {image_token_id} outside vocabulary of {vocab_size}")
        self.config = cfg
        self.image_token_id = image_token_id
        self.vision = VisionEncoder(cfg)
        self.adaptor = HybridAdaptor(cfg) if cfg.vision == "hybrid" else MlpAdaptor(cfg)
        self.llm = llm if llm is not None else LlamaForCausalLM(
            LlamaConfig(**cfg.llm, vocab_size=vocab_size)
        )

    @property
    def vocab_size(self) -> int:
        return int(self.llm.config.vocab_size)

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[N, 3, S, S] in [0, 1] -> [N, num_image_tokens, D]."""
        size = self.config.image_size
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != (3, size, size):
            raise ValueError(f"pixel_values must be [N, 3, {size}, {size}], got {tuple(pixel_values.shape)}")
        low, high = self.vision(pixel_values)
        return self.adaptor(low, high)

    def embed(self, input_ids: torch.Tensor, pixel_values: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings with image embeddings written over the image-token positions."""
        embeds = self.llm.get_input_embeddings()(input_ids)
        is_image = input_ids == self.image_token_id
        n_positions = int(is_image.sum())
        n_images = 0 if pixel_values is None else pixel_values.shape[0]
        expected = n_images * self.config.num_image_tokens
        if n_positions != expected:
            raise ValueError(
                f"{n_positions} image-token positions in input_ids but {n_images} images x "
                f"{self.config.num_image_tokens} tokens = {expected}: each <image_placeholder> "
                f"must expand to exactly {self.config.num_image_tokens} image tokens"
            )
        if n_images == 0:
            return embeds
        images = self.encode_images(pixel_values).to(embeds.dtype)
        # masked_scatter fills positions in row-major (batch, time) order, so images must
        # come in the order their placeholders appear, row by row.
        return embeds.masked_scatter(is_image.unsqueeze(-1), images.reshape(-1, images.shape[-1]))

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        loss_reduction: str = "mean",
    ) -> VLOutput:
        """Causal LM over text with images spliced in.

        attention_mask: None (causal), [B, T] padding mask (1 = real token), or a prepared
        [B, 1, T, T] mask (bool, True = attend, or additive float) which transformers uses
        as is: give packed sequences their block-diagonal causal mask this way. With no
        mask, position_ids that restart at 0 inside a row are also read as packing.
        loss_reduction: "mean" over supervised tokens, or "sum" (normalise yourself with
        `num_label_tokens` summed across micro-batches and ranks).
        """
        embeds = self.embed(input_ids, pixel_values)
        out = self.llm(
            inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids,
            use_cache=False,
        )
        if labels is None:
            return VLOutput(logits=out.logits)
        loss, count = causal_lm_loss(out.logits, labels, loss_reduction)
        return VLOutput(loss=loss, logits=out.logits, num_label_tokens=count)


def causal_lm_loss(
    logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token t's logits predict label t+1; -100 labels are ignored. Float32 for the softmax."""
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


# --- scoring (multi-choice PPL) ------------------------------------------------------------


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """[B, T]: log p(input_ids[t] | < t); position 0 has no prediction and is 0."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return F.pad(picked, (1, 0))


@torch.no_grad()
def sequence_logprob(
    model: nn.Module,
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    *,
    pixel_values: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    average: bool = True,
) -> torch.Tensor:
    """[B] log probability of the positions where labels != -100 (the option's tokens).

    For multi-choice PPL: row b is prompt + image + option b, labels mark the option.
    `average=True` gives the mean per token (-log PPL; pick the highest), else the sum.
    Calls `model(...)`, so it works on an FSDP-wrapped model too.
    """
    out = model(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixel_values)
    mask = labels != IGNORE_INDEX
    mask[:, 0] = False  # the first token has no prediction
    scores = (token_logprobs(out.logits, input_ids) * mask).sum(-1)
    return scores / mask.sum(-1).clamp(min=1) if average else scores


# --- building and loading ----------------------------------------------------------------


def build_model(
    preset: str | ModelConfig,
    vocab_size: int,
    image_token_id: int,
    *,
    siglip_path: str | Path | None = None,
    sam_path: str | Path | None = None,
    llm_path: str | Path | None = None,
    dtype: torch.dtype | None = None,
) -> DeepSeekVLModel:
    """A model of the preset's shape, randomly initialised, then filled from local paths.

    siglip_path / sam_path: a transformers folder or a timm-layout file (see
    `vlforge.trainer.weights`). llm_path: a transformers LlamaForCausalLM folder whose
    shape must match the preset; its vocabulary grows to `vocab_size` if smaller (new rows
    initialised by transformers) and is kept if larger (padded vocabularies are common).
    Works under `torch.device("meta")` for shape-only models (parameter counts).
    """
    cfg = resolve_config(preset)
    if siglip_path is not None and not _is_folder(siglip_path):
        # timm's SigLIP uses exact GELU; transformers defaults to the tanh approximation.
        cfg.siglip["hidden_act"] = "gelu"
    llm = None
    if llm_path is not None:
        llm = _load_llm(cfg, llm_path, vocab_size)
        # The checkpoint's config is the truth from here on (rope_theta, eps, ...), and
        # export records the preset: keep the two in step.
        cfg.llm.update({k: getattr(llm.config, k) for k in cfg.llm if hasattr(llm.config, k)})
    model = DeepSeekVLModel(cfg, vocab_size, image_token_id, llm=llm)
    if siglip_path is not None:
        weights.load_siglip_weights(model.vision.siglip.model, siglip_path)
    if sam_path is not None:
        if model.vision.sam is None:
            raise ValueError(f"preset {cfg.name!r} has no SAM tower; drop sam_path")
        weights.load_sam_weights(model.vision.sam.encoder, sam_path)
    return model.to(dtype) if dtype is not None else model


def _is_folder(path: str | Path) -> bool:
    return Path(path).is_dir()


def _load_llm(cfg: ModelConfig, path: str | Path, vocab_size: int) -> LlamaForCausalLM:
    if not (Path(path) / "config.json").exists():
        raise FileNotFoundError(f"{path}: not a transformers checkpoint folder (no config.json)")
    # float32 like the freshly built parts; build_model's dtype casts everything at the end.
    llm = LlamaForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
        if getattr(llm.config, key) != cfg.llm[key]:
            raise ValueError(
                f"{path}: {key}={getattr(llm.config, key)} but preset {cfg.name!r} has {cfg.llm[key]}"
            )
    if llm.config.vocab_size < vocab_size:
        llm.resize_token_embeddings(vocab_size)
    return llm


# --- parameter groups and stages ---------------------------------------------------------


def parameter_groups(model: DeepSeekVLModel) -> dict[str, list[nn.Module]]:
    """The modules of each group; `sam` is empty for the SigLIP-only model."""
    sam = [model.vision.sam] if model.vision.sam is not None else []
    return {
        "siglip": [model.vision.siglip],
        "sam": sam,
        "adaptor": [model.adaptor],
        "llm": [model.llm],
    }


def group_parameter_names(model: DeepSeekVLModel) -> dict[str, list[str]]:
    """Fully qualified parameter names per group (as in `model.named_parameters()`)."""
    owner = {}
    for group, modules in parameter_groups(model).items():
        for module in modules:
            for param in module.parameters():
                owner[id(param)] = group
    names: dict[str, list[str]] = {g: [] for g in GROUPS}
    for name, param in model.named_parameters():
        names[owner[id(param)]].append(name)
    return names


def set_trainable_for_stage(model: DeepSeekVLModel, stage: int) -> dict[str, bool]:
    """requires_grad per the spec's stage table; returns {group: trainable}.

    Call before wrapping with FSDP and before building the optimizer (which should take
    only parameters with requires_grad). No module here uses dropout or batch norm, so
    train/eval mode does not affect frozen parts.
    """
    if stage not in STAGE_TRAINABLE:
        raise ValueError(f"stage must be one of {sorted(STAGE_TRAINABLE)}, got {stage!r}")
    trainable = {g: g in STAGE_TRAINABLE[stage] for g in GROUPS}
    for group, modules in parameter_groups(model).items():
        for module in modules:
            module.requires_grad_(trainable[group])
    return trainable


def fsdp_units(model: DeepSeekVLModel) -> list[nn.Module]:
    """Modules to `fully_shard` one by one, then `fully_shard(model)` for the root.

    [vision encoder (both towers, one unit), input embedding, each LlamaDecoderLayer,
    output head]. The embedding and head are separate units (as torchtitan does) because
    at 102400 x 4096 each is the size of several decoder layers; the adaptor and final
    norm stay in the root. A tied head shares the embedding's weight, so it is not listed.
    """
    units: list[nn.Module] = [model.vision, model.llm.get_input_embeddings()]
    units.extend(model.llm.model.layers)
    if not model.llm.config.tie_word_embeddings:
        units.append(model.llm.get_output_embeddings())
    return units


def decoder_layers(model: DeepSeekVLModel) -> list[nn.Module]:
    """The LlamaDecoderLayers, for activation checkpointing."""
    return list(model.llm.model.layers)


# --- sizes and FLOPs (for MFU) -------------------------------------------------------------


def parameter_counts(model_or_config: DeepSeekVLModel | ModelConfig | str) -> dict[str, int]:
    """Parameters per group plus `total` and `llm_embedding` (the input embedding table).

    A config or preset name is built on the meta device: no memory, no time.
    """
    model = model_or_config
    if not isinstance(model, DeepSeekVLModel):
        cfg = resolve_config(model_or_config)
        with torch.device("meta"):
            model = DeepSeekVLModel(cfg, cfg.vocab_size, image_token_id=0)
    counts = {g: sum(p.numel() for m in mods for p in m.parameters())
              for g, mods in parameter_groups(model).items()}
    counts["llm_embedding"] = model.llm.get_input_embeddings().weight.numel()
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


def flops_per_token(model_or_config: DeepSeekVLModel | ModelConfig | str, seq_len: int) -> float:
    """Training FLOPs per LLM token: 6 N (N without the input embedding, a lookup) plus the
    attention scores 12 L d T (torchtitan / PaLM convention; causal masking not discounted).
    """
    counts = parameter_counts(model_or_config)
    cfg = _config_of(model_or_config)
    n_layers, width = int(cfg.llm["num_hidden_layers"]), cfg.llm_width
    return 6.0 * (counts["llm"] - counts["llm_embedding"]) + 12.0 * n_layers * width * seq_len


def flops_per_image(model_or_config: DeepSeekVLModel | ModelConfig | str, stage: int) -> float:
    """FLOPs per image for the towers and adaptor in a stage: 2 N per patch token forward,
    x3 when the tower trains (frozen towers get no backward at all). The adaptor always
    trains. Attention-score FLOPs of the towers are left out (small at these widths).
    """
    counts = parameter_counts(model_or_config)
    cfg = _config_of(model_or_config)
    trains = STAGE_TRAINABLE[stage]
    tokens = {"siglip": cfg.low_res_grid**2, "adaptor": cfg.num_image_tokens}
    if cfg.vision == "hybrid":
        tokens["sam"] = (cfg.image_size // int(cfg.sam["patch_size"])) ** 2
    total = 0.0
    for group, n_tokens in tokens.items():
        factor = 6.0 if group in trains else 2.0
        total += factor * counts[group] * n_tokens
    return total


def _config_of(model_or_config: DeepSeekVLModel | ModelConfig | str) -> ModelConfig:
    if isinstance(model_or_config, DeepSeekVLModel):
        return model_or_config.config
    return resolve_config(model_or_config)


# --- Hugging Face style export -----------------------------------------------------------


def export_hf(
    model: DeepSeekVLModel,
    tokenizer: Any,
    out_dir: str | Path,
    *,
    state_dict: dict[str, torch.Tensor] | None = None,
    max_shard_bytes: int = 5 * 1024**3,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write `config.json`, safetensors weights (sharded with an index past
    `max_shard_bytes`) and the tokenizer files (when `tokenizer.save_pretrained` exists).

    `state_dict`: a full, plain (non-DTensor) state dict, e.g. gathered from FSDP on rank 0;
    defaults to `model.state_dict()`. `model` only supplies the configuration then.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = state_dict if state_dict is not None else model.state_dict()
    tensors = _plain_tensors(state, dtype)
    (out / "config.json").write_text(json.dumps(_export_config(model, tensors), indent=2) + "\n")
    _write_safetensors(tensors, out, max_shard_bytes)
    if tokenizer is not None and hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(str(out))
    return out


def _plain_tensors(state: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share storage (a tied head): clone repeats.
    seen: set[int] = set()
    tensors = {}
    for key, value in state.items():
        if isinstance(value, DTensor):
            raise TypeError(f"{key} is a DTensor: gather a full state dict first (rank 0)")
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        ptr = value.untyped_storage().data_ptr()
        tensors[key] = value.clone() if ptr in seen else value.contiguous()
        seen.add(ptr)
    return tensors


def _export_config(model: DeepSeekVLModel, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    cfg = model.config
    return {
        "format": EXPORT_FORMAT,
        "architectures": ["DeepSeekVLModel"],
        "model": cfg.to_dict(),
        "vocab_size": model.vocab_size,
        "image_token_id": model.image_token_id,
        "llm_config": model.llm.config.to_dict(),
        "siglip_config": model.vision.siglip.model.config.to_dict(),
        "sam_config": None if model.vision.sam is None else model.vision.sam.encoder.config.to_dict(),
        "torch_dtype": str(next(iter(tensors.values())).dtype).removeprefix("torch."),
    }


def _write_safetensors(tensors: dict[str, torch.Tensor], out: Path, max_bytes: int) -> None:
    from safetensors.torch import save_file

    shards = _split_shards(tensors, max_bytes)
    if len(shards) == 1:
        save_file(shards[0], str(out / "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map = {}
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    for i, shard in enumerate(shards, start=1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(out / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def _split_shards(tensors: dict[str, torch.Tensor], max_bytes: int) -> list[dict[str, torch.Tensor]]:
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, value in tensors.items():
        nbytes = value.numel() * value.element_size()
        if shards[-1] and size + nbytes > max_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = value
        size += nbytes
    return shards


def load_exported(out_dir: str | Path, *, dtype: torch.dtype | None = None) -> DeepSeekVLModel:
    """Rebuild a model written by `export_hf`, weights loaded strictly."""
    folder = Path(out_dir)
    meta = json.loads((folder / "config.json").read_text())
    if meta.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{folder}: not a vlforge export (format={meta.get('format')!r})")
    cfg = ModelConfig.from_dict(meta["model"])
    model = DeepSeekVLModel(cfg, meta["vocab_size"], meta["image_token_id"])
    model.load_state_dict(_read_exported_tensors(folder), strict=True)
    return model.to(dtype) if dtype is not None else model


def _read_exported_tensors(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    single = folder / "model.safetensors"
    if single.exists():
        return load_file(str(single))
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    state: dict[str, torch.Tensor] = {}
    for name in sorted(set(index["weight_map"].values())):
        state.update(load_file(str(folder / name)))
    return state


def describe(model: DeepSeekVLModel) -> str:
    """One line for logs: preset, parameter counts per group in millions."""
    counts = parameter_counts(model)
    parts = ", ".join(f"{g} {counts[g] / 1e6:.1f}M" for g in GROUPS if counts[g])
    return f"{model.config.name}: {counts['total'] / 1e6:.1f}M params ({parts})"
