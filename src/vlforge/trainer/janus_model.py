"""The Janus trainer's model: transformers' JanusForConditionalGeneration, trained on one loss.

transformers' forward only reads text and SigLIP images (its image generation lives in
`generate`). `JanusTrainer` is the same class (same parameters, same state-dict keys, so an
export is a plain `JanusForConditionalGeneration` folder) whose forward also takes the VQ
ids of text-to-image examples and returns the loss, so that all of a step runs inside one
module call (FSDP's hooks on the root see it).

One batch, three kinds of position (decided by the collator, `janus_mixing`):

    input_ids [B, T]   text ids; `image_token_id` runs stand for understanding images
    pixel_values [N, 3, 384, 384]  (SigLIP view) -> vision_model -> aligner -> those runs
    image_ids [B, T]   the VQ id at every generation-image position, -100 elsewhere
                       -> generation_embeddings (the VQ codebook's vectors) -> generation_aligner
    labels [B, T]      text targets, -100 elsewhere

    embeddings -> Llama decoder -> hidden [B, T, D]
    position t predicts position t+1: through lm_head where labels[t+1] != -100, through
    generation_head where image_ids[t+1] != -100 (so the prompt's last token, the
    begin-of-image tag, predicts the first id; the last id predicts nothing).
    loss = (sum of text CE + sum of image CE) / (text targets + image targets)

Parameter groups and what each Janus stage trains (spec, "Training stages"):

    siglip       model.vision_model                         I no   II no   III setting
    vq           model.vqmodel, model.generation_embeddings never (the generation encoder)
    und_adaptor  model.aligner                              I yes  II yes  III yes
    gen_adaptor  model.generation_aligner                   I yes  II yes  III yes
    gen_head     model.generation_head                      I yes  II yes  III yes
    llm          model.language_model, lm_head              I no   II yes  III yes
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import JanusConfig, JanusForConditionalGeneration

IGNORE_INDEX = -100
JANUS_GROUPS = ("siglip", "vq", "und_adaptor", "gen_adaptor", "gen_head", "llm")
JANUS_STAGE_TRAINABLE: dict[int, tuple[str, ...]] = {
    1: ("und_adaptor", "gen_adaptor", "gen_head"),
    2: ("und_adaptor", "gen_adaptor", "gen_head", "llm"),
    3: ("und_adaptor", "gen_adaptor", "gen_head", "llm"),  # + siglip when the setting unlocks it
}
# Modules no part checkpoint (SigLIP, VQ, LLM) holds: a stage I from parts starts them at
# their init (the two adaptors and the image head: what stage I trains).
JANUS_NEW_LAYERS = ("model.aligner.", "model.generation_aligner.", "model.generation_head.")


def is_janus(model_or_config) -> bool:
    config = getattr(model_or_config, "config", model_or_config)
    return isinstance(config, JanusConfig)


@dataclass
class JanusLoss:
    """Summed cross-entropies and their target counts (the caller normalises)."""

    text_sum: torch.Tensor
    text_count: torch.Tensor
    image_sum: torch.Tensor
    image_count: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.text_sum + self.image_sum

    @property
    def count(self) -> torch.Tensor:
        return self.text_count + self.image_count


class JanusTrainer(JanusForConditionalGeneration):
    """JanusForConditionalGeneration whose forward with `image_ids` computes the training loss.

    Without `image_ids` it is transformers' forward (logits), so evaluation and `generate`
    work unchanged; it saves as a plain JanusForConditionalGeneration (`save_model`).
    """

    def forward(self, input_ids=None, image_ids=None, labels=None, pixel_values=None, **kwargs):
        if image_ids is None:
            return super().forward(input_ids=input_ids, pixel_values=pixel_values, labels=labels, **kwargs)
        return self.training_loss(input_ids, image_ids, labels, pixel_values, **kwargs)

    def input_embeddings(self, input_ids: torch.Tensor, image_ids: torch.Tensor,
                         pixel_values: torch.Tensor | None) -> torch.Tensor:
        """Text embeddings with understanding features and generation embeddings put in."""
        inner = self.model
        is_generation = image_ids != IGNORE_INDEX
        # Generation positions hold any text id in input_ids; their embedding is replaced.
        embeds = inner.get_input_embeddings()(input_ids.masked_fill(is_generation, 0))
        if pixel_values is not None:
            features = inner.get_image_features(pixel_values).pooler_output.reshape(-1, embeds.shape[-1])
            mask = (input_ids == self.config.image_token_id).unsqueeze(-1)
            if int(mask.sum()) != features.numel() // embeds.shape[-1]:
                raise ValueError(f"{int(mask.sum())} image-token positions for {features.shape[0]} image features")
            embeds = embeds.masked_scatter(mask, features.to(embeds.dtype))
        if bool(is_generation.any()):
            generated = self.prepare_embeddings_for_image_generation(image_ids[is_generation])
            embeds = embeds.masked_scatter(is_generation.unsqueeze(-1), generated.to(embeds.dtype))
        return embeds

    def training_loss(self, input_ids, image_ids, labels, pixel_values=None, attention_mask=None,
                      position_ids=None, **_ignored) -> JanusLoss:
        embeds = self.input_embeddings(input_ids, image_ids, pixel_values)
        hidden = self.model.language_model(inputs_embeds=embeds, attention_mask=attention_mask,
                                           position_ids=position_ids, use_cache=False).last_hidden_state
        before = hidden[:, :-1]
        text_sum, text_count = _head_loss(self.lm_head, before, labels[:, 1:])
        image_sum, image_count = _head_loss(self.model.generation_head, before, image_ids[:, 1:])
        return JanusLoss(text_sum, text_count, image_sum, image_count)


def _head_loss(head: nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed CE, count) of the head over the positions whose next target is set; the head
    runs on those positions only (the text head's 102400 columns never meet image positions).
    The head is always called, on zero rows when there is nothing to predict, so every rank
    makes the same module calls."""
    mask = targets != IGNORE_INDEX
    logits = head(hidden[mask]).float()
    total = F.cross_entropy(logits, targets[mask], reduction="sum") if logits.shape[0] else logits.sum()
    return total, mask.sum()


