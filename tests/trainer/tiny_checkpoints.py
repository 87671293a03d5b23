"""Tiny random DeepSeek-VL models and their checkpoints in every layout the trainer reads.

Small widths and depths, but the real geometry: SigLIP 384 px / patch 16 (576 tokens), SAM
1024 px / patch 16 with window 14 and global-attention blocks, its map resized to 96x96 and
downsampled twice to 24x24 (576 tokens). The release writer spells out the released code's
names (deepseek-ai/DeepSeek-VL `MultiModalityCausalLM`, timm SigLIP, segment-anything SAM with
`downsamples`, `neck_hd`, `hd_alpha_downsamples`) from transformers' names, by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from vlforge.trainer.tokenizer import byte_tokenizer

TOKENIZER = byte_tokenizer()
VOCAB = len(TOKENIZER)
IMAGE_TOKEN_ID = TOKENIZER.image_token_id
IMAGE_TOKENS = 576

TEXT = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=VOCAB, rms_norm_eps=1e-6, max_position_embeddings=1024)
# 16 heads: the released code's head count for siglip_large_patch16_384, which the release
# layout cannot state otherwise.
SIGLIP = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=16,
              image_size=384, patch_size=16, hidden_act="gelu", layer_norm_eps=1e-6,
              vision_use_head=False)
SAM = dict(hidden_size=32, output_channels=16, num_hidden_layers=4, num_attention_heads=2,
           image_size=1024, patch_size=16, window_size=14, global_attn_indexes=[1, 3], mlp_dim=48,
           layer_norm_eps=1e-6)


def config(kind: str, *, tie: bool = False, **siglip):
    from transformers import DeepseekVLConfig, DeepseekVLHybridConfig

    common = dict(text_config={**TEXT, "tie_word_embeddings": tie}, vision_config={**SIGLIP, **siglip},
                  image_token_id=IMAGE_TOKEN_ID, tie_word_embeddings=tie)
    if kind == "hybrid":
        return DeepseekVLHybridConfig(high_res_vision_config=SAM, **common)
    return DeepseekVLConfig(**common)


def model_class(kind: str):
    from transformers import (
        DeepseekVLForConditionalGeneration,
        DeepseekVLHybridForConditionalGeneration,
    )

    return DeepseekVLHybridForConditionalGeneration if kind == "hybrid" else DeepseekVLForConditionalGeneration


def random_model(kind: str, seed: int = 0, **kw):
    """Every parameter random (norm scales near 1), the second SAM branch's scale non-zero."""
    torch.manual_seed(seed)
    model = model_class(kind)(config(kind, **kw)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim == 1 and "norm" in name:
                param.copy_(1 + 0.1 * torch.randn_like(param))
            else:
                param.copy_(0.05 * torch.randn_like(param))
        if kind == "hybrid":
            model.model.high_res_vision_alpha.fill_(0.7)
    return model


def inputs(kind: str, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    text = torch.randint(0, 256, (1, 6), generator=g)
    image = torch.full((1, IMAGE_TOKENS), IMAGE_TOKEN_ID)
    batch = {"input_ids": torch.cat([text[:, :3], image, text[:, 3:]], dim=1),
             "pixel_values": torch.randn(1, 3, 384, 384, generator=g)}
    if kind == "hybrid":
        batch["high_res_pixel_values"] = torch.randn(1, 3, 1024, 1024, generator=g)
    return batch


@torch.no_grad()
def logits(model, batch) -> torch.Tensor:
    return model.eval()(**batch).logits


# --- transformers names -> the released code's names ---------------------------------------

_SIGLIP_TO_TIMM = [
    (r"^embeddings\.patch_embedding\.", "patch_embed.proj."),
    (r"^encoder\.layers\.(\d+)\.layer_norm(\d)\.", r"blocks.\1.norm\2."),
    (r"^encoder\.layers\.(\d+)\.self_attn\.out_proj\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.layers\.(\d+)\.mlp\.", r"blocks.\1.mlp."),
    (r"^post_layernorm\.", "norm."),
]
_SAM_TO_RELEASE = [
    (r"^high_res_vision_model\.vision_encoder\.patch_embed\.projection\.", "patch_embed.proj."),
    (r"^high_res_vision_model\.vision_encoder\.pos_embed$", "pos_embed"),
    (r"^high_res_vision_model\.vision_encoder\.layers\.(\d+)\.layer_norm(\d)\.", r"blocks.\1.norm\2."),
    (r"^high_res_vision_model\.vision_encoder\.layers\.(\d+)\.", r"blocks.\1."),
    (r"^high_res_vision_model\.vision_encoder\.neck\.conv1\.", "neck.0."),
    (r"^high_res_vision_model\.vision_encoder\.neck\.layer_norm1\.", "neck.1."),
    (r"^high_res_vision_model\.vision_encoder\.neck\.conv2\.", "neck.2."),
    (r"^high_res_vision_model\.vision_encoder\.neck\.layer_norm2\.", "neck.3."),
    (r"^high_res_vision_neck\.conv1\.", "neck_hd.0."),
    (r"^high_res_vision_neck\.layer_norm1\.", "neck_hd.1."),
    (r"^high_res_vision_neck\.conv2\.", "neck_hd.2."),
    (r"^high_res_vision_neck\.layer_norm2\.", "neck_hd.3."),
    (r"^high_res_vision_proj\.conv(\d)\.", lambda m: f"downsamples.{int(m.group(1)) - 1}."),
    (r"^high_res_vision_alpha$", "hd_alpha_downsamples"),
]


def _rename(key: str, rules) -> str:
    for pattern, repl in rules:
        if re.search(pattern, key):
            return re.sub(pattern, repl, key)
    raise KeyError(key)


def siglip_timm(vision_state: dict) -> dict:
    """A transformers SigLIP tower's tensors under timm `VisionTransformer` names."""
    out = {}
    for key, value in vision_state.items():
        if key == "embeddings.position_embedding.weight":
            out["pos_embed"] = value[None]
        elif m := re.match(r"encoder\.layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)", key):
            layer, kind = m.groups()
            parts = [vision_state[f"encoder.layers.{layer}.self_attn.{p}_proj.{kind}"] for p in "qkv"]
            out[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat(parts)
        elif not re.search(r"self_attn\.[kv]_proj", key):
            out[_rename(key, _SIGLIP_TO_TIMM)] = value
    # the attention-pool head timm builds for global_pool="map" (unused by DeepSeek-VL)
    width = vision_state["post_layernorm.weight"].shape[0]
    out["attn_pool.latent"] = torch.randn(1, 1, width)
    out["attn_pool.kv.weight"] = torch.randn(2 * width, width)
    return out


def sam_release(model_state: dict) -> dict:
    """The hybrid's SAM tensors (names after `model.`) as the released `sam_b_downsample` tower."""
    return {_rename(k, _SAM_TO_RELEASE): v for k, v in model_state.items()
            if k.startswith(("high_res_vision_model.", "high_res_vision_neck.",
                             "high_res_vision_proj.", "high_res_vision_alpha"))}


def release_tensors(model) -> dict[str, torch.Tensor]:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hybrid = "model.high_res_vision_alpha" in state
    siglip = {k[len("model.vision_model."):]: v for k, v in state.items() if k.startswith("model.vision_model.")}
    tower = "vision_model.vision_tower_low.vision_tower." if hybrid else "vision_model.vision_tower."
    out = {tower + k: v for k, v in siglip_timm(siglip).items()}
    llm = {k: v for k, v in state.items() if k.startswith("model.language_model.")}
    out.update({"language_model.model." + k[len("model.language_model."):]: v for k, v in llm.items()})
    out["language_model.lm_head.weight"] = state["lm_head.weight"]
    if hybrid:
        inner = {k[len("model."):]: v for k, v in state.items()}
        out.update({"vision_model.vision_tower_high.vision_tower." + k: v
                    for k, v in sam_release(inner).items()})
        for side in ("high", "low"):  # built by HybridVisionTower, never used in its forward
            out[f"vision_model.{side}_layer_norm.weight"] = torch.ones(64)
        names = {"high_up_proj": "high_res_vision_proj", "low_up_proj": "vision_proj", "layers.1": "proj"}
    else:
        names = {"layers.0": "linear1", "layers.2": "linear2"}
    for release, ours in names.items():
        for kind in ("weight", "bias"):
            out[f"aligner.{release}.{kind}"] = state[f"model.aligner.{ours}.{kind}"]
    return out


def release_config(model) -> dict:
    """config.json of a release folder (the released MultiModalityConfig's layout)."""
    cfg = model.config
    text = cfg.text_config
    siglip = {"model_name": "siglip_large_patch16_384", "image_size": 384, "select_feature": "same",
              "select_layer": -1, "ckpt_path": "", "pixel_mean": [0.5] * 3, "pixel_std": [0.5] * 3}
    language = {"model_type": "llama", "torch_dtype": "float32", "vocab_size": text.vocab_size,
                "hidden_size": text.hidden_size, "intermediate_size": text.intermediate_size,
                "num_hidden_layers": text.num_hidden_layers, "num_attention_heads": text.num_attention_heads,
                "num_key_value_heads": text.num_key_value_heads, "max_position_embeddings": 1024}
    if hasattr(cfg, "high_res_vision_config"):
        sam = {"model_name": "sam_b_downsample", "image_size": 1024, "select_feature": "same",
               "select_layer": -1, "ckpt_path": "", "output_dim": 64}
        vision = {"cls": "HybridVisionTower", "model_type": "vision",
                  "params": {"concat_type": "tuple", "freeze_high": True, "freeze_low": True,
                             "high_res_cfg": sam, "low_res_cfg": {**siglip, "output_dim": 64}}}
        aligner = {"projector_type": "low_high_hybrid_split_mlp_gelu"}
    else:
        vision = {"cls": "CLIPVisionTower", "model_type": "vision", "params": siglip}
        aligner = {"projector_type": "mlp_gelu"}
    aligner = {"cls": "MlpProjector", "model_type": "aligner",
               "params": {**aligner, "depth": 2, "input_dim": 64, "n_embed": text.hidden_size}}
    return {"architectures": ["MultiModalityCausalLM"], "model_type": "multi_modality",
            "torch_dtype": "float32", "transformers_version": "4.38.2", "vision_config": vision,
            "aligner_config": aligner, "language_config": language}


def write_release(model, folder: Path, *, drop: str | None = None, shards: int = 2,
                  pickle: bool = False) -> Path:
    """A release folder: config.json, sharded safetensors with an index (or one
    pytorch_model.bin when `pickle`), the tokenizer."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in release_tensors(model).items()
               if drop is None or not k.startswith(drop)}
    if pickle:
        torch.save(tensors, folder / "pytorch_model.bin")
        shards = 0
    keys = sorted(tensors)
    weight_map = {}
    for i in range(shards):
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: tensors[k] for k in keys[i::shards]}
        save_file(part, str(folder / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, name))
    if shards:
        (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps(release_config(model), indent=2))
    TOKENIZER.save_pretrained(str(folder))
    return folder
