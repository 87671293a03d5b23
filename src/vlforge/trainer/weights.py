"""Pretrained weights into the trainer's model (transformers' DeepSeek-VL classes), strictly.

Nothing here downloads: every source is a local path. The model is transformers'
`DeepseekVLForConditionalGeneration` (SigLIP only, the 1.3B shape) or
`DeepseekVLHybridForConditionalGeneration` (SigLIP + SAM, the 7B shape). Three ways in:

- `load_full(model, folder)`: a whole model, from
  - a transformers folder (`save_pretrained` of those classes, the converted checkpoints users
    download; older transformers wrote SigLIP as `model.vision_model.vision_model.*`, which is
    read too), or
  - the original release layout (`deepseek-ai/deepseek-vl-*`: one config.json with
    vision_config / aligner_config / language_config, timm-named towers): converted in
    memory by `vlforge.trainer.convert`, which also writes it out as a transformers folder;
- `load_parts(model, siglip=, sam=, llm=)`: stage 1 from scratch, one checkpoint per part:
  - SigLIP: a transformers folder (SiglipVisionModel, or a full SiglipModel such as
    google/siglip-large-patch16-384) or a timm file (`vit_large_patch16_siglip_384` names;
    the release's `vision_tower_low` inside a DeepSeek-VL file also reads);
  - SAM: a transformers folder (SamVisionModel or a full SamModel such as facebook/sam-vit-base),
    a timm `samvit_*` file, the original segment-anything file (`image_encoder.`), or a
    DeepSeek-VL release file (its `vision_tower_high`, with the trained downsample convs,
    second neck and its scale);
  - LLM: a transformers Llama / DeepSeek-LLM folder.
  Parameters no part covers must be the model class's NEW_LAYERS (listed in the report).

Every load compares what the checkpoint fills with what the model has: a parameter left
unfilled (other than a documented new layer), a tensor of the wrong shape, a checkpoint tensor
the model has no place for, or a config that computes differently (heads, activation, window,
rope...) raises WeightsError naming them. Tensors the architecture does not use (SigLIP's
attention-pool head, SAM's prompt encoder and mask decoder, rotary caches) are listed in the
report as ignored. Nothing ever falls back to random initialisation silently.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from vlforge.errors import VlforgeError

StateDict = dict[str, torch.Tensor]


class WeightsError(VlforgeError):
    """A checkpoint cannot fill the model: the message names what is missing or mismatched.

    `names` holds the full list (the message shows the first ones).
    """

    def __init__(self, message: str, names: list[str] | None = None):
        super().__init__(message)
        self.names = list(names or [])


@dataclass
class LoadReport:
    """What one load did: every model tensor filled, left new, and checkpoint tensors unused."""

    source: str
    layout: str
    loaded: list[str] = field(default_factory=list)
    new_layers: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def summary(self) -> str:
        # every model tensor is either loaded or a listed new layer (anything else fails the load)
        total = len(self.loaded) + len(self.new_layers)
        text = f"{self.source} ({self.layout}): loaded {len(self.loaded)} of the model's {total} tensors"
        if self.new_layers:
            text += f"; new layers left at their init: {_grouped(self.new_layers, modules=True)}"
        if self.ignored:
            text += f"; {len(self.ignored)} checkpoint tensors not used: {_first(self.ignored, 4)}"
        return text


# Layers of each model class that no part checkpoint (SigLIP, SAM, LLM) can hold: a stage-1 run
# from parts starts them at the class's init and trains them (they are the VL adaptor).
NEW_LAYERS: dict[str, tuple[str, ...]] = {
    "DeepseekVLForConditionalGeneration": (
        # the 2-layer GELU MLP from SigLIP's width to the LLM's: DeepSeek-VL's own adaptor
        "model.aligner.",
    ),
    "DeepseekVLHybridForConditionalGeneration": (
        # the hybrid split MLP (SigLIP and SAM tokens each to half the LLM width, then GELU, Linear)
        "model.aligner.",
        # the two stride-2 convs 256 -> 512 -> 1024 that turn SAM's 64x64 map into 24x24 tokens:
        # SAM-B has no such layers; the paper counts them as part of the adaptor
        "model.high_res_vision_proj.",
        # the second SAM branch DeepSeek-VL added: a copy of the neck over the first
        # global-attention block's output ...
        "model.high_res_vision_neck.",
        # ... scaled by this learnable scalar, initialised to 0 (the branch starts switched off)
        "model.high_res_vision_alpha",
    ),
}

# Where each part lands in both model classes.
SIGLIP_PREFIX = "model.vision_model."
SAM_ENCODER_PREFIX = "model.high_res_vision_model.vision_encoder."
LLM_PREFIX = "model.language_model."


# --- reading tensors ----------------------------------------------------------------------


def read_state_dict(path: str | Path) -> StateDict:
    """Tensors of one checkpoint file (.safetensors, or a torch pickle: .pth/.pt/.bin), on CPU."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint file not found: {path} (weights load from local paths only)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    data = torch.load(path, map_location="cpu", weights_only=True)
    # Lightning / DeepSpeed style files nest the weights one level down.
    for key in ("state_dict", "model", "module"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    return dict(data)


def weight_files(folder: str | Path) -> list[Path]:
    """The weight files of a checkpoint folder: safetensors preferred, sharded or single."""
    folder = Path(folder)
    for index_name, single in (("model.safetensors.index.json", "model.safetensors"),
                               ("pytorch_model.bin.index.json", "pytorch_model.bin")):
        index = folder / index_name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            return [folder / name for name in shards]
        if (folder / single).is_file():
            return [folder / single]
    raise WeightsError(f"{folder}: no model.safetensors, pytorch_model.bin or their sharded index")


def read_folder(folder: str | Path) -> StateDict:
    """Every tensor of a checkpoint folder, all shards."""
    state: StateDict = {}
    for path in weight_files(folder):
        state.update(read_state_dict(path))
    return state


def tensor_shapes(folder: str | Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a folder, without reading safetensors data."""
    shapes: dict[str, tuple[int, ...]] = {}
    for path in weight_files(folder):
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                shapes.update({k: tuple(f.get_slice(k).get_shape()) for k in f.keys()})
        else:
            shapes.update({k: tuple(v.shape) for k, v in read_state_dict(path).items()})
    return shapes


# --- timm / segment-anything / DeepSeek-VL release names -> transformers names -------------

_SIGLIP_RENAMES = [
    (r"^patch_embed\.proj\.", "embeddings.patch_embedding."),
    (r"^norm\.", "post_layernorm."),
    (r"^blocks\.(\d+)\.norm1\.", r"encoder.layers.\1.layer_norm1."),
    (r"^blocks\.(\d+)\.norm2\.", r"encoder.layers.\1.layer_norm2."),
    (r"^blocks\.(\d+)\.attn\.proj\.", r"encoder.layers.\1.self_attn.out_proj."),
    (r"^blocks\.(\d+)\.mlp\.fc1\.", r"encoder.layers.\1.mlp.fc1."),
    (r"^blocks\.(\d+)\.mlp\.fc2\.", r"encoder.layers.\1.mlp.fc2."),
]
# The MAP pooling head (and any classifier) is unused: DeepSeek-VL takes all patch tokens.
_SIGLIP_UNUSED = re.compile(r"^(attn_pool|head|fc_norm)\.")


def timm_siglip_to_hf(state: StateDict) -> tuple[StateDict, list[str]]:
    """(tensors under `SiglipVisionModel` names, unused keys) for one timm SigLIP tower."""
    out: StateDict = {}
    unused: list[str] = []
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
            unused.append(key)
        else:
            _keep_renamed(key, value, _SIGLIP_RENAMES, out, unused)
    return out, unused


_SAM_ENC = "high_res_vision_model.vision_encoder."
# Names relative to the hybrid's `model.`: the SAM encoder, plus the layers DeepSeek-VL's
# `sam_b_downsample` tower keeps inside itself (downsample convs, second neck, its scale).
_SAM_RENAMES = [
    (r"^patch_embed\.proj\.", _SAM_ENC + "patch_embed.projection."),
    (r"^pos_embed$", _SAM_ENC + "pos_embed"),
    (r"^blocks\.(\d+)\.norm1\.", _SAM_ENC + r"layers.\1.layer_norm1."),
    (r"^blocks\.(\d+)\.norm2\.", _SAM_ENC + r"layers.\1.layer_norm2."),
    (r"^blocks\.(\d+)\.attn\.(qkv|proj)\.", _SAM_ENC + r"layers.\1.attn.\2."),
    (r"^blocks\.(\d+)\.attn\.(rel_pos_[hw])$", _SAM_ENC + r"layers.\1.attn.\2"),
    # segment-anything names the MLP lin1/lin2, timm fc1/fc2
    (r"^blocks\.(\d+)\.mlp\.(?:fc1|lin1)\.", _SAM_ENC + r"layers.\1.mlp.lin1."),
    (r"^blocks\.(\d+)\.mlp\.(?:fc2|lin2)\.", _SAM_ENC + r"layers.\1.mlp.lin2."),
    # the necks are nn.Sequential(conv1x1, LayerNorm2d, conv3x3, LayerNorm2d) there
    (r"^neck\.0\.", _SAM_ENC + "neck.conv1."),
    (r"^neck\.1\.", _SAM_ENC + "neck.layer_norm1."),
    (r"^neck\.2\.", _SAM_ENC + "neck.conv2."),
    (r"^neck\.3\.", _SAM_ENC + "neck.layer_norm2."),
    (r"^neck_hd\.0\.", "high_res_vision_neck.conv1."),
    (r"^neck_hd\.1\.", "high_res_vision_neck.layer_norm1."),
    (r"^neck_hd\.2\.", "high_res_vision_neck.conv2."),
    (r"^neck_hd\.3\.", "high_res_vision_neck.layer_norm2."),
    (r"^downsamples\.0\.", "high_res_vision_proj.conv1."),
    (r"^downsamples\.1\.", "high_res_vision_proj.conv2."),
    (r"^hd_alpha_downsamples$", "high_res_vision_alpha"),
]


def timm_sam_to_hf(state: StateDict) -> tuple[StateDict, list[str]]:
    """(tensors under the hybrid model's names after `model.`, unused keys) for one SAM tower."""
    out: StateDict = {}
    unused: list[str] = []
    for key, value in state.items():
        _keep_renamed(key, value, _SAM_RENAMES, out, unused)
    return out, unused


def _keep_renamed(key: str, value, renames, out: StateDict, unused: list[str]) -> None:
    """out[new name] = value, or the key into `unused` when no rename rule knows it."""
    for pattern, repl in renames:
        if re.search(pattern, key):
            out[re.sub(pattern, repl, key)] = value
            return
    unused.append(key)


def tower_prefix(keys, tower: str, source: str | Path) -> str:
    """The prefix in front of one tower's timm names in a file that may hold several towers.

    Every tower has `patch_embed.proj.weight`; a SAM tower also has `neck.0.weight`, a SigLIP
    tower has none (so a DeepSeek-VL release file gives its `vision_tower_low` for SigLIP and
    its `vision_tower_high` for SAM).
    """
    anchor = "patch_embed.proj.weight"
    keys = set(keys)
    prefixes = sorted(k[: -len(anchor)] for k in keys if k.endswith(anchor))
    fits = [p for p in prefixes if (p + "neck.0.weight" in keys) == (tower == "sam")]
    if len(fits) != 1:
        found = prefixes or "none"
        raise WeightsError(f"{source}: expected one {tower} tower (timm names, a key ending in "
                           f"{anchor!r}{', with neck.0.weight' if tower == 'sam' else ''}); "
                           f"tower prefixes found: {found}")
    return fits[0]


def under(state: StateDict, prefix: str) -> tuple[StateDict, list[str]]:
    """(the tensors under `prefix`, prefix removed; the keys outside it)."""
    inside = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return inside, [k for k in state if not k.startswith(prefix)]


def add_prefix(state: StateDict, prefix: str) -> StateDict:
    return {prefix + k: v for k, v in state.items()}


# --- layouts and configs ----------------------------------------------------------------------

TRANSFORMERS_TYPES = ("deepseek_vl", "deepseek_vl_hybrid")
VLFORGE_V1_FORMAT = "vlforge-deepseek-vl"  # exports of the trainer before it used transformers


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: cannot read it as JSON ({exc})") from exc


def checkpoint_layout(path: str | Path) -> str:
    """"transformers" | "release" | "vlforge-v1" for a model folder; WeightsError otherwise."""
    folder = Path(path)
    if not folder.exists():
        raise WeightsError(f"checkpoint not found: {folder} (weights load from local paths only)")
    if not (folder / "config.json").is_file():
        raise WeightsError(f"{folder}: not a model folder (no config.json)")
    raw = read_json(folder / "config.json")
    if raw.get("format") == VLFORGE_V1_FORMAT:
        return "vlforge-v1"
    if raw.get("model_type") in TRANSFORMERS_TYPES:
        return "transformers"
    if {"vision_config", "aligner_config", "language_config"} <= raw.keys():
        return "release"
    raise WeightsError(f"{folder}: model_type {raw.get('model_type')!r} is neither a transformers "
                       f"DeepSeek-VL folder (model_type {' / '.join(TRANSFORMERS_TYPES)}) nor a "
                       "DeepSeek-VL release folder (vision_config, aligner_config, language_config)")


def read_model_config(path: str | Path):
    """DeepseekVLConfig / DeepseekVLHybridConfig of a transformers or release folder."""
    layout = checkpoint_layout(path)
    if layout == "transformers":
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(str(path), local_files_only=True)
    if layout == "release":
        from vlforge.trainer import convert

        return convert.release_config(path)
    raise _v1_error(path)


def _v1_error(path) -> WeightsError:
    return WeightsError(f"{path}: an export of the old vlforge trainer ({VLFORGE_V1_FORMAT}), whose "
                        "architecture differs from DeepSeek-VL's (no second SAM branch, other "
                        "resize and GELU); it cannot seed this model. Start from a transformers or "
                        "release DeepSeek-VL folder, or from parts.")


# Config fields that decide what a checkpoint computes beyond its tensor shapes: a model built
# with other values would run the same weights differently.
_SIGLIP_FIELDS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                  "image_size", "patch_size", "hidden_act", "layer_norm_eps")
_SAM_FIELDS = ("hidden_size", "output_channels", "num_hidden_layers", "num_attention_heads",
               "image_size", "patch_size", "window_size", "global_attn_indexes", "mlp_dim",
               "hidden_act", "layer_norm_eps", "use_rel_pos", "use_abs_pos")
_LLM_FIELDS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "head_dim", "hidden_act", "rms_norm_eps", "vocab_size",
               "rope_theta", "attention_bias", "mlp_bias")


def _field(cfg, name: str):
    if name == "rope_theta":  # transformers 5 keeps it inside rope_parameters
        return (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta")
    value = getattr(cfg, name, None)
    return list(value) if isinstance(value, tuple) else value


def config_differences(ours, theirs, fields: tuple[str, ...], where: str) -> list[str]:
    """`where.field: checkpoint X, model Y` for every field the two configs disagree on."""
    return [f"{where}.{name}: checkpoint {_field(theirs, name)!r}, model {_field(ours, name)!r}"
            for name in fields if _field(theirs, name) != _field(ours, name)]


def _check_full_config(model: nn.Module, ckpt, source) -> None:
    if type(model).__name__ != _class_name(ckpt):
        raise WeightsError(f"{source}: a {_class_name(ckpt)} checkpoint cannot fill a "
                           f"{type(model).__name__}; build the model from read_model_config(path)")
    cfg = model.config
    diffs = config_differences(cfg.vision_config, ckpt.vision_config, _SIGLIP_FIELDS, "vision_config")
    diffs += config_differences(cfg.text_config, ckpt.text_config, _LLM_FIELDS, "text_config")
    if hasattr(cfg, "high_res_vision_config"):
        diffs += config_differences(cfg.high_res_vision_config, ckpt.high_res_vision_config,
                                    _SAM_FIELDS, "high_res_vision_config")
    diffs += config_differences(cfg, ckpt, ("image_token_id", "tie_word_embeddings"), "config")
    if diffs:
        raise WeightsError(f"{source}: the model's config differs from the checkpoint's, so the "
                           f"weights would compute something else: {'; '.join(diffs)}", diffs)


def _class_name(config) -> str:
    return {"deepseek_vl": "DeepseekVLForConditionalGeneration",
            "deepseek_vl_hybrid": "DeepseekVLHybridForConditionalGeneration"}[config.model_type]


# --- whole models ---------------------------------------------------------------------------

# Names older transformers versions wrote, as they are named now.
_TRANSFORMERS_RENAMES = [
    # SiglipVisionModel wrapped a SiglipVisionTransformer under `vision_model.` before 5.0
    (r"^model\.vision_model\.vision_model\.", "model.vision_model."),
    # 5.10 - 5.23 saved the LLM of multimodal models with a doubled `.model`
    (r"^model\.language_model\.model\.", "model.language_model."),
]
# Tensors a transformers folder may carry that these models do not use.
_UNUSED_FULL = re.compile(r"^model\.vision_model\.head\.|\.rotary_emb\.inv_freq$")


def transformers_state(folder: str | Path) -> tuple[StateDict, list[str]]:
    """(tensors under the current class's names, unused keys) of a transformers folder."""
    out: StateDict = {}
    unused: list[str] = []
    for key, value in read_folder(folder).items():
        if _UNUSED_FULL.search(key):
            unused.append(key)
            continue
        for pattern, repl in _TRANSFORMERS_RENAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out, unused


def load_full(model: nn.Module, path: str | Path) -> LoadReport:
    """Fill every parameter of `model` from a transformers or release folder, or raise."""
    layout = checkpoint_layout(path)
    if layout == "vlforge-v1":
        raise _v1_error(path)
    _check_full_config(model, read_model_config(path), path)
    if layout == "transformers":
        state, unused = transformers_state(path)
    else:
        from vlforge.trainer import convert

        state, unused = convert.release_state(path)
    return fill(model, state, source=str(path), layout=layout, ignored=unused)


# --- parts ----------------------------------------------------------------------------------


def load_parts(model: nn.Module, *, siglip=None, sam=None, llm=None) -> LoadReport:
    """Stage 1 from scratch: SigLIP, SAM and LLM each from its own checkpoint.

    What no part covers must be the model class's NEW_LAYERS; anything else (a part not given,
    a checkpoint smaller than the preset) raises WeightsError naming the parameters.
    """
    name = type(model).__name__
    if name not in NEW_LAYERS:
        raise WeightsError(f"load_parts fills transformers' DeepSeek-VL classes, not {name}")
    if sam is not None and not hasattr(model.config, "high_res_vision_config"):
        raise WeightsError(f"sam={sam}: {name} has no SAM tower (the 1.3B shape is SigLIP only)")
    state: StateDict = {}
    unused: list[str] = []
    layouts: list[str] = []
    for part, path, reader in (("siglip", siglip, _siglip_part), ("sam", sam, _sam_part),
                               ("llm", llm, _llm_part)):
        if path is None:
            continue
        tensors, dropped, layout = reader(model.config, path)
        state.update(tensors)
        unused += [f"{part}:{key}" for key in dropped]
        layouts.append(f"{part}={path} ({layout})")
    return fill(model, state, source=", ".join(layouts) or "no parts", layout="parts",
                ignored=unused, new_layers=NEW_LAYERS[name])


def _is_transformers_folder(path: Path) -> bool:
    if not path.exists():
        raise WeightsError(f"checkpoint not found: {path} (weights load from local paths only)")
    return path.is_dir() and (path / "config.json").is_file() and checkpoint_kind(path) != "release"


def checkpoint_kind(path: Path) -> str:
    raw = read_json(path / "config.json")
    if {"vision_config", "aligner_config", "language_config"} <= raw.keys():
        return "release"
    return str(raw.get("model_type"))


def _tensors_of(path: Path) -> StateDict:
    """A single file, or every tensor of a folder (a DeepSeek-VL release folder as a tower source)."""
    return read_folder(path) if path.is_dir() else read_state_dict(path)


def _part_config(path: Path, kinds: dict[str, str], part: str):
    """The part's own config from a transformers folder, if it is one of `kinds`."""
    from transformers import AutoConfig

    kind = checkpoint_kind(path)
    if kind not in kinds:
        raise WeightsError(f"{part}={path}: a {kind} checkpoint; expected a transformers "
                           f"{' or '.join(kinds.values())} folder or a timm-named file")
    cfg = AutoConfig.from_pretrained(str(path), local_files_only=True)
    return getattr(cfg, "vision_config", cfg) if kind in ("siglip", "sam") else cfg


def _siglip_part(config, path) -> tuple[StateDict, list[str], str]:
    path = Path(path)
    if _is_transformers_folder(path):
        kinds = {"siglip": "SiglipModel", "siglip_vision_model": "SiglipVisionModel"}
        ckpt = _part_config(path, kinds, "siglip")
        # Not hidden_act: the weights are the tower's; the preset runs them with exact GELU as
        # DeepSeek-VL did with the same weights (published with tanh-approximate GELU).
        fields = tuple(f for f in _SIGLIP_FIELDS if f != "hidden_act")
        _refuse_differences(config.vision_config, ckpt, fields, "siglip", path)
        raw = read_folder(path)
        has_prefix = any(k.startswith("vision_model.") for k in raw)
        tower, outside = under(raw, "vision_model.") if has_prefix else (raw, [])
        unused = [k for k in tower if k.startswith("head.")] + outside
        tensors = {k: v for k, v in tower.items() if not k.startswith("head.")}
        return add_prefix(tensors, SIGLIP_PREFIX), unused, "transformers"
    raw = _tensors_of(path)
    tower, outside = under(raw, tower_prefix(raw, "siglip", path))
    tensors, unused = timm_siglip_to_hf(tower)
    return add_prefix(tensors, SIGLIP_PREFIX), unused + outside, "timm"


def _sam_part(config, path) -> tuple[StateDict, list[str], str]:
    path = Path(path)
    if _is_transformers_folder(path):
        kinds = {"sam": "SamModel", "sam_vision_model": "SamVisionModel"}
        ckpt = _part_config(path, kinds, "sam")
        _refuse_differences(config.high_res_vision_config, ckpt, _SAM_FIELDS, "sam", path)
        # SamModel's prompt encoder and mask decoder sit beside vision_encoder: unused here.
        tower, outside = under(read_folder(path), "vision_encoder.")
        return add_prefix(tower, SAM_ENCODER_PREFIX), outside, "transformers"
    raw = _tensors_of(path)
    tower, outside = under(raw, tower_prefix(raw, "sam", path))
    tensors, unused = timm_sam_to_hf(tower)
    return add_prefix(tensors, "model."), unused + outside, "timm"


def _llm_part(config, path) -> tuple[StateDict, list[str], str]:
    path = Path(path)
    if not _is_transformers_folder(path):
        whole = path.is_dir() and (path / "config.json").is_file()
        raise WeightsError(f"llm={path}: expected a transformers Llama / DeepSeek-LLM folder "
                           "(config.json with model_type llama and its weights)"
                           + ("; this is a whole DeepSeek-VL release folder: start from it with "
                              "load_full" if whole else ""))
    ckpt = _part_config(path, {"llama": "Llama / DeepSeek-LLM"}, "llm")
    _refuse_differences(config.text_config, ckpt, _LLM_FIELDS, "llm", path)
    tensors: StateDict = {}
    unused: list[str] = []
    for key, value in read_folder(path).items():
        if key.endswith(".rotary_emb.inv_freq"):
            unused.append(key)
        elif key.startswith("model."):
            tensors[LLM_PREFIX + key[len("model."):]] = value
        elif key == "lm_head.weight":
            tensors[key] = value
        else:
            unused.append(key)
    if "lm_head.weight" not in tensors and ckpt.tie_word_embeddings:
        # A tied LLM's output layer is its input embedding: the same function either way.
        tensors["lm_head.weight"] = tensors[LLM_PREFIX + "embed_tokens.weight"]
    return tensors, unused, "transformers"


def _refuse_differences(ours, theirs, fields, part: str, path) -> None:
    diffs = config_differences(ours, theirs, fields, part)
    if diffs:
        raise WeightsError(f"{part}={path}: the checkpoint's config differs from the model's: "
                           f"{'; '.join(diffs)}", diffs)


# --- the strict copy --------------------------------------------------------------------------


def fill(model: nn.Module, state: StateDict, *, source: str, layout: str,
         ignored: list[str] = (), new_layers: tuple[str, ...] = ()) -> LoadReport:
    """Copy `state` into `model` after checking it fills every parameter with its shape.

    Parameters under `new_layers` prefixes may stay as initialised; tied parameters (the LLM's
    lm_head and input embedding when the config ties them) are filled through either name.
    """
    if any(p.is_meta for p in model.parameters()):
        raise WeightsError(f"{source}: the model has parameters on the meta device; "
                           "materialise it before loading weights")
    own = model.state_dict()
    state = _through_ties(model, state, source)
    check_complete({k: tuple(v.shape) for k, v in own.items()}, state, source, new_layers)
    with torch.no_grad():
        for key, tensor in own.items():
            if key in state:
                tensor.copy_(state[key])
    return LoadReport(source=source, layout=layout, loaded=[k for k in own if k in state],
                      new_layers=[k for k in own if k not in state], ignored=list(ignored))


def check_complete(shapes: dict[str, tuple[int, ...]], state: StateDict, source: str,
                   new_layers: tuple[str, ...] = ()) -> None:
    """Raise unless `state` has exactly the model's tensors (but new layers), shapes equal."""
    lacking = [k for k in shapes if k not in state and not k.startswith(new_layers)]
    if lacking:
        raise WeightsError(f"{source}: the checkpoint lacks {len(lacking)} parameters of the model "
                           f"({_grouped(lacking)}): {_first(lacking)}", lacking)
    extra = [k for k in state if k not in shapes]
    if extra:
        raise WeightsError(f"{source}: {len(extra)} checkpoint tensors have no place in the model "
                           f"(a bigger or other model?): {_first(extra)}", extra)
    wrong = [f"{k} {tuple(state[k].shape)} vs model {shapes[k]}"
             for k in shapes if k in state and tuple(state[k].shape) != shapes[k]]
    if wrong:
        raise WeightsError(f"{source}: {len(wrong)} tensors have another shape than the model's: "
                           f"{_first(wrong)}", wrong)


def _through_ties(model: nn.Module, state: StateDict, source: str) -> StateDict:
    """Give every name of a tied parameter the checkpoint's tensor; refuse two different ones."""
    names: dict[int, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), []).append(name)
    state = dict(state)
    for group in (g for g in names.values() if len(g) > 1):
        present = [n for n in group if n in state]
        if len(present) > 1 and not all(torch.equal(state[present[0]], state[n]) for n in present):
            raise WeightsError(f"{source}: the model ties {group} but the checkpoint holds "
                               "different tensors for them (an untied checkpoint: build the model "
                               "with tie_word_embeddings=False)", group)
        for name in group if present else ():
            state.setdefault(name, state[present[0]])
    return state


def _first(names: list[str], n: int = 20) -> str:
    more = f" ... and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _grouped(names: list[str], *, modules: bool = False) -> str:
    """Counts per component (`model.language_model: 290`), or per module with layer numbers
    collapsed (`model.aligner.proj: 2, siglip:attn_pool: 3`) when `modules`."""
    def group(name: str) -> str:
        if modules:  # the module's name; a parameter of the model itself keeps its own
            name = re.sub(r"\.\d+\.", ".*.", name)
            return name.rsplit(".", 1)[0] if name.count(".") > 1 else name
        return ".".join(name.split(".")[:2 if name.startswith("model.") else 1])

    counts = Counter(group(n) for n in names)
    return ", ".join(f"{name}: {count}" for name, count in counts.items())
