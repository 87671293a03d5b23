"""The DeepSeek-VL and Janus release layouts -> transformers' classes (config and weights).

The release folders (`deepseek-ai/deepseek-vl-{1.3b,7b}-{base,chat}`) hold the released code's
`MultiModalityCausalLM`: a config.json with `vision_config` (`CLIPVisionTower` for 1.3B,
`HybridVisionTower` for 7B, towers named by `model_name`), `aligner_config` (`MlpProjector`)
and `language_config` (LlamaConfig kwargs), and tensors named

    vision_model.vision_tower.*                          1.3B SigLIP (timm names)
    vision_model.vision_tower_low.vision_tower.*         7B SigLIP (timm names)
    vision_model.vision_tower_high.vision_tower.*        7B SAM-B (segment-anything names) with
                                                         downsamples.{0,1}, neck_hd.*, hd_alpha_downsamples
    vision_model.{high,low}_layer_norm.*                 7B: built but never used in forward
    aligner.layers.{0,2}.*                               1.3B mlp_gelu: Linear, GELU, Linear
    aligner.{high,low}_up_proj.*, aligner.layers.1.*     7B low_high_hybrid_split_mlp_gelu
    language_model.model.*, language_model.lm_head.*     LlamaForCausalLM

Tower sizes are not in the config: the released code looks them up by `model_name`. Here
everything a tensor shows (widths, depth, MLP size, patch, SAM's window and global-attention
blocks from its relative-position tables, SAM's head count from their width) is read from the
tensors; only SigLIP's head count, which no shape shows, comes from the name.

`convert_release(src, dst)` writes the transformers folder (`vlforge convert-checkpoint`): the
model, its config and its processor (the stock image processor, the release folder's tokenizer,
the chat template), so that `AutoModelForImageTextToText` and `AutoProcessor` load it offline;
`release_state` gives the same tensors in memory (`weights.load_full` on a release folder).

Janus and Janus-Pro (`deepseek-ai/Janus-1.3B`, `Janus-Pro-1B`, `Janus-Pro-7B`) use the same
`multi_modality` config, plus `gen_vision_config` (the VQ model, class `VQ-16`),
`gen_aligner_config` and `gen_head_config`; `convert_release` sends such a folder to
`convert_janus_release`, which writes a `JanusForConditionalGeneration` folder. Its tensors:

    vision_model.vision_tower.*        SigLIP (timm names; attn_pool unused)
    aligner.layers.{0,2}.*             understanding aligner: Linear, GELU, Linear
    gen_vision_model.*                 LlamaGen's VQModel: encoder/decoder.conv_blocks.{i}.res|attn|
                                       downsample|upsample, {encoder,decoder}.mid.{0,1,2},
                                       quantize.embedding (quantize.codebook_used: a usage counter)
    gen_aligner.layers.{0,2}.*         generation aligner
    gen_head.output_mlp_projector.*, gen_head.vision_head.*   image head
    gen_embed.weight                   the table image ids are looked up in for generation
    language_model.model.*, language_model.lm_head.*          LlamaForCausalLM

The released code builds the VQ model with no arguments (its shape is in the code, not the
config), so the VQ shape is read from the tensors, as are the tower and aligner widths.
"""

from __future__ import annotations

import re
from pathlib import Path

from vlforge.trainer import weights
from vlforge.trainer.weights import StateDict, WeightsError

SIGLIP_1_3B = "vision_model.vision_tower."
SIGLIP_7B = "vision_model.vision_tower_low.vision_tower."
SAM_7B = "vision_model.vision_tower_high.vision_tower."

# SigLIP heads by the released code's model names (its SigLIP_MODEL_CONFIG): no tensor shows them.
SIGLIP_HEADS = {"siglip_large_patch16_384": 16, "siglip_so400m_patch14_384": 16,
                "siglip_so400m_patch14_224": 16}
# The released code hard-codes the SAM map's resize to 96x96, i.e. a 24x24 SigLIP grid.
SAM_RESIZE = 96

# LlamaConfig defaults of the transformers the release was made with (4.38): the release
# configs leave most fields out (7B gives only depth, vocab and max positions).
RELEASE_LLAMA_DEFAULTS = {
    "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
    "num_attention_heads": 32, "hidden_act": "silu", "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "attention_bias": False,
    "tie_word_embeddings": False,
}
IMAGE_TOKEN = "<image_placeholder>"
DEFAULT_IMAGE_TOKEN_ID = 100015  # DeepSeek-LLM's id of IMAGE_TOKEN


