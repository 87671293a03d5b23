"""Janus chat format: SFT conversations as Janus examples (answers only supervised, images as
[boi] 576 image ids [eoi] through the SigLIP view), understanding slots drawing from captions
and conversations, and the exported processor's chat template rendering the training string."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
import torch
from conftest import png_bytes
from PIL import Image
from test_trainer_janus import write_captions
from transformers import JanusProcessor

from vlforge.schemas import Provenance, Sample, make_key
from vlforge.shards.writer import ShardWriter
from vlforge.trainer.chat_format import DEFAULT_SYSTEM_PROMPT, IGNORE_INDEX
from vlforge.trainer.data import ShardSource, SkipRecord
from vlforge.trainer.images import image_processor
from vlforge.trainer.janus_chat import BOI_TOKEN, EOI_TOKEN, render_janus
from vlforge.trainer.janus_data import CaptionSource, JanusEncoder, cut_at_image, janus_tokenizer
from vlforge.trainer.janus_mixing import JanusBatches
from vlforge.trainer.janus_train import generation_prompt_ids, save_janus_extras
from vlforge.trainer.presets import get_preset
from vlforge.trainer.tokenizer import IMAGE_TOKEN, load_tokenizer

N = 576
QUESTIONS = ("<image>\nWhat colour is the square?", "And the ground?")
ANSWERS = ("It is red.", "The ground is white.")


@pytest.fixture(scope="module")
def tok():
    return janus_tokenizer(load_tokenizer(None))


@pytest.fixture(scope="module")
def cfg():
    return get_preset("tiny-janus")


def llava_record(questions=QUESTIONS, answers=ANSWERS) -> dict:
    turns = [t for q, a in zip(questions, answers, strict=True)
             for t in ({"from": "human", "value": q}, {"from": "gpt", "value": a})]
    return {"conversations": turns}


def write_sft(directory, with_image: int, without_image: int):
    """Shards as `vlforge run sft` writes them: KEY.json conversation (text kind
    `conversation`) and the image member."""
    writer = ShardWriter(directory, directory.name, max_count=4)
    for i in range(with_image + without_image):
        image = png_bytes(seed=i) if i < with_image else None
        record = llava_record() if image else llava_record(("Say hello.",), ("Hello there.",))
        writer.write(Sample(make_key("sft", "/src/sft", i), "sft", json.dumps(record), "conversation",
                            Provenance("/src/sft"), image=image, image_format="png" if image else None,
                            image_size=(32, 24) if image else None))
    writer.close()
    return directory


def spans(labels: list[int]) -> list[list[int]]:
    """The runs of supervised positions, in order."""
    runs, current = [], []
    for label in [*labels, IGNORE_INDEX]:
        if label != IGNORE_INDEX:
            current.append(label)
        elif current:
            runs, current = [*runs, current], []
    return runs


def test_conversation_supervises_exactly_the_assistant_answers(tok):
    encoder = JanusEncoder(tok, 2048, N, stage=3)
    [example] = encoder.conversation("k", llava_record(), [png_bytes()])
    assert example.modality == "multimodal" and len(example.images) == 1
    assert [tok.decode(run) for run in spans(example.labels)] == [f" {a}{tok.eos_token}" for a in ANSWERS]
    boi, eoi = tok.convert_tokens_to_ids(BOI_TOKEN), tok.convert_tokens_to_ids(EOI_TOKEN)
    start = example.input_ids.index(boi)
    assert example.input_ids[start + 1:start + 1 + N] == [tok.image_token_id] * N
    assert example.input_ids[start + 1 + N] == eoi and example.input_ids.count(tok.image_token_id) == N
    # The whole sequence reads as the released format, the image as its placeholder.
    text = tok.decode([i for i in example.input_ids if i not in (tok.image_token_id, eoi)])
    text = text.replace(BOI_TOKEN, IMAGE_TOKEN)
    assert text == tok.bos_token + (f"{DEFAULT_SYSTEM_PROMPT}\n\n<|User|>: {IMAGE_TOKEN}\nWhat colour is the square?"
                                    f"\n\n<|Assistant|>: It is red.{tok.eos_token}<|User|>: And the ground?\n\n"
                                    f"<|Assistant|>: The ground is white.{tok.eos_token}")


def test_a_long_conversation_is_cut_before_an_image_span_never_inside_it(tok):
    record = llava_record(("<image>\nWhat is it?",), ("x" * 400,))
    [example] = JanusEncoder(tok, 900, N, stage=3).conversation("k", record, [png_bytes()])
    assert len(example) == 900 and len(example.images) == 1  # cut inside the answer, image kept
    assert example.input_ids.count(tok.image_token_id) == N
    # The cut would fall inside the image span: the record has no example, counted as such.
    with pytest.raises(SkipRecord, match="image_past_max_seq_len"):
        JanusEncoder(tok, 700, N, stage=3).conversation("k", llava_record(("Say it.", "<image>\nNow?"),
                                                                          ("Fine.", "A dot.")), [png_bytes()])
    assert cut_at_image([1, 9, 5, 5, 8, 2], boi=9, span=4, max_len=4) == 1  # would split [9 5 5 8]
    assert cut_at_image([1, 9, 5, 5, 8, 2], boi=9, span=4, max_len=5) == 5


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("janus-chat")
    return {"captions": write_captions(root / "captions", "caption", 8), "sft": write_sft(root / "sft", 8, 4)}


def test_understanding_slots_draw_from_captions_and_conversations_by_their_records(tok, cfg, shards):
    encoder = JanusEncoder(tok, 2048, N, stage=3)
    sources = {"understanding": CaptionSource([shards["captions"]], "understanding", encoder),
               "conversations": ShardSource([shards["sft"]], "sft", encoder, modality="multimodal"),
               "text_conversations": ShardSource([shards["sft"]], "sft", encoder, modality="language")}
    batches = JanusBatches(sources, ratio=(3, 1, 0), batch_size=2, pad_id=tok.pad_token_id,
                           processor=image_processor(cfg))
    drawn, kinds = Counter(), Counter()
    for step in range(200):
        batch_kinds, names = batches.slots_at(step)
        drawn.update(names)
        kinds.update(batch_kinds)
    assert set(drawn) == {"understanding", "conversations", "text_conversations"}
    assert abs(drawn["understanding"] / kinds["understanding"] - 0.5) < 0.08  # 8 caption : 8 conversation records
    batch = next(batches)
    for row, name in enumerate(batches.slots_at(0)[1]):
        labels = batch["labels"][row]
        answer = tok.decode(labels[labels != IGNORE_INDEX])
        expected = {"understanding": " A red square", "conversations": " It is red.",
                    "text_conversations": " Hello there."}[name]
        assert answer.startswith(expected), (name, answer)


@pytest.fixture(scope="module")
def processor(tok, cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("janus-export")
    save_janus_extras(out, cfg, tok)
    return JanusProcessor.from_pretrained(str(out))


def test_exported_template_renders_and_tokenises_as_training(tok, processor):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "\nWhat colour is the square?"}]},
                {"role": "assistant", "content": [{"type": "text", "text": ANSWERS[0]}]},
                {"role": "user", "content": [{"type": "text", "text": QUESTIONS[1]}]},
                {"role": "assistant", "content": [{"type": "text", "text": ANSWERS[1]}]}]
    rendered = processor.apply_chat_template(messages, tokenize=False)
    turns = [("user", QUESTIONS[0].replace("<image>", IMAGE_TOKEN)), ("assistant", ANSWERS[0]),
             ("user", QUESTIONS[1]), ("assistant", ANSWERS[1])]
    assert rendered == render_janus(turns)
    [example] = JanusEncoder(tok, 2048, N, stage=3).conversation("k", llava_record(), [png_bytes()])
    inputs = processor(text=rendered, images=[Image.open(io.BytesIO(png_bytes()))])
    assert inputs["input_ids"][0].tolist() == example.input_ids
    assert inputs["pixel_values"].shape == (1, 3, 384, 384)


def test_exported_template_gives_the_generation_prompt_training_and_sampling_use(tok, processor):
    messages = [{"role": "system", "content": ""}, {"role": "user", "content": "a red square"}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt == "<|User|>: a red square\n\n<|Assistant|>:"
    ids = processor(text=prompt, generation_mode="image")["input_ids"]
    assert torch.equal(ids, generation_prompt_ids(tok, "a red square"))
