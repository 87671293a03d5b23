"""Weights in: transformers folders (whole models) and parts (SigLIP, SAM, LLM) for stage 1.

Every checkpoint is written here, tiny and random, in its exact layout; what a load gives is
compared with transformers' own classes reading the same files.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_checkpoints import (
    SAM,
    SIGLIP,
    TEXT,
    inputs,
    logits,
    model_class,
    random_model,
    release_tensors,
    sam_release,
    siglip_timm,
    write_release,
)

from vlforge.trainer import weights
from vlforge.trainer.weights import NEW_LAYERS, WeightsError

KINDS = ("simple", "hybrid")


@pytest.fixture(scope="module", params=KINDS)
def saved(request, tmp_path_factory):
    """(kind, a random model, its save_pretrained folder)."""
    model = random_model(request.param)
    folder = tmp_path_factory.mktemp(f"hf-{request.param}") / "model"
    model.save_pretrained(folder)
    return request.param, model, folder


def _fresh(kind: str, folder):
    return model_class(kind)(weights.read_model_config(folder))


def test_transformers_folder_gives_from_pretrained_logits(saved):
    kind, model, folder = saved
    assert weights.checkpoint_layout(folder) == "transformers"
    ours = _fresh(kind, folder)
    report = weights.load_full(ours, folder)
    assert sorted(report.loaded) == sorted(model.state_dict()) and report.new_layers == []
    assert "loaded" in report.summary()
    batch = inputs(kind)
    expected = logits(model_class(kind).from_pretrained(folder), batch)
    torch.testing.assert_close(logits(ours, batch), expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(logits(ours, batch), logits(model, batch), rtol=0, atol=1e-5)


def test_older_transformers_names_load(saved, tmp_path):
    """Before transformers 5, SigLIP sat under model.vision_model.vision_model.*."""
    kind, model, folder = saved
    state = load_file(folder / "model.safetensors")
    old = {k.replace("model.vision_model.", "model.vision_model.vision_model."): v for k, v in state.items()}
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    save_file(old, tmp_path / "model.safetensors", metadata={"format": "pt"})
    ours = _fresh(kind, tmp_path)
    weights.load_full(ours, tmp_path)
    batch = inputs(kind)
    torch.testing.assert_close(logits(ours, batch), logits(model, batch), rtol=0, atol=1e-5)


def test_folder_with_missing_llm_weights_is_refused(saved, tmp_path):
    kind, _, folder = saved
    state = load_file(folder / "model.safetensors")
    kept = {k: v for k, v in state.items() if not k.startswith(("model.language_model.", "lm_head."))}
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    save_file(kept, tmp_path / "model.safetensors", metadata={"format": "pt"})
    ours = _fresh(kind, tmp_path)
    before = ours.model.language_model.embed_tokens.weight.clone()
    with pytest.raises(WeightsError, match=r"lacks \d+ parameters .*model\.language_model") as err:
        weights.load_full(ours, tmp_path)
    assert "model.language_model.layers.0.self_attn.q_proj.weight" in err.value.names
    assert all(name.startswith(("model.language_model.", "lm_head.")) for name in err.value.names)
    assert torch.equal(ours.model.language_model.embed_tokens.weight, before)  # nothing half-loaded


def test_model_built_with_another_config_is_refused(saved):
    kind, _, folder = saved
    # the same shapes, but SigLIP with tanh-approximate GELU: the weights would compute otherwise
    from tiny_checkpoints import config

    other = model_class(kind)(config(kind, hidden_act="gelu_pytorch_tanh"))
    with pytest.raises(WeightsError, match="vision_config.hidden_act: checkpoint 'gelu'"):
        weights.load_full(other, folder)


def test_layouts_that_cannot_seed_the_model_are_named(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        weights.checkpoint_layout(tmp_path / "nothing")
    with pytest.raises(WeightsError, match="no config.json"):
        weights.checkpoint_layout(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "janus"}))
    with pytest.raises(WeightsError, match="model_type 'janus'"):
        weights.checkpoint_layout(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "vlforge-deepseek-vl"}))
    assert weights.checkpoint_layout(tmp_path) == "vlforge-v1"
    with pytest.raises(WeightsError, match="old vlforge trainer"):
        weights.load_full(random_model("simple"), tmp_path)


# --- parts ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A hybrid source model and its towers / LLM saved as transformers part folders."""
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        SamConfig,
        SamModel,
        SiglipConfig,
        SiglipModel,
    )

    root = tmp_path_factory.mktemp("parts")
    source = random_model("hybrid", seed=3)
    state = source.state_dict()
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, vocab_size=99)
    siglip = SiglipModel(SiglipConfig(vision_config=SIGLIP, text_config=text))
    siglip.vision_model.load_state_dict(_under(state, "model.vision_model."))
    siglip.save_pretrained(root / "siglip")
    sam = SamModel(SamConfig(vision_config=SAM))
    sam.vision_encoder.load_state_dict(_under(state, "model.high_res_vision_model.vision_encoder."))
    sam.save_pretrained(root / "sam")
    llm = LlamaForCausalLM(LlamaConfig(**TEXT))
    llm.model.load_state_dict(_under(state, "model.language_model."))
    llm.lm_head.load_state_dict(_under(state, "lm_head."))
    llm.save_pretrained(root / "llm")
    return source, root