# --- config ---------------------------------------------------------------------------------


def release_config(folder: str | Path, tokenizer: str | Path | None = None):
    """DeepseekVLConfig (CLIPVisionTower) or DeepseekVLHybridConfig (HybridVisionTower); the
    image token id from `tokenizer`'s folder, else the release folder's."""
    from transformers import DeepseekVLConfig, DeepseekVLHybridConfig

    folder = Path(folder)
    raw = weights.read_json(folder / "config.json")
    shapes = weights.tensor_shapes(folder)
    vision = raw["vision_config"]
    params = vision.get("params", {})
    text = _llama_config(raw["language_config"])
    common = {"text_config": text, "tie_word_embeddings": text["tie_word_embeddings"],
              "image_token_id": image_token_id(Path(tokenizer or folder), text["vocab_size"])}
    if vision.get("cls") == "CLIPVisionTower":
        _check_aligner(raw["aligner_config"], "mlp_gelu", folder)
        return DeepseekVLConfig(vision_config=_siglip_config(params, shapes, SIGLIP_1_3B, folder),
                                **common)
    if vision.get("cls") == "HybridVisionTower":
        _check_aligner(raw["aligner_config"], "low_high_hybrid_split_mlp_gelu", folder)
        siglip = _siglip_config(params["low_res_cfg"], shapes, SIGLIP_7B, folder)
        if siglip["image_size"] // siglip["patch_size"] * 4 != SAM_RESIZE:
            raise WeightsError(f"{folder}: the release resizes the SAM map to {SAM_RESIZE}x"
                               f"{SAM_RESIZE}, which fits a 24x24 SigLIP grid only; got "
                               f"{siglip['image_size'] // siglip['patch_size']}")
        sam = _sam_config(params["high_res_cfg"], shapes, SAM_7B, folder)
        return DeepseekVLHybridConfig(vision_config=siglip, high_res_vision_config=sam, **common)
    raise WeightsError(f"{folder}: vision_config.cls {vision.get('cls')!r}: expected "
                       "CLIPVisionTower (1.3B) or HybridVisionTower (7B)")


def _llama_config(language: dict) -> dict:
    text = {**RELEASE_LLAMA_DEFAULTS, **language}
    text.pop("torch_dtype", None)
    text["model_type"] = "llama"
    text.setdefault("num_key_value_heads", text["num_attention_heads"])
    return text


def _check_aligner(aligner: dict, expected: str, folder) -> None:
    params = aligner.get("params", {})
    kind, depth = params.get("projector_type"), params.get("depth", 1)
    if (kind, depth) != (expected, 2):
        raise WeightsError(f"{folder}: aligner {kind!r} of depth {depth}; transformers' class for "
                           f"this vision tower has the {expected!r} aligner of depth 2")


def _shape(shapes, key: str, folder) -> tuple[int, ...]:
    if key not in shapes:
        raise WeightsError(f"{folder}: the release tensors lack {key}", [key])
    return shapes[key]


def _depth(shapes, prefix: str) -> int:
    found = {int(m.group(1)) for k in shapes if (m := re.match(re.escape(prefix) + r"blocks\.(\d+)\.", k))}
    return max(found) + 1 if found else 0