def supervised_positions(batch: dict) -> dict[str, torch.Tensor]:
    """{"text", "image"}: bool [B, T], the positions whose token is a target of each head."""
    return {"text": batch["labels"] != IGNORE_INDEX, "image": batch["image_ids"] != IGNORE_INDEX}


# --- building ------------------------------------------------------------------------------


def build_janus(config: JanusConfig) -> JanusTrainer:
    if not isinstance(config, JanusConfig):
        raise TypeError(f"a JanusConfig is needed, got {type(config).__name__}")
    return JanusTrainer(config)


# --- groups and stages -----------------------------------------------------------------------


def janus_parameter_groups(model: JanusForConditionalGeneration) -> dict[str, list[nn.Module]]:
    inner = model.model
    return {"siglip": [inner.vision_model], "vq": [inner.vqmodel, inner.generation_embeddings],
            "und_adaptor": [inner.aligner], "gen_adaptor": [inner.generation_aligner],
            "gen_head": [inner.generation_head], "llm": [inner.language_model, model.lm_head]}


def janus_stage_groups(stage: int, train_siglip: bool) -> tuple[str, ...]:
    if stage not in JANUS_STAGE_TRAINABLE:
        raise ValueError(f"stage must be one of {sorted(JANUS_STAGE_TRAINABLE)}, got {stage!r}")
    extra = ("siglip",) if stage == 3 and train_siglip else ()
    return JANUS_STAGE_TRAINABLE[stage] + extra


def janus_fsdp_units(model: JanusForConditionalGeneration) -> list[nn.Module]:
    """[SigLIP, VQ model (never called in training: its unit is never gathered), input
    embedding, each decoder layer, lm_head]; adaptors, generation embedding and head stay in
    the root."""
    inner = model.model
    units: list[nn.Module] = [inner.vision_model, inner.vqmodel, inner.language_model.embed_tokens]
    units.extend(inner.language_model.layers)
    if not model.config.tie_word_embeddings:
        units.append(model.lm_head)
    return units


def janus_image_work(model: JanusForConditionalGeneration) -> list[tuple[str, int, int]]:
    """(group, parameters, positions per understanding image) for FLOP counts."""
    inner, vision = model.model, model.config.vision_config
    grid = vision.image_size // vision.patch_size
    return [("siglip", sum(p.numel() for p in inner.vision_model.parameters()), grid**2),
            ("und_adaptor", sum(p.numel() for p in inner.aligner.parameters()), grid**2)]
