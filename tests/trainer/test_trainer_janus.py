"""Janus trainer: the generation loss, stage sets, the curriculum and caption draws, CFG
sampling, export -> from_pretrained, parts; tiny-janus (the real 576-id image grid) on CPU."""

from __future__ import annotations

import json
import random

import pytest
import torch
import torch.nn.functional as F
from conftest import png_bytes
from PIL import Image

from vlforge.cli import main as vlforge_main
from vlforge.schemas import Provenance, Sample, make_key
from vlforge.shards.writer import ShardWriter
from vlforge.trainer.chat_format import IGNORE_INDEX
from vlforge.trainer.config import build_train_config, resolve_train_options
from vlforge.trainer.images import image_processor
from vlforge.trainer.janus_data import BOI_TOKEN, CaptionSource, JanusEncoder, janus_tokenizer
from vlforge.trainer.janus_mixing import JanusBatches
from vlforge.trainer.janus_model import supervised_positions
from vlforge.trainer.janus_parts import write_janus_parts
from vlforge.trainer.janus_train import load_janus_export, save_janus_extras
from vlforge.trainer.janus_weights import load_janus_full, load_janus_parts
from vlforge.trainer.model import (
    build_model,
    group_parameter_names,
    model_inputs,
    save_model,
    set_trainable_for_stage,
)
from vlforge.trainer.presets import get_preset
from vlforge.trainer.tokenizer import load_tokenizer
from vlforge.trainer.train import train
from vlforge.trainer.weights import WeightsError

N = 576
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tok():
    return janus_tokenizer(load_tokenizer(None))


@pytest.fixture(scope="module")
def cfg():
    return get_preset("tiny-janus")


def _ids(i: int) -> list[int]:
    return random.Random(i).choices(range(1024), k=N)


def write_captions(directory, kind: str, n: int):
    """Shards in the captions corpus's layout (KEY.png, KEY.txt, metadata kind/uses/first_sentence/vq.ids)."""
    writer = ShardWriter(directory, directory.name, max_count=4)
    for i in range(n):
        text = f"A red square number {i}. It sits on a white ground." if kind == "caption" else f"class {i}"
        metadata = {"kind": kind, "uses": ["understanding", "generation"] if kind == "caption" else ["generation"],
                    "first_sentence": text.split(". ")[0] + "." if kind == "caption" else text,
                    "vq": {"ids": _ids(i), "grid": [24, 24]}}
        writer.write(Sample(make_key("captions", f"/src/{kind}", i), "captions", text, "plain",
                            Provenance(f"/src/{kind}"), image=png_bytes(40, 30, seed=i), image_format="png",
                            image_size=(40, 30), metadata=metadata))
    writer.close()
    return directory


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("janus")
    return {"captions": write_captions(root / "captions", "caption", 8),
            "imagenet": write_captions(root / "imagenet", "class_name", 8)}


@pytest.fixture(scope="module")
def model(tok, cfg):
    torch.manual_seed(0)
    return build_model(cfg, len(tok), tok.image_token_id).eval()


def _batches(tok, cfg, shards, stage=2, ratio=(0, 0, 1), **kwargs):
    encoder = JanusEncoder(tok, 1024, N, stage, **kwargs)
    sources = {"generation": CaptionSource([shards["captions"]], "generation", encoder),
               "imagenet": CaptionSource([shards["imagenet"]], "generation", encoder),
               "understanding": CaptionSource([shards["captions"]], "understanding", encoder)}
    return JanusBatches(sources, ratio=ratio, batch_size=2, pad_id=tok.pad_token_id,
                        processor=image_processor(cfg), switch_step=10)


# --- the generation loss -------------------------------------------------------------------


def test_generation_example_supervises_exactly_the_576_ids_after_begin_of_image(tok, cfg, shards):
    batch = next(_batches(tok, cfg, shards, uncond_share=0.0))
    supervised = supervised_positions(batch)
    assert not supervised["text"].any()  # the prompt is never a target
    boi = tok.convert_tokens_to_ids(BOI_TOKEN)
    for row in range(2):
        where = supervised["image"][row].nonzero().flatten()
        assert len(where) == N and bool((where.diff() == 1).all())  # one run of 576
        assert int(batch["input_ids"][row, where[0] - 1]) == boi  # predicted from the begin-of-image tag
        key = batch["keys"][row]
        index = int(next(i for i in range(8) if make_key("captions", "/src/class_name", i) == key
                         or make_key("captions", "/src/caption", i) == key))
        assert batch["image_ids"][row, where].tolist() == _ids(index)  # the stored VQ ids, in order
    assert batch["num_targets"] == 2 * N


