"""Model shapes for DeepSeek-VL (the released 1.3B and 7B) and Janus (1.3B, Pro-1B, Pro-7B),
and tiny test shapes of each.

A `ModelConfig` is plain data; `hf_config` turns it into the transformers configuration the
trainer's model is built from: `DeepseekVLConfig` (SigLIP only, the 1.3B) or
`DeepseekVLHybridConfig` (SigLIP + SAM, the 7B). The sub-configs are keyword arguments of
`SiglipVisionConfig`, `SamVisionConfig` and `LlamaConfig`, with the released models' values
(transformers' conversion of deepseek-ai/deepseek-vl-{1.3b,7b}-*: SigLIP-L/16 at 384 with
exact GELU and no pooling head, SAM ViT-B at 1024, DeepSeek-LLM as Llama, untied head,
16384 positions). Janus presets (`vision="janus"`) give a `JanusConfig`: the understanding
tower as `JanusVisionConfig` (SigLIP-L/16 at 384, a 2-layer aligner), the VQ tokenizer as
`JanusVQVAEConfig` (LlamaGen's: 16384 codes of 8 dims, downsampling 16, so 24x24 = 576 ids),
DeepSeek-LLM as Llama (untied head).

What the data side needs from a preset:
- `image_size`: the high-resolution square (SAM's 1024) of the hybrid model, or the SigLIP
  input (384) of the SigLIP-only one; `low_res_size`: the SigLIP input. The image processor
  (`images.image_processor`) makes both tensors, normalised; the model takes them as they are.
- `image_mean_colour`: the padding colour of the square the processor pads to.
- `num_image_tokens`: how many image-token positions one `<image_placeholder>` expands to.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from transformers import (
    DeepseekVLConfig,
    DeepseekVLHybridConfig,
    JanusConfig,
    JanusVisionConfig,
    JanusVQVAEConfig,
    LlamaConfig,
    PretrainedConfig,
    SamVisionConfig,
    SiglipVisionConfig,
)

from vlforge.vq import tiny_vq_fields

VISIONS = ("hybrid", "siglip", "janus")
# Normalisation of each tower, from the spec: the image processor applies it, the model takes
# normalised pixels.
SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# Padding colours, in 0..255, from the spec (round(255 * mean)).
CLIP_MEAN_COLOUR = (122, 116, 104)
SIGLIP_MEAN_COLOUR = (127, 127, 127)


@dataclass
class ModelConfig:
    """One model shape.

    `vision` is "hybrid" (SigLIP low-res + SAM high-res, split-MLP adaptor), "siglip"
    (SigLIP only, plain 2-layer GELU MLP) or "janus" (SigLIP for understanding, the `vq`
    tokenizer for generation; `siglip` then holds `JanusVisionConfig` fields). `llm` never carries `vocab_size` as a fixed truth:
    `build_model` takes the vocabulary size from the tokenizer; `vocab_size` here is the
    nominal size used for parameter counts and FLOP estimates.
    """

    name: str
    vision: str
    siglip: dict[str, Any]
    llm: dict[str, Any]
    sam: dict[str, Any] | None = None
    vq: dict[str, Any] | None = None  # Janus: JanusVQVAEConfig fields
    image_size: int = 384
    low_res_size: int = 384
    num_image_tokens: int = 576
    image_mean_colour: tuple[int, int, int] = SIGLIP_MEAN_COLOUR
    max_seq_len: int = 4096
    vocab_size: int = 102400

    def __post_init__(self) -> None:
        self.image_mean_colour = tuple(self.image_mean_colour)
        self.validate()

    @property
    def llm_width(self) -> int:
        return int(self.llm["hidden_size"])

    @property
    def vision_width(self) -> int:
        return int(self.siglip["hidden_size"])

    @property
    def low_res_grid(self) -> int:
        """SigLIP's patch grid side: 384 / 16 = 24 -> 576 tokens."""
        return self.low_res_size // int(self.siglip["patch_size"])

    def validate(self) -> None:
        if self.vision not in VISIONS:
            raise ValueError(f"vision must be one of {VISIONS}, got {self.vision!r}")
        if self.siglip.get("image_size", self.low_res_size) != self.low_res_size:
            raise ValueError("siglip['image_size'] must equal low_res_size")
        if self.low_res_grid**2 != self.num_image_tokens:
            raise ValueError(
                f"num_image_tokens={self.num_image_tokens} but SigLIP gives "
                f"{self.low_res_grid}x{self.low_res_grid} patches"
            )
        if self.vision == "hybrid":
            self._validate_hybrid()
        elif self.image_size != self.low_res_size:
            raise ValueError("a SigLIP-only or Janus model takes image_size == low_res_size")
        if self.vision == "janus":
            self._validate_janus()

    def _validate_hybrid(self) -> None:
        if self.sam is None:
            raise ValueError("a hybrid model needs a 'sam' sub-config")
        if self.sam.get("image_size", self.image_size) != self.image_size:
            raise ValueError("sam['image_size'] must equal image_size")
        if self.llm_width % 2:
            raise ValueError("the hybrid split MLP needs an even LLM width")

    def _validate_janus(self) -> None:
        if self.vq is None:
            raise ValueError("a Janus model needs a 'vq' sub-config")
        # transformers sets the VQ grid to SigLIP's (JanusConfig.num_patches): one generation
        # image is as many ids as one understanding image has tokens.
        downsample = 2 ** (len(self.vq["channel_multiplier"]) - 1)
        if downsample * self.low_res_grid != self.image_size:
            raise ValueError(f"the VQ model downsamples by {downsample}: a {self.image_size} px image gives "
                             f"{self.image_size // downsample} ids a side, SigLIP {self.low_res_grid}")

    @property
    def is_janus(self) -> bool:
        return self.vision == "janus"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: copy.deepcopy(v) for k, v in data.items() if k in known})

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(copy.deepcopy(self), **changes)


