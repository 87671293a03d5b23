"""Separate SigLIP, VQ and LLM checkpoints of a Janus preset's shape, for a stage I from parts.

    python -m vlforge.trainer.janus_parts --preset tiny-janus --output DIR [--seed 0]

writes DIR/siglip (SiglipVisionModel), DIR/vq (JanusVQVAE) and DIR/llm (LlamaForCausalLM with
the Janus tokenizer beside it: the byte tokenizer plus begin/end-of-image), randomly
initialised transformers folders standing in for SigLIP-L, LlamaGen's VQ-16 and DeepSeek-LLM.
A run given `model.siglip/vq/llm` loads them through `janus_weights.load_janus_parts` as it
would the released ones. `--vq DIR` reuses a VQ folder (the one the captions job tokenized
with) instead of writing a new one: the ids in the shards only mean something to that model.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from transformers import (
    JanusVQVAE,
    LlamaConfig,
    LlamaForCausalLM,
    SiglipVisionConfig,
    SiglipVisionModel,
)

from vlforge.trainer.janus_data import janus_tokenizer
from vlforge.trainer.presets import hf_config, resolve_config
from vlforge.trainer.tokenizer import load_tokenizer
from vlforge.vq import standalone_config


def siglip_config(vision) -> SiglipVisionConfig:
    """The SigLIP checkpoint config whose tower is a JanusVisionConfig's."""
    return SiglipVisionConfig(hidden_size=vision.hidden_size, intermediate_size=int(vision.hidden_size * vision.mlp_ratio),
                              num_hidden_layers=vision.num_hidden_layers, num_attention_heads=vision.num_attention_heads,
                              image_size=vision.image_size, patch_size=vision.patch_size, hidden_act=vision.hidden_act,
                              layer_norm_eps=vision.layer_norm_eps, vision_use_head=False)


def write_janus_parts(preset: str, out_dir: str | Path, seed: int = 0, tokenizer_path: str | None = None,
                      vq: str | Path | None = None) -> dict[str, Path]:
    """{part: folder}; the LLM's vocabulary is the Janus tokenizer's, saved in the LLM folder."""
    cfg = resolve_config(preset)
    out = Path(out_dir)
    tokenizer = janus_tokenizer(load_tokenizer(tokenizer_path))
    config = hf_config(cfg, len(tokenizer), tokenizer.image_token_id)
    torch.manual_seed(seed)
    models = {"siglip": SiglipVisionModel(siglip_config(config.vision_config)),
              "llm": LlamaForCausalLM(LlamaConfig(**cfg.llm, vocab_size=len(tokenizer)))}
    if vq is None:
        models["vq"] = JanusVQVAE(standalone_config(cfg.vq))
    folders = {part: out / part for part in ("siglip", "vq", "llm")}
    for part, model in models.items():
        model.save_pretrained(folders[part])
    if vq is not None and Path(vq).resolve() != folders["vq"].resolve():
        shutil.copytree(vq, folders["vq"], dirs_exist_ok=True)
    tokenizer.save_pretrained(folders["llm"])
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlforge.trainer.janus_parts",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny-janus")
    parser.add_argument("--output", required=True, help="folder for siglip/, vq/ and llm/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizer", help="tokenizer folder (default: the byte tokenizer)")
    parser.add_argument("--vq", help="an existing JanusVQVAE folder to use as the VQ part")
    args = parser.parse_args(argv)
    for part, folder in write_janus_parts(args.preset, args.output, args.seed, args.tokenizer, args.vq).items():
        print(f"{part}: {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
