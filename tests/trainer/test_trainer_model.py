"""The DeepSeek-VL model: shapes, image splicing, stages, weight loading, export, sizes."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from vlforge.trainer import model as M
from vlforge.trainer.presets import PRESETS, get_preset

VOCAB = 300
IMAGE_ID = 299


@pytest.fixture(autouse=True)
def _one_thread():
    # The suite shares two cores; tiny matmuls only slow down with a thread pool each.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(preset: str = "tiny", seed: int = 0) -> M.DeepSeekVLModel:
    torch.manual_seed(seed)
    return M.build_model(preset, VOCAB, IMAGE_ID)


def _batch(model: M.DeepSeekVLModel, starts=(3, 5), length: int = 40, seed: int = 0):
    """Two rows, one image each, the image tokens at `starts`."""
    gen = torch.Generator().manual_seed(seed)
    n_tok = model.config.num_image_tokens
    ids = torch.randint(0, IMAGE_ID, (len(starts), length), generator=gen)
    for row, start in enumerate(starts):
        ids[row, start : start + n_tok] = IMAGE_ID
    size = model.config.image_size
    pixels = torch.rand(len(starts), 3, size, size, generator=gen)
    return ids, pixels


@pytest.mark.parametrize("preset", ["tiny", "tiny-siglip"])
def test_shapes(preset):
    model = _model(preset)
    ids, pixels = _batch(model)
    images = model.encode_images(pixels)
    assert images.shape == (2, model.config.num_image_tokens, model.config.llm_width)
    out = model(ids, labels=ids, pixel_values=pixels)
    assert out.logits.shape == (2, 40, VOCAB)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    # Both rows supervise every position but the first (causal shift).
    assert int(out.num_label_tokens) == 2 * 39


def test_hybrid_high_res_path_shapes():
    model = _model("tiny")
    cfg = model.config
    pixels = torch.rand(3, 3, cfg.image_size, cfg.image_size)
    low, high = model.vision(pixels)
    grid = cfg.image_size // cfg.sam["patch_size"]
    # SAM's neck output is channels first.
    assert high.shape == (3, cfg.sam["output_channels"], grid, grid)
    assert low.shape == (3, cfg.num_image_tokens, cfg.vision_width)
    assert model.adaptor.downsample(high).shape == (3, cfg.num_image_tokens, cfg.vision_width)


def test_image_embeddings_land_at_image_positions():
    model = _model()
    ids, pixels = _batch(model)
    embeds = model.embed(ids, pixels)
    images = model.encode_images(pixels)
    text = model.llm.get_input_embeddings()(ids)
    is_image = ids == IMAGE_ID
    torch.testing.assert_close(embeds[is_image], images.reshape(-1, images.shape[-1]))
    torch.testing.assert_close(embeds[~is_image], text[~is_image])


def test_changing_the_image_changes_only_later_positions():
    model = _model()
    ids, pixels = _batch(model, starts=(6, 6))
    with torch.no_grad():
        a = model(ids, pixel_values=pixels).logits
        b = model(ids, pixel_values=torch.rand_like(pixels)).logits
    torch.testing.assert_close(a[:, :6], b[:, :6], rtol=0, atol=0)
    assert (a[:, 6:] - b[:, 6:]).abs().amax(-1).min() > 0


def test_text_only_batch():
    model = _model()
    ids = torch.randint(0, IMAGE_ID, (2, 12))
    out = model(ids, labels=ids)
    assert out.logits.shape == (2, 12, VOCAB) and torch.isfinite(out.loss)


def test_image_count_mismatch_raises():
    model = _model()
    ids, pixels = _batch(model)
    with pytest.raises(ValueError, match="image-token positions"):
        model(ids, pixel_values=pixels[:1])
    with pytest.raises(ValueError, match="image-token positions"):
        model(ids)  # placeholders but no pixels
    with pytest.raises(ValueError, match="image-token positions"):
        model(ids[:, :10], pixel_values=pixels)  # truncated image
    with pytest.raises(ValueError, match="pixel_values must be"):
        model.encode_images(torch.rand(1, 3, 8, 8))


def test_labels_mask_and_sum_reduction():
    model = _model("tiny-siglip")
    ids = torch.randint(0, IMAGE_ID, (2, 10))
    labels = torch.full_like(ids, M.IGNORE_INDEX)
    labels[:, 6:] = ids[:, 6:]
    out = model(ids, labels=labels)
    summed = model(ids, labels=labels, loss_reduction="sum")
    assert int(out.num_label_tokens) == 8
    torch.testing.assert_close(summed.loss / 8, out.loss)
    logp = M.token_logprobs(out.logits, ids)
    torch.testing.assert_close(-logp[:, 6:].sum(), summed.loss)


def test_packed_rows_with_block_diagonal_mask_equal_separate_rows():
    model = _model("tiny-siglip")
    a, b = torch.randint(0, IMAGE_ID, (1, 7)), torch.randint(0, IMAGE_ID, (1, 5))
    packed = torch.cat([a, b], dim=1)
    seg = torch.tensor([0] * 7 + [1] * 5)
    causal = torch.tril(torch.ones(12, 12, dtype=torch.bool))
    mask = (causal & (seg[:, None] == seg[None, :]))[None, None]
    positions = torch.cat([torch.arange(7), torch.arange(5)])[None]
    with torch.no_grad():
        got = model(packed, attention_mask=mask, position_ids=positions).logits
        got_pos_only = model(packed, position_ids=positions).logits
        want = torch.cat([model(a).logits, model(b).logits], dim=1)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got_pos_only, want, rtol=1e-4, atol=1e-5)


def test_sequence_logprob_scores_options():
    model = _model("tiny-siglip")
    ids, pixels = _batch(model, starts=(2, 2), length=24)
    labels = torch.full_like(ids, M.IGNORE_INDEX)
    labels[:, 20:] = ids[:, 20:]
    with torch.no_grad():
        logits = model(ids, pixel_values=pixels).logits
    want = M.token_logprobs(logits, ids)[:, 20:]
    got_sum = M.sequence_logprob(model, ids, labels, pixel_values=pixels, average=False)
    got_mean = M.sequence_logprob(model, ids, labels, pixel_values=pixels)
    torch.testing.assert_close(got_sum, want.sum(-1))
    torch.testing.assert_close(got_mean, want.mean(-1))


@pytest.mark.parametrize("preset", ["tiny", "tiny-siglip"])
def test_groups_partition_parameters(preset):
    model = _model(preset)
    names = M.group_parameter_names(model)
    flat = [n for group in names.values() for n in group]
    assert sorted(flat) == sorted(n for n, _ in model.named_parameters())
    assert len(flat) == len(set(flat))
    # The downsample convs are new layers: adaptor group, so stage 1 trains them.
    if preset == "tiny":
        assert {"adaptor.downsample.conv1.weight", "adaptor.downsample.conv2.weight"} <= set(
            names["adaptor"]
        )
    else:
        assert names["sam"] == []


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
    ids, pixels = _batch(model)
    model(ids, labels=ids, pixel_values=pixels).loss.backward()
    for name, param in model.named_parameters():
        assert (param.grad is not None) == name.startswith("adaptor."), name


def test_fsdp_units():
    model = _model()
    units = M.fsdp_units(model)
    assert units[0] is model.vision
    layers = list(model.llm.model.layers)
    assert all(any(u is layer for u in units) for layer in layers)
    assert units[-1] is model.llm.lm_head


class _Tokenizer:
    """Stands in for a tokenizer: export only needs `save_pretrained`."""

    def save_pretrained(self, path):
        with open(f"{path}/tokenizer_config.json", "w") as fh:
            json.dump({"marker": 1}, fh)


@pytest.mark.parametrize("max_shard_bytes", [5 * 1024**3, 200_000])
def test_export_and_load_round_trip(tmp_path, max_shard_bytes):
    model = _model()
    out = M.export_hf(model, _Tokenizer(), tmp_path / "export", max_shard_bytes=max_shard_bytes)
    if max_shard_bytes < 1024**2:
        assert (out / "model.safetensors.index.json").exists()
    else:
        assert (out / "model.safetensors").exists()
    assert json.loads((out / "tokenizer_config.json").read_text()) == {"marker": 1}
    meta = json.loads((out / "config.json").read_text())
    assert meta["image_token_id"] == IMAGE_ID and meta["model"]["name"] == "tiny"
    loaded = M.load_exported(out)
    want, got = model.state_dict(), loaded.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)
    ids, pixels = _batch(model)
    with torch.no_grad():
        torch.testing.assert_close(model(ids, pixel_values=pixels).logits,
                                   loaded(ids, pixel_values=pixels).logits, rtol=0, atol=0)


def _same(module_a, module_b):
    a, b = module_a.state_dict(), module_b.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_transformers_checkpoints_load(tmp_path):
    source = _model(seed=1)
    source.vision.siglip.model.save_pretrained(tmp_path / "siglip")
    from transformers import SamVisionModel

    sam = SamVisionModel(source.vision.sam.encoder.config)
    sam.vision_encoder.load_state_dict(source.vision.sam.encoder.state_dict())
    sam.save_pretrained(tmp_path / "sam")
    source.llm.save_pretrained(tmp_path / "llm")
    torch.manual_seed(2)
    model = M.build_model("tiny", VOCAB, IMAGE_ID, siglip_path=tmp_path / "siglip",
                          sam_path=tmp_path / "sam", llm_path=tmp_path / "llm")
    assert _same(model.vision, source.vision)
    assert _same(model.llm, source.llm)
    assert not _same(model.adaptor, source.adaptor)  # not in any checkpoint: fresh


def test_full_published_checkpoint_folders_load(tmp_path):
    """google/siglip-* and facebook/sam-vit-* folders hold the whole SiglipModel / SamModel."""
    from transformers import SamConfig, SamModel, SiglipConfig, SiglipModel

    cfg = get_preset("tiny")
    vision = {k: v for k, v in cfg.siglip.items() if k != "vision_use_head"}
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                vocab_size=100)
    siglip = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
    siglip.save_pretrained(tmp_path / "siglip")
    sam = SamModel(SamConfig(vision_config=cfg.sam))
    sam.save_pretrained(tmp_path / "sam")
    model = M.build_model("tiny", VOCAB, IMAGE_ID, siglip_path=tmp_path / "siglip",
                          sam_path=tmp_path / "sam")
    want = siglip.vision_model.state_dict()
    got = model.vision.siglip.model.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in got)  # the pooling head is left out
    assert _same(model.vision.sam.encoder, sam.vision_encoder)


def test_checkpoint_of_another_shape_is_an_error(tmp_path):
    from transformers import SiglipVisionConfig, SiglipVisionModel

    cfg = dict(get_preset("tiny").siglip, num_hidden_layers=3)
    SiglipVisionModel(SiglipVisionConfig(**cfg)).save_pretrained(tmp_path / "deeper")
    with pytest.raises(ValueError, match="num_hidden_layers"):
        M.build_model("tiny", VOCAB, IMAGE_ID, siglip_path=tmp_path / "deeper")
    # The same through a timm file: the extra block has no place.
    state = SiglipVisionModel(SiglipVisionConfig(**cfg)).state_dict()
    save_file({k: v.contiguous() for k, v in _to_timm_siglip(state).items()},
              str(tmp_path / "deeper.safetensors"))
    with pytest.raises(ValueError, match="no place"):
        M.build_model("tiny", VOCAB, IMAGE_ID, siglip_path=tmp_path / "deeper.safetensors")


def test_llm_checkpoint_config_is_kept_through_export(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    llm_cfg = dict(get_preset("tiny").llm, rope_parameters={"rope_type": "default",
                                                           "rope_theta": 500000.0})
    LlamaForCausalLM(LlamaConfig(**llm_cfg, vocab_size=VOCAB - 20)).save_pretrained(tmp_path / "llm")
    model = M.build_model("tiny-siglip", VOCAB, IMAGE_ID, llm_path=tmp_path / "llm")
    assert model.vocab_size == VOCAB  # grown to the tokenizer's size
    assert model.config.llm["rope_parameters"]["rope_theta"] == 500000.0
    loaded = M.load_exported(M.export_hf(model, None, tmp_path / "export"))
    ids = torch.randint(0, IMAGE_ID, (1, 20))
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=0)


def test_bf16_model_takes_float32_pixels():
    torch.manual_seed(0)
    model = M.build_model("tiny", VOCAB, IMAGE_ID, dtype=torch.bfloat16)
    ids, pixels = _batch(model)
    out = model(ids, labels=ids, pixel_values=pixels)
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)
    out.loss.backward()


def _to_timm_siglip(state):
    """The inverse of the loader's mapping, written from timm's names for the test."""
    out = {}
    for key, value in state.items():
        if key == "embeddings.position_embedding.weight":
            out["pos_embed"] = value[None]
        elif key.startswith("embeddings.patch_embedding."):
            out[key.replace("embeddings.patch_embedding.", "patch_embed.proj.")] = value
        elif key.startswith("post_layernorm."):
            out[key.replace("post_layernorm.", "norm.")] = value
        elif ".self_attn.q_proj." in key:
            base = key.replace("encoder.layers.", "blocks.").split(".self_attn.")[0]
            kind = key.rsplit(".", 1)[1]
            parts = [state[key.replace("q_proj", p)] for p in ("q_proj", "k_proj", "v_proj")]
            out[f"{base}.attn.qkv.{kind}"] = torch.cat(parts)
        elif ".self_attn." in key and "out_proj" not in key:
            continue
        else:
            key = key.replace("encoder.layers.", "blocks.").replace("self_attn.out_proj", "attn.proj")
            out[key.replace("layer_norm1", "norm1").replace("layer_norm2", "norm2")] = value
    return out


def _to_sam_checkpoint(state):
    """segment-anything layout: `image_encoder.` prefix, neck as a Sequential, mlp.lin1."""
    renames = {"patch_embed.projection": "patch_embed.proj", "layers.": "blocks.",
               "layer_norm1": "norm1", "layer_norm2": "norm2", "neck.conv1": "neck.0",
               "neck.norm1": "neck.1", "neck.conv2": "neck.2"}
    out = {}
    for key, value in state.items():
        if key.startswith("neck.layer_norm1"):
            key = key.replace("neck.layer_norm1", "neck.1")
        elif key.startswith("neck.layer_norm2"):
            key = key.replace("neck.layer_norm2", "neck.3")
        for old, new in renames.items():
            key = key.replace(old, new)
        out["image_encoder." + key] = value
    return out


def test_timm_layout_checkpoints_load(tmp_path):
    source = _model(seed=1)
    siglip = _to_timm_siglip(source.vision.siglip.model.state_dict())
    # Spot-check against timm's own names, so the test's inverse is not just the mirror.
    assert {"pos_embed", "blocks.0.attn.qkv.weight", "blocks.1.mlp.fc2.bias", "norm.weight",
            "patch_embed.proj.weight"} <= set(siglip)
    siglip["attn_pool.latent"] = torch.zeros(1, 1, 32)  # unused MAP head: dropped
    save_file({"vision_tower." + k: v.contiguous() for k, v in siglip.items()},
              str(tmp_path / "siglip.safetensors"))
    sam = _to_sam_checkpoint(source.vision.sam.encoder.state_dict())
    assert {"image_encoder.neck.0.weight", "image_encoder.neck.3.bias",
            "image_encoder.blocks.1.attn.rel_pos_h", "image_encoder.blocks.0.mlp.lin1.weight"} <= set(sam)
    torch.save(sam, tmp_path / "sam.pth")
    model = M.build_model("tiny", VOCAB, IMAGE_ID, siglip_path=tmp_path / "siglip.safetensors",
                          sam_path=tmp_path / "sam.pth")
    assert _same(model.vision, source.vision)
    assert model.config.siglip["hidden_act"] == "gelu"  # timm's exact GELU


def test_incomplete_checkpoint_is_an_error(tmp_path):
    source = _model(seed=1)
    siglip = _to_timm_siglip(source.vision.siglip.model.state_dict())
    del siglip["blocks.1.mlp.fc1.weight"]
    save_file({k: v.contiguous() for k, v in siglip.items()}, str(tmp_path / "s.safetensors"))
    with pytest.raises(ValueError, match="lacks"):
        M.build_model("tiny", VOCAB, IMAGE_ID, siglip_path=tmp_path / "s.safetensors")
    with pytest.raises(FileNotFoundError):
        M.build_model("tiny", VOCAB, IMAGE_ID, sam_path=tmp_path / "missing.pth")


def test_presets():
    assert {"tiny", "tiny-siglip", "deepseek-vl-1.3b", "deepseek-vl-7b"} <= set(PRESETS)
    with pytest.raises(KeyError, match="deepseek-vl-7b"):
        get_preset("nope")
    big = get_preset("deepseek-vl-7b")
    assert (big.image_size, big.low_res_size, big.num_image_tokens) == (1024, 384, 576)
    assert big.image_mean_colour == (122, 116, 104)
    small = get_preset("deepseek-vl-1.3b")
    assert (small.vision, small.image_size, small.image_mean_colour) == ("siglip", 384, (127,) * 3)


def test_real_shapes_parameter_counts():
    small = M.parameter_counts("deepseek-vl-1.3b")
    big = M.parameter_counts("deepseek-vl-7b")
    assert 300e6 < small["siglip"] < 310e6 and small["sam"] == 0
    # 1024*2048 + 2048 + 2048*2048 + 2048
    assert small["adaptor"] == 6_295_552
    # DeepSeek-LLM 1.3B: ~1.2B in the blocks, +2 x 102400 x 2048 for embedding and head.
    assert 1.6e9 < small["llm"] < 1.7e9
    assert 85e6 < big["sam"] < 95e6 and big["siglip"] == small["siglip"]
    assert 6.8e9 < big["llm"] < 7.0e9
    assert 7.2e9 < big["total"] < 7.5e9
    flops = M.flops_per_token("deepseek-vl-7b", 4096)
    assert 6 * (big["llm"] - big["llm_embedding"]) < flops < 1.2 * 6 * big["llm"]


def test_tiny_overfits_one_batch():
    model = _model()
    M.set_trainable_for_stage(model, 3)
    ids, pixels = _batch(model, length=32)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    first = None
    for _ in range(30):
        loss = model(ids, labels=ids, pixel_values=pixels).loss
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


@pytest.mark.parametrize("preset,size,width", [("deepseek-vl-7b", 1024, 4096),
                                               ("deepseek-vl-1.3b", 384, 2048)])
def test_real_vision_path_shapes_on_meta(preset, size, width):
    """The paper's shapes end to end (SAM 64x64x256 -> 96 -> 48 -> 24; 576 tokens), on meta:
    shapes propagate, nothing is computed or allocated."""
    cfg = get_preset(preset)
    with torch.device("meta"):
        vision = M.VisionEncoder(cfg)
        adaptor = M.HybridAdaptor(cfg) if cfg.vision == "hybrid" else M.MlpAdaptor(cfg)
        low, high = vision(torch.empty(2, 3, size, size))
        tokens = adaptor(low, high)
    assert low.shape == (2, 576, 1024)
    assert tokens.shape == (2, 576, width)
    if cfg.vision == "hybrid":
        assert high.shape == (2, 256, 64, 64)
        assert adaptor.downsample.conv1.weight.shape == (512, 256, 3, 3)
