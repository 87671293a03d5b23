"""The trainer's model (transformers' DeepSeek-VL classes): presets, losses, stages, FSDP units,
sizes and FLOPs."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    DeepseekVLForConditionalGeneration,
    DeepseekVLHybridForConditionalGeneration,
)

from vlforge.errors import VlforgeError
from vlforge.trainer import model as M
from vlforge.trainer.presets import PRESETS, get_preset, hf_config

VOCAB = 300
IMAGE_ID = 299


@pytest.fixture(autouse=True)
def _one_thread():
    # The suite shares two cores; tiny matmuls only slow down with a thread pool each.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(preset: str = "tiny", seed: int = 0):
    torch.manual_seed(seed)
    return M.build_model(preset, VOCAB, IMAGE_ID)


def _inputs(preset: str = "tiny", starts=(3, 5), length: int = 40, seed: int = 0) -> dict:
    """Two rows, one image each, the image tokens at `starts`; pixels as a processor gives them."""
    cfg = get_preset(preset)
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, IMAGE_ID, (len(starts), length), generator=gen)
    for row, start in enumerate(starts):
        ids[row, start:start + cfg.num_image_tokens] = IMAGE_ID
    inputs = {"input_ids": ids,
              "pixel_values": torch.randn(len(starts), 3, cfg.low_res_size, cfg.low_res_size, generator=gen)}
    if cfg.vision == "hybrid":
        inputs["high_res_pixel_values"] = torch.randn(len(starts), 3, cfg.image_size, cfg.image_size, generator=gen)
    return inputs


@pytest.mark.parametrize("preset,cls", [("tiny", DeepseekVLHybridForConditionalGeneration),
                                        ("tiny-siglip", DeepseekVLForConditionalGeneration),
                                        ("deepseek-vl-7b", DeepseekVLHybridForConditionalGeneration),
                                        ("deepseek-vl-1.3b", DeepseekVLForConditionalGeneration)])
def test_presets_build_the_transformers_classes(preset, cls):
    with torch.device("meta"):
        model = M.build_model(preset, 102400, 100015)
    assert type(model) is cls
    config = model.config
    assert config.vision_config.hidden_act == "gelu"  # the release's exact GELU, not tanh
    assert not config.tie_word_embeddings and model.lm_head.weight is not model.get_input_embeddings().weight
    assert config.image_token_id == 100015 and config.text_config.vocab_size == 102400


def test_released_shapes():
    big, small = hf_config("deepseek-vl-7b", 102400, 1), hf_config("deepseek-vl-1.3b", 102400, 1)
    sam = big.high_res_vision_config
    assert (sam.hidden_size, sam.num_hidden_layers, sam.image_size, sam.window_size,
            list(sam.global_attn_indexes), sam.output_channels) == (768, 12, 1024, 14, [2, 5, 8, 11], 256)
    for config, (width, layers, ffn) in ((big, (4096, 30, 11008)), (small, (2048, 24, 5632))):
        vision, text = config.vision_config, config.text_config
        assert (vision.hidden_size, vision.num_hidden_layers, vision.image_size, vision.patch_size) == (1024, 24, 384, 16)
        assert (text.hidden_size, text.num_hidden_layers, text.intermediate_size) == (width, layers, ffn)
        assert text.max_position_embeddings == 16384 and text.rms_norm_eps == 1e-6


@pytest.mark.parametrize("preset", ["tiny", "tiny-siglip"])
def test_logits_and_summed_loss(preset):
    model = _model(preset)
    inputs = _inputs(preset)
    logits = M.forward(model, inputs)
    assert logits.shape == (2, 40, VOCAB)
    labels = torch.full_like(inputs["input_ids"], M.IGNORE_INDEX)
    labels[:, 30:] = inputs["input_ids"][:, 30:]
    mean, count = M.causal_lm_loss(logits, labels)
    total, _ = M.causal_lm_loss(logits, labels, "sum")
    assert int(count) == 20
    torch.testing.assert_close(total / 20, mean)
    torch.testing.assert_close(-M.token_logprobs(logits, inputs["input_ids"])[:, 30:].sum(), total)


def _live_sam_neck(model) -> None:
    """transformers initialises SAM's neck convs near zero (~1e-10), so a random SAM feeds
    ~0 to the downsample convs; pretrained necks are not so: give it real weights."""
    neck = model.model.high_res_vision_model.vision_encoder.neck
    with torch.no_grad():
        for conv in (neck.conv1, neck.conv2):
            conv.weight.normal_(std=0.3)


def test_changing_the_image_changes_only_later_positions():
    model = _model()
    _live_sam_neck(model)
    inputs = _inputs(starts=(6, 6))
    other = {**inputs, "high_res_pixel_values": torch.randn_like(inputs["high_res_pixel_values"])}
    with torch.no_grad():
        a, b = M.forward(model, inputs), M.forward(model, other)
    torch.testing.assert_close(a[:, :6], b[:, :6], rtol=0, atol=0)
    assert (a[:, 6:] - b[:, 6:]).abs().amax(-1).min() > 0  # SAM's input reaches the tokens


def test_second_sam_branch_counts_once_alpha_is_set():
    model = _model()
    _live_sam_neck(model)
    inputs = _inputs()
    with torch.no_grad():
        before = M.forward(model, inputs)
        model.model.high_res_vision_alpha.fill_(0.5)
        after = M.forward(model, inputs)
    assert (before - after).abs().max() > 1e-4


def test_image_count_mismatch_raises():
    model = _model("tiny-siglip")
    inputs = _inputs("tiny-siglip")
    with pytest.raises(ValueError, match="Image features and image tokens do not match"):
        M.forward(model, {**inputs, "pixel_values": inputs["pixel_values"][:1]})


def test_sequence_logprob_scores_options():
    model = _model("tiny-siglip")
    inputs = _inputs("tiny-siglip", starts=(2, 2), length=24)
    labels = torch.full_like(inputs["input_ids"], M.IGNORE_INDEX)
    labels[:, 20:] = inputs["input_ids"][:, 20:]
    with torch.no_grad():
        want = M.token_logprobs(M.forward(model, inputs), inputs["input_ids"])[:, 20:]
    torch.testing.assert_close(M.sequence_logprob(model, inputs, labels, average=False), want.sum(-1))
    torch.testing.assert_close(M.sequence_logprob(model, inputs, labels), want.mean(-1))


@pytest.mark.parametrize("preset", ["tiny", "tiny-siglip"])
def test_groups_partition_parameters(preset):
    model = _model(preset)
    names = M.group_parameter_names(model)
    flat = [n for group in names.values() for n in group]
    assert sorted(flat) == sorted(n for n, _ in model.named_parameters())
    assert len(flat) == len(set(flat))
    if preset == "tiny":
        # The layers SAM's checkpoints lack are the adaptor's: stage 1 trains them.
        assert {"model.high_res_vision_proj.conv1.weight", "model.high_res_vision_neck.conv1.weight",
                "model.high_res_vision_alpha", "model.aligner.proj.weight"} <= set(names["adaptor"])
        assert all(n.startswith("model.high_res_vision_model.") for n in names["sam"])
    else:
        assert names["sam"] == []
    assert "lm_head.weight" in names["llm"]


@pytest.mark.parametrize("preset", ["tiny", "tiny-siglip"])
@pytest.mark.parametrize(
    "stage,trains",
    [(1, {"adaptor"}), (2, {"adaptor", "llm"}), (3, {"adaptor", "llm", "siglip"})],
)
def test_stage_trainable_sets(preset, stage, trains):
    model = _model(preset)
    M.set_trainable_for_stage(model, 3)  # start from another stage: the call must reset
    M.set_trainable_for_stage(model, stage)
    names = M.group_parameter_names(model)
    want = {n for g in trains for n in names[g]}
    got = {n for n, p in model.named_parameters() if p.requires_grad}
    assert got == want


def test_stage_rejects_unknown():
    with pytest.raises(ValueError, match="stage"):
        M.set_trainable_for_stage(_model(), 4)


def test_frozen_groups_get_no_gradient_in_stage_1():
    model = _model()
    M.set_trainable_for_stage(model, 1)
    _live_sam_neck(model)
    model.model.high_res_vision_alpha.data.fill_(0.1)  # else the second branch's grads are 0
    inputs = _inputs()
    loss, _ = M.causal_lm_loss(M.forward(model, inputs), inputs["input_ids"])
    loss.backward()
    adaptor = set(M.group_parameter_names(model)["adaptor"])
    for name, param in model.named_parameters():
        assert (param.grad is not None and bool(param.grad.abs().sum() > 0)) == (name in adaptor), name


def test_fsdp_units():
    model = _model()
    units = M.fsdp_units(model)
    assert units[0] is model.model.vision_model and units[1] is model.model.high_res_vision_model
    assert units[2] is model.get_input_embeddings()
    assert [u for u in units[3:-1]] == list(model.model.language_model.layers)
    assert units[-1] is model.lm_head
    assert M.fsdp_units(_model("tiny-siglip"))[1] is not None


def test_attention_choice():
    model = _model()
    M.set_attention(model, "eager")
    assert model.model.language_model.config._attn_implementation == "eager"
    with pytest.raises(VlforgeError, match="attention must be one of"):
        M.set_attention(model, "flash")


def test_export_loads_with_transformers_and_gives_the_same_logits(tmp_path):
    model = _model()
    model.model.high_res_vision_alpha.data.fill_(0.25)
    out = M.save_model(model.config, model.state_dict(), tmp_path / "export")
    loaded = M.load_exported(out)  # AutoModelForImageTextToText, no missing/unexpected keys
    assert type(loaded) is DeepseekVLHybridForConditionalGeneration
    inputs = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(M.forward(loaded, inputs), M.forward(model, inputs), rtol=0, atol=0)


def test_an_incomplete_state_dict_is_not_exported(tmp_path):
    model = _model("tiny-siglip")
    state = model.state_dict()
    del state["model.aligner.linear1.weight"]
    with pytest.raises(RuntimeError, match="aligner.linear1.weight"):
        M.save_model(model.config, state, tmp_path / "export")


def test_presets():
    assert {"tiny", "tiny-siglip", "deepseek-vl-1.3b", "deepseek-vl-7b"} <= set(PRESETS)
    with pytest.raises(KeyError, match="deepseek-vl-7b"):
        get_preset("nope")
    big = get_preset("deepseek-vl-7b")
    assert (big.image_size, big.low_res_size, big.num_image_tokens) == (1024, 384, 576)
    small = get_preset("deepseek-vl-1.3b")
    assert (small.vision, small.image_size, small.low_res_size) == ("siglip", 384, 384)


def test_a_folder_of_another_shape_is_refused():
    config = hf_config("tiny-siglip", VOCAB, IMAGE_ID)
    M.check_matches_preset(config, get_preset("tiny-siglip"), "folder")
    with pytest.raises(VlforgeError, match="vision"):
        M.check_matches_preset(config, get_preset("tiny"), "folder")


def test_real_shapes_parameter_counts():
    small = M.parameter_counts("deepseek-vl-1.3b")
    big = M.parameter_counts("deepseek-vl-7b")
    assert 300e6 < small["siglip"] < 310e6 and small["sam"] == 0
    assert small["adaptor"] == 1024 * 2048 + 2048 + 2048 * 2048 + 2048
    # DeepSeek-LLM 1.3B: ~1.2B in the blocks, +2 x 102400 x 2048 for embedding and head.
    assert 1.6e9 < small["llm"] < 1.7e9
    assert 85e6 < big["sam"] < 95e6 and big["siglip"] == small["siglip"]
    # aligner 1024->2048 twice + 4096x4096, two downsample convs, the second branch's neck, alpha
    convs = 256 * 512 * 9 + 512 * 1024 * 9
    neck = 768 * 256 + 256 * 256 * 9 + 4 * 256
    assert big["adaptor"] == 2 * (1024 * 2048 + 2048) + 4096 * 4096 + 4096 + convs + neck + 1
    assert 6.8e9 < big["llm"] < 7.0e9
    assert 7.2e9 < big["total"] < 7.5e9
    flops = M.flops_per_token("deepseek-vl-7b", 4096)
    assert 6 * (big["llm"] - big["llm_embedding"]) < flops < 1.2 * 6 * big["llm"]


def test_flops_per_image_follow_the_trained_parts():
    small = M.parameter_counts("deepseek-vl-1.3b")
    frozen = M.flops_per_image("deepseek-vl-1.3b", 1)
    assert frozen == pytest.approx(2 * small["siglip"] * 576 + 6 * small["adaptor"] * 576)
    assert M.flops_per_image("deepseek-vl-1.3b", 3) == pytest.approx(6 * (small["siglip"] + small["adaptor"]) * 576)
    big = M.parameter_counts("deepseek-vl-7b")
    assert M.flops_per_image("deepseek-vl-7b", 1) > 2 * big["sam"] * 4096


def test_tiny_overfits_one_batch():
    model = _model()
    M.set_trainable_for_stage(model, 3)
    inputs = _inputs(length=32)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    first = None
    for _ in range(30):
        loss, _ = M.causal_lm_loss(M.forward(model, inputs), inputs["input_ids"])
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_real_vision_path_shapes_on_meta():
    """The release's shapes end to end (SAM 64x64x256 -> 96 -> 48 -> 24; 576 tokens of 4096),
    on meta: shapes propagate, nothing is computed or allocated."""
    with torch.device("meta"):
        model = M.build_model("deepseek-vl-7b", 102400, 100015)
        features = model.model.get_image_features(torch.empty(2, 3, 384, 384), torch.empty(2, 3, 1024, 1024))
    assert features.pooler_output.shape == (2, 576, 4096)
    assert features.high_res_vision_last_hidden_state.shape == (2, 576, 1024)
