"""The Janus release layout (deepseek-ai/Janus-1.3B, Janus-Pro-1B/7B) -> transformers' Janus.

`convert.convert_release` (`vlforge convert-checkpoint`) sends a release folder here when its
config has `gen_vision_config`; the tensor names are listed in `convert`'s notes. Every
parameter of `JanusForConditionalGeneration` must come from a release tensor, and every
release tensor must have a place (or be a known unused one: SigLIP's pooling head, the VQ's
codebook usage counter, rotary caches), else WeightsError naming it.

Shapes come from the tensors (the released code builds its VQ model with no arguments, so
the config holds no VQ shape); only SigLIP's head count, which no shape shows, comes from the
tower's model name, as for DeepSeek-VL.
"""

from __future__ import annotations

import re
from pathlib import Path

from vlforge.trainer import weights
from vlforge.trainer.convert import (
    SIGLIP_1_3B,
    _check_aligner,
    _check_empty_target,
    _llama_config,
    _release_tokenizer,
    _shape,
    _siglip_config,
    image_token_id,
    save_complete,
)
from vlforge.trainer.weights import StateDict, WeightsError

VQ = "gen_vision_model."
JANUS_IMAGE_TOKEN_ID = 100581  # <image_placeholder> in the Janus tokenizer (JanusConfig's default)

_JANUS_RENAMES = [
    (r"^aligner\.layers\.0\.", "model.aligner.fc1."),  # Linear, GELU, Linear
    (r"^aligner\.layers\.2\.", "model.aligner.hidden_layers.0."),
    (r"^gen_aligner\.layers\.0\.", "model.generation_aligner.fc1."),
    (r"^gen_aligner\.layers\.2\.", "model.generation_aligner.hidden_layers.0."),
    (r"^gen_head\.output_mlp_projector\.", "model.generation_head.proj_out."),
    (r"^gen_head\.vision_head\.", "model.generation_head.vision_head."),
    (r"^gen_embed\.weight$", "model.generation_embeddings.weight"),
    (r"^language_model\.model\.", weights.LLM_PREFIX),
    (r"^language_model\.lm_head\.", "lm_head."),
]
# LlamaGen's VQModel names (after `gen_vision_model.`) -> JanusVQVAE's.
_VQ_RENAMES = [
    (r"^encoder\.conv_blocks\.(\d+)\.res\.", r"encoder.down.\1.block."),
    (r"^encoder\.conv_blocks\.(\d+)\.(attn|downsample)\.", r"encoder.down.\1.\2."),
    (r"^decoder\.conv_blocks\.(\d+)\.res\.", r"decoder.up.\1.block."),
    (r"^decoder\.conv_blocks\.(\d+)\.(attn|upsample)\.", r"decoder.up.\1.\2."),
    (r"^(encoder|decoder)\.mid\.0\.", r"\1.mid.block_1."),
    (r"^(encoder|decoder)\.mid\.1\.", r"\1.mid.attn_1."),
    (r"^(encoder|decoder)\.mid\.2\.", r"\1.mid.block_2."),
    (r"^((?:encoder|decoder)\.(?:conv_in|norm_out|conv_out)|quantize\.embedding|quant_conv|post_quant_conv)\.",
     r"\1."),
]
_UNUSED = re.compile(r"^gen_vision_model\.quantize\.codebook_used$|\.rotary_emb\.inv_freq$")


def is_janus_release(folder: str | Path) -> bool:
    """A deepseek-ai Janus release folder: the multi_modality config with a generation VQ."""
    file = Path(folder) / "config.json"
    return file.is_file() and "gen_vision_config" in weights.read_json(file)


# --- config ---------------------------------------------------------------------------------


