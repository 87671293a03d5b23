"""What a Janus training stage adds to `train`: its data, its loss, its export, its sampler.

Data per stage (understanding : text : generation by `data.janus_ratio`, else the defaults):

    I    understanding from `data.captions` as `<image><text>`; generation from
         `data.imagenet` (`<category_name><image>`, captions when none); ratio 1:0:1 (the
         stage reads no text)
    II   + text (`data.language`); understanding as "Describe the image in detail." QA;
         generation from `data.imagenet` for the first `curriculum_switch` of the steps,
         then the open-domain captions; ratio: the preset's SFT ratio (stage II's is not
         published)
    III  understanding and generation in the chat format; the published SFT ratio
         (Janus 7:3:10, Janus-Pro 5:1:4)

Export: `save_pretrained` (JanusForConditionalGeneration, `model.save_model`) plus the
processor (JanusImageProcessor set up as the released one, the tokenizer with its image
tokens) and a generation config (bos, pad, begin-of-image ids, CFG scale 5), so that
`JanusForConditionalGeneration.from_pretrained(folder).generate(..., generation_mode="image")`
draws images with no code of ours. `sample_image` does exactly that.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import GenerationConfig, JanusImageProcessorPil, JanusProcessor

from vlforge.errors import VlforgeError
from vlforge.trainer.data import ShardSource, index_shards
from vlforge.trainer.images import image_processor
from vlforge.trainer.janus_chat import JANUS_CHAT_TEMPLATE
from vlforge.trainer.janus_data import BOI_TOKEN, CaptionSource, JanusEncoder, generation_prompt
from vlforge.trainer.janus_mixing import JanusBatches
from vlforge.trainer.presets import SIGLIP_MEAN, SIGLIP_STD

# Published SFT ratios, understanding : text : generation (spec, "Training stages").
JANUS_SFT_RATIOS = {"janus-1.3b": (7.0, 3.0, 10.0), "janus-pro-1b": (5.0, 1.0, 4.0),
                    "janus-pro-7b": (5.0, 1.0, 4.0), "tiny-janus": (7.0, 3.0, 10.0)}
STAGE1_RATIO = (1.0, 0.0, 1.0)
CFG_SCALE = 5.0


def janus_ratio(config, preset: str) -> tuple[float, float, float]:
    if config.data.janus_ratio is not None:
        return config.data.janus_ratio
    return STAGE1_RATIO if config.stage == 1 else JANUS_SFT_RATIOS.get(preset, JANUS_SFT_RATIOS["janus-1.3b"])


def switch_step(config) -> int:
    """The optimizer step from which generation reads captions instead of ImageNet (stage II)."""
    return round(config.data.curriculum_switch * config.plan.steps) if config.stage == 2 else 0


def janus_sources(config, encoder: JanusEncoder, ratio, *, seed: int, rank: int, world_size: int) -> dict:
    data = config.data
    common = dict(seed=seed, rank=rank, world_size=world_size)
    understanding, text, generation = (share > 0 for share in ratio)
    sources = {}
    if understanding and data.captions:
        sources["understanding"] = CaptionSource(list(data.captions), "understanding", encoder, **common)
    if text and data.language:
        sources["text"] = ShardSource(list(data.language), "language", encoder, **common)
    sources.update(conversation_sources(config, encoder, understanding=understanding, text=text, **common))
    # Stage I's generation data is ImageNet's `<category_name><image>` when class-name shards
    # are given: the captions then serve understanding only.
    if generation and data.captions and not (config.stage == 1 and data.imagenet):
        sources["generation"] = CaptionSource(list(data.captions), "generation", encoder, **common)
    if generation and data.imagenet and config.stage in (1, 2):
        sources["imagenet"] = CaptionSource(list(data.imagenet), "generation", encoder, **common)
    _check_fed(config.stage, ratio, sources)
    return sources


def conversation_sources(config, encoder: JanusEncoder, *, understanding: bool, text: bool, seed: int,
                         rank: int, world_size: int) -> dict:
    """Stages II-III: the SFT conversations of `data.sft` (`vlforge run sft` shards), those
    with images for understanding slots, those without for text slots (each when every
    rank has at least one record of it)."""
    if config.stage == 1 or not config.data.sft:
        return {}
    refs = [r for r in index_shards(list(config.data.sft)) if r.text_kind == "conversation"]
    with_image = sum(r.has_image for r in refs)
    wanted = {"conversations": ("multimodal", understanding, with_image),
              "text_conversations": ("language", text, len(refs) - with_image)}
    return {name: ShardSource(list(config.data.sft), "sft", encoder, seed=seed, rank=rank,
                              world_size=world_size, modality=modality)
            for name, (modality, share, count) in wanted.items() if share and count >= world_size}


def _check_fed(stage: int, ratio, sources: dict) -> None:
    """A clear error naming the settings when a kind with a share has no shards."""
    settings = {"understanding": ("understanding", "conversations", "data.captions" + (
                    "" if stage == 1 else " or data.sft (conversations with images)")),
                "text": ("text", "text_conversations", "data.language" + (
                    "" if stage == 1 else " or data.sft (conversations without images)")),
                "generation": ("generation", "imagenet", "data.captions or data.imagenet")}
    for share, (kind, (first, second, names)) in zip(ratio, settings.items(), strict=True):
        if share > 0 and first not in sources and second not in sources:
            raise VlforgeError(f"the Janus ratio gives {kind} a share in stage {stage} but no shards feed it: "
                               f"set {names}")


def janus_batches(config, tokenizer, preset, env, accum: int) -> JanusBatches:
    """This rank's Janus batches for the stage."""
    data = config.data
    encoder = JanusEncoder(tokenizer, data.seq_len, preset.num_image_tokens, config.stage, seed=config.seed,
                           first_sentence_share=data.first_sentence_share, uncond_share=data.uncond_share)
    ratio = janus_ratio(config, preset.name)
    sources = janus_sources(config, encoder, ratio, seed=config.seed, rank=env.rank, world_size=env.world_size)
    return JanusBatches(sources, ratio=ratio, batch_size=config.micro_batch, pad_id=tokenizer.pad_token_id,
                        processor=image_processor(preset), switch_step=switch_step(config), seed=config.seed,
                        batches_per_step=accum, image_workers=data.image_workers)