def _under(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _same_tensors(model, source, prefixes) -> None:
    ours, theirs = model.state_dict(), source.state_dict()
    names = [k for k in ours if k.startswith(prefixes)]
    assert names
    for name in names:
        assert torch.equal(ours[name], theirs[name]), name


def test_parts_from_transformers_folders(parts):
    from transformers import LlamaForCausalLM, SamVisionModel, SiglipVisionModel

    source, root = parts
    model = random_model("hybrid", seed=9)
    report = weights.load_parts(model, siglip=root / "siglip", sam=root / "sam", llm=root / "llm")
    # exactly the documented new layers are left at init, and listed
    new = NEW_LAYERS["DeepseekVLHybridForConditionalGeneration"]
    assert report.new_layers == [k for k in model.state_dict() if k.startswith(new)]
    assert {n.split(".")[1] for n in report.new_layers} == {
        "aligner", "high_res_vision_proj", "high_res_vision_neck", "high_res_vision_alpha"}
    assert any(n.startswith("siglip:text_model.") for n in report.ignored)
    assert any(n.startswith("sam:mask_decoder.") for n in report.ignored)
    assert "new layers left at their init: model.high_res_vision_alpha: 1," in report.summary()
    assert "model.aligner.vision_proj: 2" in report.summary()
    # each part computes what transformers' own class computes from that folder
    with torch.no_grad():
        pixels = inputs("hybrid")
        tower = SiglipVisionModel.from_pretrained(root / "siglip")(pixels["pixel_values"]).last_hidden_state
        ours = model.model.vision_model(pixels["pixel_values"]).last_hidden_state
        torch.testing.assert_close(ours, tower, rtol=0, atol=1e-5)
        high = pixels["high_res_pixel_values"]
        sam = SamVisionModel.from_pretrained(root / "sam")(high).last_hidden_state
        torch.testing.assert_close(model.model.high_res_vision_model(high).last_hidden_state, sam,
                                   rtol=0, atol=1e-5)
        ids = torch.randint(0, 256, (1, 12))
        llm = LlamaForCausalLM.from_pretrained(root / "llm")(ids).logits
        torch.testing.assert_close(model(input_ids=ids).logits, llm, rtol=0, atol=1e-5)


def test_parts_without_the_llm_are_refused(parts):
    _, root = parts
    model = random_model("hybrid", seed=9)
    with pytest.raises(WeightsError, match="lacks") as err:
        weights.load_parts(model, siglip=root / "siglip", sam=root / "sam")
    assert "lm_head.weight" in err.value.names
    assert not any(name.startswith(("model.aligner.", "model.vision_model.")) for name in err.value.names)


def test_parts_from_timm_and_segment_anything_files(parts, tmp_path):
    source, _ = parts
    state = source.state_dict()
    siglip_file = tmp_path / "vit_large_patch16_siglip_384.safetensors"
    save_file(siglip_timm(_under(state, "model.vision_model.")), siglip_file)
    sam = sam_release(_under(state, "model."))
    # the original segment-anything file: the encoder under image_encoder., without
    # DeepSeek-VL's added layers, beside the prompt encoder and mask decoder
    sam_file = tmp_path / "sam_vit_b.pth"
    encoder = {k: v for k, v in sam.items() if not k.startswith(("neck_hd", "downsamples", "hd_alpha"))}
    torch.save({**{"image_encoder." + k: v for k, v in encoder.items()},
                "prompt_encoder.no_mask_embed.weight": torch.zeros(1, 16)}, sam_file)
    model = random_model("hybrid", seed=9)
    report = weights.load_parts(model, siglip=siglip_file, sam=sam_file, llm=_llm_folder(parts))
    assert report.new_layers == [k for k in model.state_dict()
                                 if k.startswith(NEW_LAYERS[type(model).__name__])]
    assert "siglip:attn_pool.latent" in report.ignored
    _same_tensors(model, source, ("model.vision_model.", "model.high_res_vision_model."))
    # timm's samvit names its MLP fc1/fc2 where segment-anything says lin1/lin2
    timm_sam = {k.replace("mlp.lin", "mlp.fc"): v for k, v in encoder.items()}
    torch.save(timm_sam, tmp_path / "samvit_base_patch16.pth")
    model = random_model("hybrid", seed=10)
    weights.load_parts(model, siglip=siglip_file, sam=tmp_path / "samvit_base_patch16.pth",
                       llm=_llm_folder(parts))
    _same_tensors(model, source, ("model.high_res_vision_model.",))


def _llm_folder(parts):
    return parts[1] / "llm"


def test_release_file_as_sam_part_brings_its_trained_downsamples(parts, tmp_path):
    """The 7B release's SAM tower carries the downsample convs, second neck and its scale."""
    source, _ = parts
    folder = write_release(source, tmp_path / "release", shards=1)
    file = next(folder.glob("*.safetensors"))
    model = random_model("hybrid", seed=9)
    report = weights.load_parts(model, siglip=file, sam=file, llm=_llm_folder(parts))
    assert {n.split(".")[1] for n in report.new_layers} == {"aligner"}
    assert model.model.high_res_vision_alpha.item() == pytest.approx(0.7)
    _same_tensors(model, source, ("model.vision_model.", "model.high_res_vision_"))


def test_a_part_of_another_kind_or_size_is_refused(parts, tmp_path):
    source, root = parts
    model = random_model("hybrid", seed=9)
    with pytest.raises(WeightsError, match="a sam checkpoint; expected a transformers"):
        weights.load_parts(model, siglip=root / "sam")
    with pytest.raises(WeightsError, match="llm=.*expected a transformers Llama"):
        weights.load_parts(model, llm=root / "siglip" / "model.safetensors")
    release = write_release(source, tmp_path / "release")
    with pytest.raises(WeightsError, match="llm=.*expected a transformers Llama"):
        weights.load_parts(model, llm=release)  # a whole DeepSeek-VL folder: load_full's job
    with pytest.raises(WeightsError, match="no SAM tower"):
        weights.load_parts(random_model("simple"), sam=root / "sam")
    smaller = release_tensors(source)
    smaller = {k: v for k, v in smaller.items() if ".blocks.3." not in k}  # a SAM one block short
    save_file(smaller, tmp_path / "short.safetensors")
    with pytest.raises(WeightsError, match="lacks") as err:
        weights.load_parts(model, sam=tmp_path / "short.safetensors")
    assert "model.high_res_vision_model.vision_encoder.layers.3.attn.qkv.weight" in err.value.names


def test_a_tied_llm_fills_the_output_layer(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    llm = LlamaForCausalLM(LlamaConfig(**{**TEXT, "tie_word_embeddings": True}))
    llm.save_pretrained(tmp_path / "llm")
    assert "lm_head.weight" not in load_file(tmp_path / "llm" / "model.safetensors")
    model = random_model("simple", seed=4)
    with pytest.raises(WeightsError, match="lacks .*model.vision_model"):
        weights.load_parts(model, llm=tmp_path / "llm")  # and the SigLIP part is not optional
    siglip = tmp_path / "siglip.safetensors"
    save_file(siglip_timm(_under(model.state_dict(), "model.vision_model.")), siglip)
    weights.load_parts(model, siglip=siglip, llm=tmp_path / "llm")
    assert torch.equal(model.lm_head.weight, llm.model.embed_tokens.weight)
