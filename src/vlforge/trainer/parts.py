"""Separate SigLIP, SAM and LLM checkpoints of a preset's shape, for a stage 1 from parts.

    python -m vlforge.trainer.parts --preset tiny --output DIR [--seed 0]

writes DIR/siglip (SiglipVisionModel), DIR/sam (SamVisionModel, hybrid presets only) and
DIR/llm (LlamaForCausalLM with the trainer's tokenizer beside it), each a transformers
folder of randomly initialised weights. They stand in for the released SigLIP-L, SAM-B and
DeepSeek-LLM checkpoints where those are not at hand (the demo, tests): a stage-1 run given
`model.siglip/sam/llm` loads them through `weights.load_parts` exactly as it would the real ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    SamVisionConfig,
    SamVisionModel,
    SiglipVisionConfig,
    SiglipVisionModel,
)

from vlforge.trainer.presets import resolve_config
from vlforge.trainer.tokenizer import load_tokenizer


def write_parts(preset: str, out_dir: str | Path, seed: int = 0, tokenizer_path: str | None = None) -> dict[str, Path]:
    """{part: folder} of the preset's SigLIP, SAM (hybrid only) and LLM; the LLM's vocabulary
    is the tokenizer's (the byte tokenizer when none is given), saved in the LLM folder."""
    cfg = resolve_config(preset)
    out = Path(out_dir)
    tokenizer = load_tokenizer(tokenizer_path)
    torch.manual_seed(seed)
    models = {"siglip": SiglipVisionModel(SiglipVisionConfig(**cfg.siglip)),
              "llm": LlamaForCausalLM(LlamaConfig(**cfg.llm, vocab_size=len(tokenizer)))}
    if cfg.vision == "hybrid":
        models["sam"] = SamVisionModel(SamVisionConfig(**cfg.sam))
    folders = {}
    for part, model in models.items():
        folders[part] = out / part
        model.save_pretrained(folders[part])
    tokenizer.save_pretrained(folders["llm"])
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlforge.trainer.parts", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--output", required=True, help="folder for siglip/, sam/ and llm/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizer", help="tokenizer folder (default: the byte tokenizer)")
    args = parser.parse_args(argv)
    for part, folder in write_parts(args.preset, args.output, args.seed, args.tokenizer).items():
        print(f"{part}: {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