def janus_release_config(folder: str | Path, tokenizer: str | Path | None = None):
    """The JanusConfig of a release folder; the image token id from `tokenizer`'s folder, else
    the release folder's tokenizer, else Janus's."""
    from transformers import JanusConfig, JanusVisionConfig, JanusVQVAEConfig, LlamaConfig

    folder = Path(folder)
    raw = weights.read_json(folder / "config.json")
    shapes = weights.tensor_shapes(folder)
    if raw["vision_config"].get("cls") != "CLIPVisionTower":
        raise WeightsError(f"{folder}: Janus vision_config.cls {raw['vision_config'].get('cls')!r}; "
                           "the released models (and transformers' class) use CLIPVisionTower (SigLIP)")
    for name in ("aligner_config", "gen_aligner_config"):
        _check_aligner(raw[name], "mlp_gelu", f"{folder} ({name})")
    text = _llama_config(raw["language_config"])
    siglip = _siglip_config(raw["vision_config"].get("params", {}), shapes, SIGLIP_1_3B, folder)
    vision = JanusVisionConfig(
        hidden_size=siglip["hidden_size"], num_hidden_layers=siglip["num_hidden_layers"],
        num_attention_heads=siglip["num_attention_heads"], image_size=siglip["image_size"],
        patch_size=siglip["patch_size"], mlp_ratio=siglip["intermediate_size"] / siglip["hidden_size"],
        hidden_act="gelu", layer_norm_eps=1e-6, depth=2,
        projection_dim=_shape(shapes, "aligner.layers.0.weight", folder)[0],
        num_image_tokens=(siglip["image_size"] // siglip["patch_size"]) ** 2)
    return JanusConfig(text_config=LlamaConfig(**text), vision_config=vision,
                       vq_config=JanusVQVAEConfig(**_vq_fields(shapes, folder)),
                       image_token_id=image_token_id(Path(tokenizer or folder), text["vocab_size"],
                                                     JANUS_IMAGE_TOKEN_ID),
                       tie_word_embeddings=text["tie_word_embeddings"])


def _vq_fields(shapes, folder) -> dict:
    """JanusVQVAEConfig fields read from the VQ, generation aligner and image head tensors."""
    num_embeddings, embed_dim = _shape(shapes, VQ + "quantize.embedding.weight", folder)
    base = _shape(shapes, VQ + "encoder.conv_in.weight", folder)[0]
    levels = sorted({int(m.group(1)) for k in shapes if (m := re.match(re.escape(VQ) + r"encoder\.conv_blocks\.(\d+)\.", k))})
    blocks = {int(m.group(1)) for k in shapes if (m := re.match(re.escape(VQ) + r"encoder\.conv_blocks\.0\.res\.(\d+)\.", k))}
    if not levels or levels != list(range(len(levels))) or not blocks:
        raise WeightsError(f"{folder}: {VQ}encoder.conv_blocks.* is not a LlamaGen VQ encoder")
    multiplier = [_shape(shapes, f"{VQ}encoder.conv_blocks.{i}.res.0.conv1.weight", folder)[0] // base for i in levels]
    projection, _ = _shape(shapes, "gen_aligner.layers.0.weight", folder)
    head_mid, llm_width = _shape(shapes, "gen_head.output_mlp_projector.weight", folder)
    if head_mid != projection:
        # transformers' JanusVQVAEConfig has one `projection_dim` for both (the releases agree)
        raise WeightsError(f"{folder}: gen_aligner width {projection} differs from gen_head's "
                           f"image_token_embed {head_mid}; transformers' Janus needs them equal")
    return {"embed_dim": embed_dim, "num_embeddings": num_embeddings, "base_channels": base,
            "channel_multiplier": multiplier, "num_res_blocks": max(blocks) + 1,
            "latent_channels": _shape(shapes, VQ + "quant_conv.weight", folder)[1],
            "projection_dim": projection, "image_token_embed_dim": llm_width,
            "num_hidden_layers": 2, "hidden_act": "gelu"}


# --- tensors --------------------------------------------------------------------------------


def janus_release_state(folder: str | Path) -> tuple[StateDict, list[str]]:
    """(tensors under JanusForConditionalGeneration's names, release keys not used)."""
    raw = weights.read_folder(folder)
    siglip, rest = weights.under(raw, SIGLIP_1_3B)
    mapped, dropped = weights.timm_siglip_to_hf(siglip)
    # Janus's vision tower names SigLIP's attention output projection `projection_layer`.
    out: StateDict = {weights.SIGLIP_PREFIX + k.replace(".self_attn.out_proj.", ".self_attn.projection_layer."): v
                      for k, v in mapped.items()}
    unused = [SIGLIP_1_3B + k for k in dropped]
    for key in rest:
        if _UNUSED.search(key):
            unused.append(key)
            continue
        new = _renamed(key[len(VQ):], _VQ_RENAMES, "model.vqmodel.") if key.startswith(VQ) else \
            _renamed(key, _JANUS_RENAMES, "")
        if new is None:
            raise WeightsError(f"{folder}: release tensor {key} has no place in transformers' Janus class", [key])
        out[new] = raw[key]
    return out, unused


def _renamed(key: str, rules, prefix: str) -> str | None:
    for pattern, repl in rules:
        if re.search(pattern, key):
            return prefix + re.sub(pattern, repl, key)
    return None


# --- writing --------------------------------------------------------------------------------


def convert_janus_release(src: str | Path, dst: str | Path, tokenizer: str | Path | None = None) -> Path:
    """Write a Janus release folder as a JanusForConditionalGeneration folder: config,
    safetensors, and (with a tokenizer) the JanusProcessor and generation config (CFG 5) that
    `vlforge generate` and transformers' `generate(generation_mode="image")` read."""
    from transformers import JanusForConditionalGeneration

    src, dst = Path(src), Path(dst)
    if not is_janus_release(src):
        raise WeightsError(f"{src}: not a Janus release folder (config.json without gen_vision_config)")
    _check_empty_target(dst)
    config = janus_release_config(src, tokenizer)
    tok = _janus_tokenizer(Path(tokenizer or src), config)
    state, _ = janus_release_state(src)
    save_complete(JanusForConditionalGeneration, config, state, src, dst)
    _write_janus_processor(dst, config, tok)
    return dst


def _janus_tokenizer(folder: Path, config):
    """The release tokenizer with begin/end-of-image named, checked against the model (None
    when the folder has none)."""
    from vlforge.trainer.janus_data import janus_tokenizer

    tok = _release_tokenizer(folder, config)
    if tok is None:
        return None
    tok = janus_tokenizer(tok)
    if len(tok) > config.text_config.vocab_size:
        raise WeightsError(f"{folder}: the tokenizer with begin/end-of-image has {len(tok)} tokens, more than "
                           f"the model's {config.text_config.vocab_size} embedding rows")
    return tok


def _write_janus_processor(dst: Path, config, tokenizer) -> None:
    from vlforge.trainer.janus_train import (
        generation_config,
        janus_image_processor,
        janus_processor,
    )

    vision = config.vision_config
    if tokenizer is None:
        janus_image_processor(vision.image_size).save_pretrained(str(dst))
        return
    janus_processor(tokenizer, vision.image_size, vision.num_image_tokens).save_pretrained(str(dst))
    generation_config(tokenizer).save_pretrained(str(dst))