def _siglip_large_384() -> dict[str, Any]:
    # timm vit_large_patch16_siglip_384, as the release runs it: exact GELU (transformers'
    # SigLIP default is the tanh approximation). vision_use_head=False: DeepSeek-VL takes all
    # 576 tokens, and an unused pooling head would sit in an FSDP unit with no gradient.
    return dict(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
        num_attention_heads=16, image_size=384, patch_size=16, layer_norm_eps=1e-6,
        hidden_act="gelu", vision_use_head=False,
    )


def _sam_base_1024() -> dict[str, Any]:
    # SAM ViT-B image encoder (timm samvit_base_patch16 / HF facebook/sam-vit-base).
    return dict(
        hidden_size=768, output_channels=256, num_hidden_layers=12, num_attention_heads=12,
        image_size=1024, patch_size=16, window_size=14, global_attn_indexes=[2, 5, 8, 11],
        mlp_dim=3072, layer_norm_eps=1e-6, hidden_act="gelu",
    )


def _rope(theta: float) -> dict[str, Any]:
    # transformers 5 keeps RoPE settings in `rope_parameters` (rope_theta is no attribute).
    return {"rope_type": "default", "rope_theta": theta}


def _deepseek_llm(hidden: int, layers: int, heads: int, intermediate: int) -> dict[str, Any]:
    # DeepSeek-LLM is LLaMA-shaped: pre-norm RMSNorm, SwiGLU, RoPE, untied head.
    return dict(
        hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=16384,
        rms_norm_eps=1e-6, rope_parameters=_rope(10000.0), hidden_act="silu",
        tie_word_embeddings=False, attention_bias=False,
    )


def _tiny_siglip() -> dict[str, Any]:
    # 32 px / patch 8 -> 4x4 = 16 image tokens.
    return dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=32, patch_size=8, layer_norm_eps=1e-6, hidden_act="gelu", vision_use_head=False,
    )


def _tiny_sam() -> dict[str, Any]:
    # 64 px / patch 8 -> 8x8 grid; blocks 0 and 2 windowed (4), block 1 global, so the
    # second SAM branch (from the first global block) differs from the main output.
    return dict(
        hidden_size=32, output_channels=16, num_hidden_layers=3, num_attention_heads=2,
        image_size=64, patch_size=8, window_size=4, global_attn_indexes=[1], mlp_dim=64,
        layer_norm_eps=1e-6, hidden_act="gelu",
    )


def _tiny_llm() -> dict[str, Any]:
    return dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=1024, rms_norm_eps=1e-6,
        rope_parameters=_rope(10000.0), hidden_act="silu", tie_word_embeddings=False,
        attention_bias=False,
    )


def _janus_siglip(projection_dim: int) -> dict[str, Any]:
    # JanusVisionConfig: SigLIP-L/16 at 384 (exact GELU, no pooling head), then the
    # understanding aligner (depth 2) to the LLM width.
    return dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, image_size=384,
                patch_size=16, mlp_ratio=4.0, layer_norm_eps=1e-6, hidden_act="gelu",
                projection_dim=projection_dim, depth=2, num_image_tokens=576)


def _janus_vq(llm_width: int) -> dict[str, Any]:
    # LlamaGen's VQ-16 (transformers' JanusVQVAEConfig defaults): 16384 codes of 8 dims,
    # downsampling 16; the generation aligner (2 layers) and head work at the LLM width.
    return dict(embed_dim=8, num_embeddings=16384, base_channels=128, channel_multiplier=[1, 1, 2, 2, 4],
                num_res_blocks=2, latent_channels=256, projection_dim=llm_width,
                image_token_embed_dim=llm_width, num_hidden_layers=2, hidden_act="gelu")


def _tiny_janus_siglip() -> dict[str, Any]:
    # The real 384 px / patch 16 grid (576 tokens), toy widths.
    return dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=384, patch_size=16,
                mlp_ratio=2.0, layer_norm_eps=1e-6, hidden_act="gelu", projection_dim=64, depth=2,
                num_image_tokens=576)


