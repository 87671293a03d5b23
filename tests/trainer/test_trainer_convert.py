"""The DeepSeek-VL release layout: read in memory (load_full) and converted (convert-checkpoint).

Each test writes a tiny release folder itself (tiny_checkpoints.write_release: the released
code's config.json and tensor names) from a random transformers model, so the expected logits
are that model's own.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_checkpoints import (
    IMAGE_TOKENS,
    TOKENIZER,
    config,
    inputs,
    logits,
    model_class,
    random_model,
    write_release,
)
from transformers import AutoModelForImageTextToText, AutoProcessor

from vlforge.cli import main
from vlforge.trainer import convert, weights
from vlforge.trainer.chat_format import encode_prompt, render_conversation
from vlforge.trainer.tokenizer import IMAGE_TOKEN
from vlforge.trainer.weights import WeightsError

KINDS = ("simple", "hybrid")  # the 1.3B shape (SigLIP only) and the 7B hybrid (SigLIP + SAM)


@pytest.fixture(scope="module", params=KINDS)
def release(request, tmp_path_factory):
    """(kind, the source model, its inputs and logits, the release folder)."""
    kind = request.param
    model = random_model(kind)
    batch = inputs(kind)
    folder = write_release(model, tmp_path_factory.mktemp(f"release-{kind}") / "deepseek-vl")
    return kind, model, batch, logits(model, batch), folder


def test_release_config_is_read_from_config_and_tensors(release):
    kind, model, _, _, folder = release
    assert weights.checkpoint_layout(folder) == "release"
    cfg = weights.read_model_config(folder)
    assert type(cfg) is type(model.config)
    assert cfg.vision_config.to_diff_dict() == model.config.vision_config.to_diff_dict()
    assert cfg.text_config.num_key_value_heads == 2 and cfg.tie_word_embeddings is False
    assert cfg.image_token_id == model.config.image_token_id
    if kind == "hybrid":
        sam = cfg.high_res_vision_config
        assert (sam.window_size, sam.global_attn_indexes, sam.num_attention_heads) == (14, [1, 3], 2)
        assert sam.to_diff_dict() == model.config.high_res_vision_config.to_diff_dict()


def test_load_full_on_a_release_folder_gives_the_models_logits(release):
    kind, model, batch, expected, folder = release
    cfg = weights.read_model_config(folder)
    ours = model_class(kind)(cfg)
    report = weights.load_full(ours, folder)
    assert report.layout == "release" and report.new_layers == []
    assert sorted(report.loaded) == sorted(model.state_dict())
    # the tensors the released code builds but never uses are named, not loaded
    assert any("attn_pool" in name for name in report.ignored)
    if kind == "hybrid":
        assert ours.model.high_res_vision_alpha.item() == pytest.approx(0.7)
        assert "vision_model.high_layer_norm.weight" in report.ignored
    torch.testing.assert_close(logits(ours, batch), expected, rtol=0, atol=1e-5)


def test_converted_folder_loads_in_transformers_with_the_same_logits(release, tmp_path, monkeypatch):
    kind, _, batch, expected, folder = release
    out = convert.convert_release(folder, tmp_path / "hf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf, info = AutoModelForImageTextToText.from_pretrained(out, output_loading_info=True, local_files_only=True)
    assert type(hf) is model_class(kind)
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    torch.testing.assert_close(logits(hf, batch), expected, rtol=0, atol=1e-5)
    # the processor: the release folder's tokenizer, the stock image processor, the chat template
    processor = AutoProcessor.from_pretrained(out, local_files_only=True)
    assert type(processor).__name__ == {"simple": "DeepseekVLProcessor", "hybrid": "DeepseekVLHybridProcessor"}[kind]
    assert processor.tokenizer.image_token_id == hf.config.image_token_id == TOKENIZER.image_token_id
    turns = [("user", f"{IMAGE_TOKEN}\n Describe it. ")]
    text = processor.apply_chat_template([{"role": "user", "content": turns[0][1]}], add_generation_prompt=True)
    assert text == render_conversation(turns, add_generation_prompt=True)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8))
    prepared = processor(text=text, images=[image], return_tensors="pt")
    assert prepared["input_ids"][0].tolist() == encode_prompt(TOKENIZER, turns[0][1], IMAGE_TOKENS)
    with torch.no_grad():  # what the processor prepares runs through the converted model
        assert hf(**prepared).logits.shape[:2] == prepared["input_ids"].shape
    # and the converted folder is a transformers folder for load_full
    ours = model_class(kind)(weights.read_model_config(out))
    assert weights.load_full(ours, out).layout == "transformers"
    torch.testing.assert_close(logits(ours, batch), expected, rtol=0, atol=1e-5)


def test_release_folder_without_llm_weights_is_refused(tmp_path):
    model = random_model("simple")
    folder = write_release(model, tmp_path / "no-llm", drop="language_model.")
    ours = model_class("simple")(weights.read_model_config(folder))
    with pytest.raises(WeightsError, match="lacks") as err:
        weights.load_full(ours, folder)
    assert "model.language_model.embed_tokens.weight" in err.value.names
    assert "lm_head.weight" in err.value.names
    with pytest.raises(WeightsError, match="lacks"):
        convert.convert_release(folder, tmp_path / "out")


def test_cli_convert_checkpoint(release, tmp_path, capsys):
    kind, _, _, _, folder = release
    dst = tmp_path / "converted"
    assert main(["convert-checkpoint", str(folder), str(dst)]) == 0
    assert model_class(kind).__name__ in capsys.readouterr().out
    model_type = json.loads((dst / "config.json").read_text())["model_type"]
    assert model_type == {"simple": "deepseek_vl", "hybrid": "deepseek_vl_hybrid"}[kind]
    # a second run does not write over a folder that has something in it
    assert main(["convert-checkpoint", str(folder), str(dst)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_an_aligner_transformers_cannot_express_is_refused(tmp_path):
    folder = write_release(random_model("simple"), tmp_path / "linear-aligner")
    raw = json.loads((folder / "config.json").read_text())
    raw["aligner_config"]["params"]["projector_type"] = "linear"
    (folder / "config.json").write_text(json.dumps(raw))
    with pytest.raises(WeightsError, match="aligner 'linear'"):
        weights.read_model_config(folder)


def test_release_folder_with_a_pytorch_bin(tmp_path):
    model = random_model("simple", seed=5)
    folder = write_release(model, tmp_path / "bin", pickle=True)
    assert not list(folder.glob("*.safetensors"))
    ours = model_class("simple")(weights.read_model_config(folder))
    weights.load_full(ours, folder)
    batch = inputs("simple")
    torch.testing.assert_close(logits(ours, batch), logits(model, batch), rtol=0, atol=1e-5)


def test_release_folder_without_a_tokenizer_converts_with_the_image_processor_only(tmp_path, capsys):
    # DeepSeek-LLM's vocabulary: with no tokenizer.json the image token is its id 100015
    cfg = config("simple")
    cfg.text_config.vocab_size = 100016
    folder = write_release(model_class("simple")(cfg), tmp_path / "no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    assert main(["convert-checkpoint", str(folder), str(tmp_path / "out")]) == 0
    assert "AutoProcessor cannot load it" in capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "config.json").read_text())["image_token_id"] == 100015
    assert (tmp_path / "out" / "preprocessor_config.json").is_file()
    assert not (tmp_path / "out" / "tokenizer.json").is_file()


def test_tokenizer_given_apart_completes_the_folder(tmp_path):
    folder = write_release(random_model("simple"), tmp_path / "rel")
    TOKENIZER.save_pretrained(tmp_path / "tok")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    out = convert.convert_release(folder, tmp_path / "out", tokenizer=tmp_path / "tok")
    processor = AutoProcessor.from_pretrained(out, local_files_only=True)
    assert processor.tokenizer.image_token_id == TOKENIZER.image_token_id
    assert json.loads((out / "config.json").read_text())["image_token_id"] == TOKENIZER.image_token_id


def test_a_tokenizer_that_does_not_fit_the_model_is_refused(tmp_path):
    folder = write_release(random_model("simple"), tmp_path / "rel")
    bigger = TOKENIZER.__class__.from_pretrained(folder)
    bigger.add_tokens([f"<extra{i}>" for i in range(8)])
    bigger.save_pretrained(tmp_path / "big")
    with pytest.raises(WeightsError, match="does not fit the model"):
        convert.convert_release(folder, tmp_path / "out", tokenizer=tmp_path / "big")