def test_generation_loss_is_image_head_cross_entropy_on_the_ids_only(tok, cfg, shards, model):
    batch = next(_batches(tok, cfg, shards, uncond_share=0.0))
    model.zero_grad()
    out = model(**model_inputs(batch, CPU), image_ids=batch["image_ids"], labels=batch["labels"])
    assert int(out.text_count) == 0 and int(out.image_count) == 2 * N
    # The same loss written out: embeddings by hand, decoder, generation head at the position before each id.
    ids, image_ids = batch["input_ids"], batch["image_ids"]
    gen = image_ids != IGNORE_INDEX
    with torch.no_grad():
        embeds = model.model.language_model.embed_tokens(ids.masked_fill(gen, 0))
        embeds[gen] = model.model.generation_aligner(model.model.generation_embeddings(image_ids[gen]))
        hidden = model.model.language_model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).last_hidden_state
        rows, cols = gen.nonzero(as_tuple=True)
        logits = model.model.generation_head(hidden[rows, cols - 1])
        expected = F.cross_entropy(logits, image_ids[rows, cols], reduction="sum")
    assert torch.allclose(out.total.detach(), expected, rtol=1e-5)
    out.total.backward()
    assert model.lm_head.weight.grad is None or not model.lm_head.weight.grad.any()  # text head untouched
    assert model.model.generation_head.vision_head.weight.grad.abs().sum() > 0


def test_understanding_example_supervises_the_caption_only(tok, cfg, shards, model):
    batch = next(_batches(tok, cfg, shards, ratio=(1, 0, 0)))
    assert batch["pixel_values"].shape == (2, 3, 384, 384)
    assert not (batch["image_ids"] != IGNORE_INDEX).any()
    row = batch["labels"][0]
    answer = tok.decode(row[row != IGNORE_INDEX])
    assert answer.startswith(" A red square number") and answer.endswith(tok.eos_token)
    assert int((batch["input_ids"][0] == tok.image_token_id).sum()) == N


# --- stages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stage,train_siglip,trained", [
    (1, True, {"und_adaptor", "gen_adaptor", "gen_head"}),
    (2, True, {"und_adaptor", "gen_adaptor", "gen_head", "llm"}),
    (3, True, {"und_adaptor", "gen_adaptor", "gen_head", "llm", "siglip"}),
    (3, False, {"und_adaptor", "gen_adaptor", "gen_head", "llm"}),
])
def test_stage_trainable_sets(tok, cfg, stage, train_siglip, trained):
    model = build_model(cfg, len(tok), tok.image_token_id)
    set_trainable_for_stage(model, stage, train_siglip)
    names = group_parameter_names(model)
    assert set(names) == {"siglip", "vq", "und_adaptor", "gen_adaptor", "gen_head", "llm"}
    requires = dict(model.named_parameters())
    for group, params in names.items():
        assert params and {requires[n].requires_grad for n in params} == {group in trained}, group
    assert "model.generation_embeddings.weight" in names["vq"]  # the codebook lookup is the generation encoder


# --- curriculum and caption draws over many steps ----------------------------------------------


def test_curriculum_switches_from_imagenet_to_captions_at_the_boundary(tok, cfg, shards):
    batches = _batches(tok, cfg, shards)
    sources = []
    for _ in range(20):
        batch = next(batches)
        sources.append({"class" if "class_name" in k else "caption" for k in _source_names(batch["keys"])})
    assert all(s == {"class"} for s in sources[:10]) and all(s == {"caption"} for s in sources[10:])


def _source_names(keys):
    by_key = {make_key("captions", f"/src/{kind}", i): kind for kind in ("caption", "class_name") for i in range(8)}
    return [by_key[k] for k in keys]


def test_first_sentence_and_unconditional_shares_measured_over_many_steps(tok, cfg, shards):
    batches = _batches(tok, cfg, shards, first_sentence_share=0.25, uncond_share=0.1)
    batches.switch_step = 0  # captions only
    first = uncond = total = 0
    for _ in range(300):
        batch = next(batches)
        for row in range(2):
            gen = (batch["image_ids"][row] != IGNORE_INDEX).nonzero().flatten()
            prompt = batch["input_ids"][row, 1:gen[0] - 1].tolist()  # between bos and begin-of-image
            total += 1
            if set(prompt) == {tok.pad_token_id}:
                uncond += 1
            elif "It sits" not in tok.decode(prompt):
                first += 1
    assert total == 600
    assert abs(uncond / total - 0.10) < 0.04
    assert abs(first / (total - uncond) - 0.25) < 0.06