def _siglip_config(params: dict, shapes, prefix: str, folder) -> dict:
    name = params.get("model_name", "")
    if name not in SIGLIP_HEADS or params.get("select_feature", "same") != "same":
        raise WeightsError(f"{folder}: SigLIP tower {name!r} (select_feature "
                           f"{params.get('select_feature')!r}); known: {sorted(SIGLIP_HEADS)}, 'same'")
    width, _, patch, _ = _shape(shapes, prefix + "patch_embed.proj.weight", folder)
    image_size = int(params.get("image_size", 384))
    tokens = _shape(shapes, prefix + "pos_embed", folder)[-2]
    if tokens != (image_size // patch) ** 2:
        raise WeightsError(f"{folder}: SigLIP pos_embed has {tokens} positions; image_size "
                           f"{image_size} with patch {patch} needs {(image_size // patch) ** 2}")
    return {"model_type": "siglip_vision_model", "hidden_size": width, "patch_size": patch,
            "image_size": image_size, "num_hidden_layers": _depth(shapes, prefix),
            "intermediate_size": _shape(shapes, prefix + "blocks.0.mlp.fc1.weight", folder)[0],
            "num_attention_heads": SIGLIP_HEADS[name],
            # timm's SigLIP in the released code: exact GELU, LayerNorm eps 1e-6, no pooling head
            "hidden_act": "gelu", "layer_norm_eps": 1e-6, "vision_use_head": False}


def _sam_config(params: dict, shapes, prefix: str, folder) -> dict:
    width, _, patch, _ = _shape(shapes, prefix + "patch_embed.proj.weight", folder)
    image_size = int(params.get("image_size", 1024))
    grid = image_size // patch
    depth = _depth(shapes, prefix)
    rel = [_shape(shapes, f"{prefix}blocks.{i}.attn.rel_pos_h", folder) for i in range(depth)]
    # A global-attention block's table spans the whole grid (2*grid-1 rows), a windowed one its window.
    global_blocks = [i for i, shape in enumerate(rel) if shape[0] == 2 * grid - 1]
    windows = {(shape[0] + 1) // 2 for shape in rel if shape[0] != 2 * grid - 1}
    out = _shape(shapes, prefix + "neck.0.weight", folder)[0]
    downs = [_shape(shapes, f"{prefix}downsamples.{i}.weight", folder)[0] for i in (0, 1)]
    if len(windows) != 1 or not global_blocks or downs != [2 * out, 4 * out]:
        raise WeightsError(f"{folder}: SAM tower not of the DeepSeek-VL shape (windows {windows}, "
                           f"global blocks {global_blocks}, downsample channels {downs} for "
                           f"neck {out}); transformers' class needs one window size and "
                           "downsample channels 2x and 4x the neck's")
    return {"model_type": "sam_vision_model", "hidden_size": width, "patch_size": patch,
            "image_size": image_size, "num_hidden_layers": depth, "output_channels": out,
            "num_attention_heads": width // rel[0][1], "window_size": windows.pop(),
            "global_attn_indexes": global_blocks,
            "mlp_dim": _shape(shapes, prefix + "blocks.0.mlp.lin1.weight", folder)[0],
            "hidden_act": "gelu", "layer_norm_eps": 1e-6, "use_rel_pos": True, "use_abs_pos": True}


def image_token_id(folder: Path, vocab_size: int, default: int = DEFAULT_IMAGE_TOKEN_ID) -> int:
    """The id of `<image_placeholder>` in the folder's tokenizer.json, else `default`
    (DeepSeek-LLM's in DeepSeek-VL)."""
    found = default
    if (folder / "tokenizer.json").is_file():
        added = weights.read_json(folder / "tokenizer.json").get("added_tokens", [])
        found = next((t["id"] for t in added if t.get("content") == IMAGE_TOKEN), found)
    if found >= vocab_size:
        raise WeightsError(f"{folder}: image token id {found} (from tokenizer.json, or DeepSeek-LLM's "
                           f"default) is outside the LLM's vocabulary of {vocab_size}")
    return found


# --- tensors --------------------------------------------------------------------------------

_RELEASE_RENAMES = [
    (r"^aligner\.layers\.0\.", "model.aligner.linear1."),      # 1.3B: Linear
    (r"^aligner\.layers\.2\.", "model.aligner.linear2."),      #       GELU (1), Linear (2)
    (r"^aligner\.high_up_proj\.", "model.aligner.high_res_vision_proj."),  # 7B
    (r"^aligner\.low_up_proj\.", "model.aligner.vision_proj."),
    (r"^aligner\.layers\.1\.", "model.aligner.proj."),         # 7B: GELU (0), Linear (1)
    (r"^language_model\.model\.", weights.LLM_PREFIX),
    (r"^language_model\.lm_head\.", "lm_head."),
]
# Built by the released code but never used in its forward (and rotary caches of old saves).
_RELEASE_UNUSED = re.compile(r"^vision_model\.(high|low)_layer_norm\.|\.rotary_emb\.inv_freq$")


def release_state(folder: str | Path) -> tuple[StateDict, list[str]]:
    """(tensors under transformers' names, release keys not used) of a release folder."""
    raw = weights.read_folder(folder)
    out: StateDict = {}
    unused: list[str] = []
    hybrid = any(k.startswith(SAM_7B) for k in raw)
    siglip, rest = weights.under(raw, SIGLIP_7B if hybrid else SIGLIP_1_3B)
    mapped, dropped = weights.timm_siglip_to_hf(siglip)
    out.update(weights.add_prefix(mapped, weights.SIGLIP_PREFIX))
    unused += [(SIGLIP_7B if hybrid else SIGLIP_1_3B) + k for k in dropped]
    if hybrid:
        sam, rest = weights.under({k: raw[k] for k in rest}, SAM_7B)
        mapped, dropped = weights.timm_sam_to_hf(sam)
        out.update(weights.add_prefix(mapped, "model."))
        unused += [SAM_7B + k for k in dropped]
    for key in rest:
        if _RELEASE_UNUSED.search(key):
            unused.append(key)
            continue
        rule = next(((p, r) for p, r in _RELEASE_RENAMES if re.search(p, key)), None)
        if rule is None:
            raise WeightsError(f"{folder}: release tensor {key} has no place in transformers' "
                               "DeepSeek-VL classes", [key])
        out[re.sub(rule[0], rule[1], key)] = raw[key]
    return out, unused


# --- writing --------------------------------------------------------------------------------


def model_class(config):
    from transformers import (
        DeepseekVLForConditionalGeneration,
        DeepseekVLHybridForConditionalGeneration,
    )

    hybrid = config.model_type == "deepseek_vl_hybrid"
    return DeepseekVLHybridForConditionalGeneration if hybrid else DeepseekVLForConditionalGeneration


def convert_release(src: str | Path, dst: str | Path, tokenizer: str | Path | None = None) -> Path:
    """Write a release folder as a complete transformers folder: config, safetensors, processor.

    Every parameter of the transformers class must come from the release tensors (else
    WeightsError); the output loads with `from_pretrained` and no missing or unexpected keys.
    The processor (image processor, tokenizer, chat template: `processing.save_processor`)
    takes the tokenizer of `tokenizer`, else of the release folder; with neither, only the
    image processor is written and `AutoProcessor` cannot load the folder.
    """
    from vlforge.trainer.janus_convert import convert_janus_release, is_janus_release

    src, dst = Path(src), Path(dst)
    if is_janus_release(src):  # same multi_modality config, plus the generation parts
        return convert_janus_release(src, dst, tokenizer)
    if weights.checkpoint_layout(src) != "release":
        raise WeightsError(f"{src}: not a DeepSeek-VL release folder (see `checkpoint_layout`)")
    _check_empty_target(dst)
    config = release_config(src, tokenizer)
    tok = _release_tokenizer(Path(tokenizer or src), config)
    state, _ = release_state(src)
    save_complete(model_class(config), config, state, src, dst)
    _write_processor(dst, config, tok)
    return dst


def save_complete(cls, config, state: StateDict, src: Path, dst: Path) -> None:
    """`cls(config)` with every parameter from `state` (else WeightsError), saved to `dst`."""
    import torch

    config.dtype = next(iter(state.values())).dtype
    with torch.device("meta"):
        model = cls(config)
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if config.tie_word_embeddings and "lm_head.weight" in own:  # a tied head is the input embedding
        state.setdefault("lm_head.weight", state[weights.LLM_PREFIX + "embed_tokens.weight"])
    weights.check_complete(own, state, str(src))
    model.load_state_dict(state, strict=True, assign=True)
    dst.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(dst))


def _check_empty_target(dst: Path) -> None:
    if dst.exists() and any(dst.iterdir()):
        raise WeightsError(f"{dst}: exists and is not empty; give a new folder")


def _release_tokenizer(folder: Path, config):
    """The folder's tokenizer (None when it has none), checked against the model's vocabulary."""
    from vlforge.trainer.tokenizer import load_tokenizer

    if not (folder / "tokenizer.json").is_file():
        return None
    tok = load_tokenizer(folder)
    vocab = config.text_config.vocab_size
    if len(tok) > vocab or tok.image_token_id != config.image_token_id:
        raise WeightsError(f"{folder}: the tokenizer ({len(tok)} tokens, image token {tok.image_token_id}) "
                           f"does not fit the model ({vocab} embedding rows, image token "
                           f"{config.image_token_id})")
    return tok


def _write_processor(dst: Path, config, tokenizer) -> None:
    # The tokenizer is written as the trainer loads it (byte-level, image token named), not
    # copied: DeepSeek's tokenizer_config names LlamaTokenizerFast, which transformers 5 reads
    # as SentencePiece and which lacks the `image_token` the DeepSeek-VL processors need.
    from vlforge.trainer.images import image_processor
    from vlforge.trainer.processing import save_processor

    if tokenizer is None:
        image_processor(config, stock=True).save_pretrained(str(dst))
    else:
        save_processor(dst, config, tokenizer)