def _janus_presets() -> list[ModelConfig]:
    # LLM shapes: Janus 1.3B and Janus-Pro-1B run the same DeepSeek-LLM (the Janus paper calls
    # it 1.3B, the Janus-Pro paper 1.5B): 2048 wide, 24 layers, 16 heads, intermediate 5632,
    # 16384 positions, as transformers' DeepSeek-VL converter builds deepseek-vl-1.3b's LLM
    # (models/deepseek_vl/convert_deepseek_vl_weights_to_hf.py, which loads the released
    # weights strictly); the Janus release config.json files were not at hand to read.
    # Janus-Pro-7B: DeepSeek-LLM-7B (4096, 30 layers, 32 heads, 11008).
    shapes = {"janus-1.3b": (2048, 24, 16, 5632), "janus-pro-1b": (2048, 24, 16, 5632),
              "janus-pro-7b": (4096, 30, 32, 11008)}
    presets = [ModelConfig(name=name, vision="janus", siglip=_janus_siglip(width),
                           llm=_deepseek_llm(width, layers, heads, inter), vq=_janus_vq(width))
               for name, (width, layers, heads, inter) in shapes.items()]
    presets.append(ModelConfig(name="tiny-janus", vision="janus", siglip=_tiny_janus_siglip(), llm=_tiny_llm(),
                               vq=tiny_vq_fields(), max_seq_len=1024, vocab_size=512))
    return presets


def _build_presets() -> dict[str, ModelConfig]:
    presets = [
        ModelConfig(
            name="tiny", vision="hybrid", siglip=_tiny_siglip(), sam=_tiny_sam(),
            llm=_tiny_llm(), image_size=64, low_res_size=32, num_image_tokens=16,
            image_mean_colour=CLIP_MEAN_COLOUR,
            max_seq_len=512, vocab_size=512,
        ),
        ModelConfig(
            name="tiny-siglip", vision="siglip", siglip=_tiny_siglip(), llm=_tiny_llm(),
            image_size=32, low_res_size=32, num_image_tokens=16,
            image_mean_colour=SIGLIP_MEAN_COLOUR, max_seq_len=512, vocab_size=512,
        ),
        ModelConfig(
            # DeepSeek-LLM-1.3B: FFN 5632 (the width transformers' DeepSeek-VL converter builds
            # and loads the released deepseek-vl-1.3b weights into strictly), not 5504.
            name="deepseek-vl-1.3b", vision="siglip", siglip=_siglip_large_384(),
            llm=_deepseek_llm(2048, 24, 16, 5632), image_size=384, low_res_size=384,
            image_mean_colour=SIGLIP_MEAN_COLOUR,
        ),
        ModelConfig(
            name="deepseek-vl-7b", vision="hybrid", siglip=_siglip_large_384(),
            sam=_sam_base_1024(), llm=_deepseek_llm(4096, 30, 32, 11008), image_size=1024,
            low_res_size=384, image_mean_colour=CLIP_MEAN_COLOUR,
        ),
    ]
    return {p.name: p for p in presets + _janus_presets()}


PRESETS: dict[str, ModelConfig] = _build_presets()


def get_preset(name: str) -> ModelConfig:
    """A fresh copy of a named preset (callers may mutate it)."""
    if name not in PRESETS:
        raise KeyError(f"unknown model preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


def resolve_config(preset: str | ModelConfig) -> ModelConfig:
    return get_preset(preset) if isinstance(preset, str) else copy.deepcopy(preset)


def hf_config(cfg: str | ModelConfig, vocab_size: int, image_token_id: int) -> PretrainedConfig:
    """The transformers configuration of a preset: DeepseekVLConfig for SigLIP-only shapes,
    DeepseekVLHybridConfig for SigLIP + SAM, JanusConfig for Janus; the vocabulary is the
    tokenizer's."""
    cfg = resolve_config(cfg)
    if not 0 <= image_token_id < vocab_size:
        raise ValueError(f"image_token_id {image_token_id} outside a vocabulary of {vocab_size}")
    text = LlamaConfig(**cfg.llm, vocab_size=vocab_size)
    if cfg.is_janus:
        return JanusConfig(text_config=text, vision_config=JanusVisionConfig(**cfg.siglip),
                           vq_config=JanusVQVAEConfig(**cfg.vq), image_token_id=image_token_id,
                           tie_word_embeddings=text.tie_word_embeddings)
    common = dict(text_config=text, vision_config=SiglipVisionConfig(**cfg.siglip),
                  image_token_id=image_token_id, tie_word_embeddings=text.tie_word_embeddings)
    if cfg.vision == "hybrid":
        return DeepseekVLHybridConfig(**common, high_res_vision_config=SamVisionConfig(**cfg.sam))
    return DeepseekVLConfig(**common)