# --- export, from_pretrained, CFG sampling ---------------------------------------------------


@pytest.fixture(scope="module")
def export(tmp_path_factory, tok, cfg, model):
    out = tmp_path_factory.mktemp("export") / "export"
    save_model(model.config, model.state_dict(), out)
    save_janus_extras(out, cfg, tok)
    return out


def test_export_loads_with_from_pretrained_and_gives_the_same_logits(tok, cfg, shards, model, export):
    loaded = load_janus_export(export)
    assert type(loaded).__name__ == "JanusForConditionalGeneration"
    batch = next(_batches(tok, cfg, shards, ratio=(1, 0, 0)))
    inputs = model_inputs(batch, CPU)
    with torch.no_grad():
        ours, theirs = model(**inputs).logits, loaded(**inputs).logits
        hidden = torch.randn(3, cfg.llm_width)
        head_ours, head_theirs = model.model.generation_head(hidden), loaded.model.generation_head(hidden)
    assert torch.allclose(ours, theirs, atol=1e-5) and torch.allclose(head_ours, head_theirs, atol=1e-5)
    fresh = build_model(cfg, len(tok), tok.image_token_id)
    report = load_janus_full(fresh, export)
    assert not report.new_layers and all(torch.equal(a, b) for a, b in zip(
        fresh.state_dict().values(), model.state_dict().values(), strict=True))


def test_generate_command_draws_576_ids_with_cfg_and_decodes_an_image(export, tmp_path, capsys):
    out, ids_file = tmp_path / "out.png", tmp_path / "ids.json"
    assert vlforge_main(["generate", "--model", str(export), "--prompt", "a red square", "--cfg", "5",
                         "-o", str(out), "--ids", str(ids_file)]) == 0
    ids = json.loads(ids_file.read_text())
    assert len(ids) == N and all(0 <= i < 1024 for i in ids)
    assert Image.open(out).size == (384, 384)
    assert f"{N} image ids" in capsys.readouterr().out


# --- parts and a stage I run ------------------------------------------------------------------


def test_parts_fill_everything_but_the_new_layers_and_a_missing_part_is_refused(tok, cfg, tmp_path):
    parts = write_janus_parts("tiny-janus", tmp_path / "parts")
    model = build_model(cfg, len(tok), tok.image_token_id)
    report = load_janus_parts(model, siglip=parts["siglip"], vq=parts["vq"], llm=parts["llm"])
    assert {n.split(".")[1] for n in report.new_layers} == {"aligner", "generation_aligner", "generation_head"}
    codebook = model.model.vqmodel.quantize.embedding.weight
    assert torch.equal(model.model.generation_embeddings.weight, codebook)
    with pytest.raises(WeightsError, match="vqmodel"):
        load_janus_parts(build_model(cfg, len(tok), tok.image_token_id), siglip=parts["siglip"], llm=parts["llm"])


def test_stage1_from_parts_trains_only_its_groups_and_exports(shards, tmp_path):
    parts = write_janus_parts("tiny-janus", tmp_path / "parts")
    options = resolve_train_options(None, (
        "model.preset=tiny-janus", f"model.siglip={parts['siglip']}", f"model.vq={parts['vq']}",
        f"model.llm={parts['llm']}", f"data.captions=[{shards['captions']}]", f"data.imagenet=[{shards['imagenet']}]",
        "steps=2", "batch.global=2", "data.prefetch=0", f"output_dir={tmp_path / 'stage1'}"), 1)
    summary = train(build_train_config(options))
    assert len(summary["losses"]) == 2
    trained = load_janus_export(summary["export"])
    start = build_model(get_preset("tiny-janus"), trained.config.text_config.vocab_size, trained.config.image_token_id)
    load_janus_parts(start, siglip=parts["siglip"], vq=parts["vq"], llm=parts["llm"])
    before, after = start.state_dict(), trained.state_dict()
    for name in ("model.vision_model.post_layernorm.weight", "model.language_model.layers.0.mlp.up_proj.weight",
                 "model.vqmodel.quantize.embedding.weight", "lm_head.weight"):
        assert torch.equal(before[name], after[name]), name  # frozen in stage I, bit for bit
    assert not torch.equal(before["model.generation_head.vision_head.weight"],
                           after["model.generation_head.vision_head.weight"])
