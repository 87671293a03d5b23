"""The processor of an export folder: transformers' DeepseekVL(Hybrid)Processor, our chat format.

`processor_for(cfg, tokenizer)` pairs the stock transformers image processor of the model
(`images.image_processor(cfg, stock=True)`) with the tokenizer and `chat_format.CHAT_TEMPLATE`;
`save_processor(out_dir, cfg, tokenizer)` writes it beside the model (processor_config.json,
preprocessor_config.json, tokenizer.json, tokenizer_config.json, chat_template.jinja), so that
`AutoProcessor.from_pretrained(out_dir)` works offline with no code of ours and its
`apply_chat_template` renders `chat_format.render_conversation`'s string.
"""

from __future__ import annotations

import os
from pathlib import Path

from transformers import DeepseekVLHybridProcessor, DeepseekVLProcessor

from vlforge.errors import VlforgeError
from vlforge.trainer.chat_format import CHAT_TEMPLATE
from vlforge.trainer.images import image_processor, image_sizes


def num_image_tokens(cfg) -> int:
    """Image-token positions per image: a preset's `num_image_tokens`, or SigLIP's patch grid."""
    if hasattr(cfg, "num_image_tokens"):
        return int(cfg.num_image_tokens)
    grid = int(cfg.vision_config.image_size) // int(cfg.vision_config.patch_size)
    return grid * grid


def processor_for(cfg, tokenizer) -> DeepseekVLProcessor | DeepseekVLHybridProcessor:
    """The transformers processor of the model: stock image processor, tokenizer, chat template."""
    if getattr(tokenizer, "image_token", None) is None:
        raise VlforgeError("the tokenizer names no image_token; load it with trainer.tokenizer.load_tokenizer")
    cls = DeepseekVLHybridProcessor if image_sizes(cfg).hybrid else DeepseekVLProcessor
    return cls(image_processor=image_processor(cfg, stock=True), tokenizer=tokenizer,
               chat_template=CHAT_TEMPLATE, num_image_tokens=num_image_tokens(cfg))


def save_processor(out_dir: str | os.PathLike, cfg, tokenizer) -> Path:
    """Writes everything an export folder needs besides the model; returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    processor_for(cfg, tokenizer).save_pretrained(str(out))
    return out
