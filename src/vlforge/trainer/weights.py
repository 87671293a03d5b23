"""Pretrained weights for the vision towers from local files: timm and transformers layouts.

Nothing here downloads. Two layouts are understood per tower:

- a transformers checkpoint folder (has `config.json`): loaded with the transformers class
  (`SiglipVisionModel` also reads a full `SiglipModel` folder such as
  google/siglip-large-patch16-384; `SamVisionModel` also reads a full `SamModel` folder such
  as facebook/sam-vit-base) and its state dict taken;
- a single state-dict file (`.safetensors`, `.pth`, `.pt`, `.bin`) with timm key names:
  SigLIP as timm `vit_large_patch16_siglip_384`, SAM as timm `samvit_base_patch16`. The
  original segment-anything checkpoint (`image_encoder.` prefix, `mlp.lin1/lin2`) and the
  DeepSeek-VL release (towers under `vision_model.vision_tower_{low,high}.vision_tower.`)
  use the same block names and load too; the prefix in front of `patch_embed.proj.weight`
  is detected, or given explicitly as `prefix`.

timm is not installed: the key mapping below is written out by hand, and the result is
loaded strictly, so a missing or misshapen tensor is an error, never a random layer.
Keys the model does not use (SigLIP's attention-pool head, DeepSeek's own downsample
convs) are dropped and logged.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]


def read_state_dict(path: str | Path) -> StateDict:
    """Tensors of one checkpoint file, on CPU."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    data = torch.load(path, map_location="cpu", weights_only=True)
    # Lightning / DeepSpeed style files nest the weights one level down.
    for key in ("state_dict", "model", "module"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    return dict(data)


def strip_prefix(state: StateDict, anchor: str, prefix: str | None = None) -> StateDict:
    """Keep the keys under one tower's prefix, with the prefix removed.

    The prefix is whatever stands before `anchor` (a key every checkpoint of the tower
    has); two different prefixes mean two towers in one file, so the caller must choose.
    """
    if prefix is None:
        found = sorted({k[: -len(anchor)] for k in state if k.endswith(anchor)})
        if not found:
            raise ValueError(f"no key ending in {anchor!r}: not a checkpoint of this tower")
        if len(found) > 1:
            raise ValueError(f"several towers in one file (prefixes {found}); pass prefix=")
        prefix = found[0]
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


# --- SigLIP: timm VisionTransformer names -> transformers SiglipVisionModel names ---------

_SIGLIP_RENAMES = [
    (r"^patch_embed\.proj\.", "embeddings.patch_embedding."),
    (r"^norm\.", "post_layernorm."),
    (r"^blocks\.(\d+)\.norm1\.", r"encoder.layers.\1.layer_norm1."),
    (r"^blocks\.(\d+)\.norm2\.", r"encoder.layers.\1.layer_norm2."),
    (r"^blocks\.(\d+)\.attn\.proj\.", r"encoder.layers.\1.self_attn.out_proj."),
    (r"^blocks\.(\d+)\.mlp\.fc1\.", r"encoder.layers.\1.mlp.fc1."),
    (r"^blocks\.(\d+)\.mlp\.fc2\.", r"encoder.layers.\1.mlp.fc2."),
]
# The MAP pooling head (and any classifier) is unused: DeepSeek-VL takes all 576 tokens.
_SIGLIP_UNUSED = re.compile(r"^(attn_pool|head|fc_norm)\.")


def _keep_renamed(key: str, value, renames, out: StateDict, dropped: list[str]) -> None:
    """out[new name] = value, or the key into `dropped` when no rename rule knows it."""
    new = _rename(key, renames)
    if new is None:
        dropped.append(key)
    else:
        out[new] = value


def timm_siglip_to_hf(state: StateDict) -> tuple[StateDict, list[str]]:
    """(mapped state dict, dropped keys) for a timm `vit_*_siglip_*` state dict."""
    out: StateDict = {}
    dropped: list[str] = []
    for key, value in state.items():
        if key == "pos_embed":
            # timm keeps [1, num_patches, C]; transformers an nn.Embedding [num_patches, C].
            out["embeddings.position_embedding.weight"] = value.reshape(value.shape[-2:])
        elif m := re.match(r"^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$", key):
            # timm fuses q, k, v along the output dim in that order.
            layer, kind = m.groups()
            for name, part in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0), strict=True):
                out[f"encoder.layers.{layer}.self_attn.{name}.{kind}"] = part.clone()
        elif _SIGLIP_UNUSED.match(key):
            dropped.append(key)
        else:
            _keep_renamed(key, value, _SIGLIP_RENAMES, out, dropped)
    return out, dropped


# --- SAM: timm / segment-anything names -> transformers SamVisionEncoder names -----------