def janus_loss(model, inputs: dict, batch: dict, device: torch.device) -> torch.Tensor:
    """The summed loss of one batch (text and image targets), through the model's forward."""
    out = model(**inputs, image_ids=batch["image_ids"].to(device), labels=batch["labels"].to(device))
    return out.total


# --- export ----------------------------------------------------------------------------------


def janus_image_processor(image_size: int = 384) -> JanusImageProcessorPil:
    """transformers' Janus image processor set up as the released one: long side to the size,
    padded with (127, 127, 127), normalised with mean = std = 0.5."""
    return JanusImageProcessorPil(size={"height": image_size, "width": image_size}, min_size=14,
                                  image_mean=list(SIGLIP_MEAN), image_std=list(SIGLIP_STD))


def janus_processor(tokenizer, image_size: int = 384, num_image_tokens: int = 576) -> JanusProcessor:
    """transformers' JanusProcessor: the released image processor, the Janus tokenizer and the
    chat template training used (`janus_chat`); the template writes the system prompt itself,
    so the processor adds none (`use_default_system_prompt` off)."""
    return JanusProcessor(image_processor=janus_image_processor(image_size), tokenizer=tokenizer,
                          num_image_tokens=num_image_tokens, chat_template=JANUS_CHAT_TEMPLATE,
                          use_default_system_prompt=False)


def generation_config(tokenizer) -> GenerationConfig:
    return GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id, guidance_scale=CFG_SCALE, do_sample=True,
                            generation_kwargs={"boi_token_id": tokenizer.convert_tokens_to_ids(BOI_TOKEN)})


def save_janus_extras(out_dir: str | Path, preset, tokenizer) -> None:
    """Processor, tokenizer and generation config beside an exported Janus model."""
    out = Path(out_dir)
    janus_processor(tokenizer, preset.image_size, preset.num_image_tokens).save_pretrained(str(out))
    generation_config(tokenizer).save_pretrained(str(out))


def load_janus_export(path: str | Path, dtype: torch.dtype = torch.float32):
    """A Janus folder through JanusForConditionalGeneration.from_pretrained, as any user loads
    it; a missing or left-over weight is an error, never a random or dropped one."""
    from transformers import JanusForConditionalGeneration

    if not (Path(path) / "config.json").is_file():
        raise VlforgeError(f"{path}: no config.json (give a Janus run's export folder)")
    model, info = JanusForConditionalGeneration.from_pretrained(str(path), dtype=dtype, output_loading_info=True)
    problems = {k: sorted(v) for k, v in info.items() if k != "error_msgs" and v}
    if problems or info.get("error_msgs"):
        raise VlforgeError(f"{path}: the weights do not match a Janus model ({problems or info['error_msgs']})")
    return model.eval()


# --- sampling --------------------------------------------------------------------------------


def generation_prompt_ids(tokenizer, prompt: str, chat: bool = True) -> torch.Tensor:
    """[1, T]: bos, the prompt (chat format by default, as stage III trains it), begin-of-image."""
    words = generation_prompt(tokenizer, prompt, chat)
    ids = [tokenizer.bos_token_id, *words, tokenizer.convert_tokens_to_ids(BOI_TOKEN)]
    return torch.tensor([ids])


@torch.no_grad()
def sample_ids(model, tokenizer, prompt: str, *, cfg: float = CFG_SCALE, seed: int = 0, chat: bool = True,
               temperature: float = 1.0) -> torch.Tensor:
    """[1, num_image_tokens] image ids drawn with classifier-free guidance through transformers'
    Janus `generate(generation_mode="image")` (conditional and unconditional halves)."""
    ids = generation_prompt_ids(tokenizer, prompt, chat).to(model.device)
    torch.manual_seed(seed)
    config = generation_config(tokenizer)
    config.guidance_scale, config.temperature = cfg, temperature
    config.max_new_tokens = model.config.vision_config.num_image_tokens
    return model.generate(ids, attention_mask=torch.ones_like(ids), generation_mode="image", generation_config=config)


@torch.no_grad()
def decode_image(model, image_ids: torch.Tensor) -> Image.Image:
    """The VQ decoder's picture of one row of ids, as an RGB image."""
    pixels = model.decode_image_tokens(image_ids[:1]).float()[0]  # [H, W, 3] in about [-1, 1]
    array = ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(array), "RGB")


def contact_sheet(images: list[Image.Image], columns: int = 4) -> Image.Image:
    width, height = images[0].size
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (width * min(columns, len(images)), height * rows), (255, 255, 255))
    for i, image in enumerate(images):
        sheet.paste(image, ((i % columns) * width, (i // columns) * height))
    return sheet


def render_prompts(model, tokenizer, prompts: list[str], out_path: str | Path, *, cfg: float = CFG_SCALE,
                   seed: int = 0) -> Path:
    """One sample per prompt, on one contact sheet (the trainer's evaluation at checkpoints)."""
    images = [decode_image(model, sample_ids(model, tokenizer, p, cfg=cfg, seed=seed + i))
              for i, p in enumerate(prompts)]
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(images).save(out)
    return out

