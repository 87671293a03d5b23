"""The DeepSeek-VL release layout: read in memory (load_full) and converted (convert-checkpoint).

Each test writes a tiny release folder itself (tiny_checkpoints.write_release: the released
code's config.json and tensor names) from a random transformers model, so the expected logits
are that model's own.
"""

from __future__ import annotations

import json

import pytest
import torch
from tiny_checkpoints import inputs, logits, model_class, random_model, write_release

from vlforge.cli import main
from vlforge.trainer import convert, weights
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


def test_converted_folder_loads_in_transformers_with_the_same_logits(release, tmp_path):
    kind, _, batch, expected, folder = release
    out = convert.convert_release(folder, tmp_path / "hf")
    assert (out / "tokenizer.json").is_file() and (out / "config.json").is_file()
    hf, info = model_class(kind).from_pretrained(out, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    torch.testing.assert_close(logits(hf, batch), expected, rtol=0, atol=1e-5)
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