_SAM_RENAMES = [
    (r"^patch_embed\.proj\.", "patch_embed.projection."),
    (r"^pos_embed$", "pos_embed"),
    (r"^blocks\.(\d+)\.norm1\.", r"layers.\1.layer_norm1."),
    (r"^blocks\.(\d+)\.norm2\.", r"layers.\1.layer_norm2."),
    (r"^blocks\.(\d+)\.attn\.(qkv|proj)\.", r"layers.\1.attn.\2."),
    (r"^blocks\.(\d+)\.attn\.(rel_pos_[hw])$", r"layers.\1.attn.\2"),
    (r"^blocks\.(\d+)\.mlp\.(?:fc1|lin1)\.", r"layers.\1.mlp.lin1."),
    (r"^blocks\.(\d+)\.mlp\.(?:fc2|lin2)\.", r"layers.\1.mlp.lin2."),
    # The neck is an nn.Sequential(conv1x1, LayerNorm2d, conv3x3, LayerNorm2d) there.
    (r"^neck\.0\.", "neck.conv1."),
    (r"^neck\.1\.", "neck.layer_norm1."),
    (r"^neck\.2\.", "neck.conv2."),
    (r"^neck\.3\.", "neck.layer_norm2."),
]


def timm_sam_to_hf(state: StateDict) -> tuple[StateDict, list[str]]:
    """(mapped state dict, dropped keys) for a timm `samvit_*` / segment-anything encoder."""
    out: StateDict = {}
    dropped: list[str] = []
    for key, value in state.items():
        _keep_renamed(key, value, _SAM_RENAMES, out, dropped)
    return out, dropped


def _rename(key: str, rules: list[tuple[str, str]]) -> str | None:
    for pattern, repl in rules:
        if re.search(pattern, key):
            return re.sub(pattern, repl, key)
    return None


# --- loading into a built tower ----------------------------------------------------------


# Config fields that decide what a checkpoint computes: a transformers folder must agree
# with the preset on all of them, or the preset is the wrong one for these weights.
_SIGLIP_FIELDS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                  "image_size", "patch_size", "hidden_act", "layer_norm_eps")
_SAM_FIELDS = ("hidden_size", "output_channels", "num_hidden_layers", "num_attention_heads",
               "image_size", "patch_size", "window_size", "global_attn_indexes", "mlp_dim",
               "hidden_act", "use_rel_pos", "use_abs_pos")


def load_siglip_weights(tower: nn.Module, path: str | Path, prefix: str | None = None) -> None:
    """Fill a transformers `SiglipVisionModel` from a transformers folder or a timm file."""
    if _is_hf_folder(path):
        from transformers import SiglipVisionModel

        hf = SiglipVisionModel.from_pretrained(str(path), vision_use_head=False)
        check_same_config(tower.config, hf.config, _SIGLIP_FIELDS, path)
        _load_strict(tower, hf.state_dict(), path)
        return
    raw = strip_prefix(read_state_dict(path), "patch_embed.proj.weight", prefix)
    state, dropped = timm_siglip_to_hf(raw)
    _log_dropped(path, dropped)
    _load_strict(tower, state, path)


def load_sam_weights(encoder: nn.Module, path: str | Path, prefix: str | None = None) -> None:
    """Fill a transformers `SamVisionEncoder` from a transformers folder or a timm file."""
    if _is_hf_folder(path):
        from transformers import SamVisionModel

        hf = SamVisionModel.from_pretrained(str(path))
        check_same_config(encoder.config, hf.config, _SAM_FIELDS, path)
        _load_strict(encoder, hf.vision_encoder.state_dict(), path)
        return
    raw = strip_prefix(read_state_dict(path), "patch_embed.proj.weight", prefix)
    state, dropped = timm_sam_to_hf(raw)
    _log_dropped(path, dropped)
    _load_strict(encoder, state, path)


def check_same_config(ours, theirs, fields: tuple[str, ...], source: str | Path) -> None:
    """Raise naming every field where a checkpoint's config differs from the preset's."""
    def norm(value):
        return list(value) if isinstance(value, tuple) else value

    diff = [(f, norm(getattr(theirs, f, None)), norm(getattr(ours, f, None))) for f in fields]
    diff = [d for d in diff if d[1] != d[2]]
    if diff:
        raise ValueError(f"{source}: checkpoint config differs from the preset "
                         f"(field, checkpoint, preset): {diff}")


def _is_hf_folder(path: str | Path) -> bool:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path} (weights load from local paths only)")
    return path.is_dir() and (path / "config.json").exists()


def _log_dropped(path: str | Path, dropped: list[str]) -> None:
    if dropped:
        log.info("%s: %d unused tensors dropped (e.g. %s)", path, len(dropped), dropped[:3])


def _load_strict(module: nn.Module, state: StateDict, source: str | Path) -> None:
    """Copy tensors into `module`: every parameter covered, with its shape, nothing left over.

    A missing tensor would silently stay random; a left-over one means the checkpoint is
    bigger than the preset (more layers), i.e. the wrong preset. Known-unused tensors were
    dropped by the mappings before this point.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and not _is_buffer_we_make(module, k)]
    if missing:
        raise ValueError(f"{source}: checkpoint lacks {len(missing)} tensors, e.g. {missing[:5]}")
    extra = [k for k in state if k not in own]
    if extra:
        raise ValueError(f"{source}: {len(extra)} tensors the preset has no place for, e.g. {extra[:5]}")
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        shapes = [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in wrong[:3]]
        raise ValueError(f"{source}: shape mismatch (key, checkpoint, model): {shapes}")
    module.load_state_dict({k: state[k] for k in own if k in state}, strict=False)


def _is_buffer_we_make(module: nn.Module, key: str) -> bool:
    # Buffers such as SigLIP's position_ids are derived from the config, not learned.
    names = dict(module.named_buffers())
    return key in names

