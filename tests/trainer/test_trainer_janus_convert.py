"""The Janus release layout (deepseek-ai/Janus*) converted by `vlforge convert-checkpoint`.

Each test writes a tiny release folder itself: the released code's config.json
(multi_modality with gen_vision/gen_aligner/gen_head configs) and tensor names (timm SigLIP,
LlamaGen VQModel, MlpProjector layers.{0,2}, VisionHead, gen_embed, LlamaForCausalLM), made
from a random transformers Janus model, so the expected outputs are that model's own.
"""

from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors.torch import save_file
from tiny_checkpoints import siglip_timm
from transformers import JanusProcessor

from vlforge.cli import main as vlforge_main
from vlforge.trainer.convert import convert_release
from vlforge.trainer.janus_data import janus_tokenizer
from vlforge.trainer.janus_train import load_janus_export
from vlforge.trainer.model import build_model
from vlforge.trainer.presets import get_preset
from vlforge.trainer.tokenizer import load_tokenizer
from vlforge.trainer.weights import WeightsError

TOK = janus_tokenizer(load_tokenizer(None))

# transformers' JanusVQVAE names -> LlamaGen's VQModel names (after gen_vision_model.)
_VQ_TO_RELEASE = [
    (r"^(encoder)\.down\.(\d+)\.block\.", r"\1.conv_blocks.\2.res."),
    (r"^(encoder)\.down\.(\d+)\.", r"\1.conv_blocks.\2."),
    (r"^(decoder)\.up\.(\d+)\.block\.", r"\1.conv_blocks.\2.res."),
    (r"^(decoder)\.up\.(\d+)\.", r"\1.conv_blocks.\2."),
    (r"\.mid\.block_1\.", ".mid.0."), (r"\.mid\.attn_1\.", ".mid.1."), (r"\.mid\.block_2\.", ".mid.2."),
]
_REST_TO_RELEASE = {
    "model.aligner.fc1.": "aligner.layers.0.", "model.aligner.hidden_layers.0.": "aligner.layers.2.",
    "model.generation_aligner.fc1.": "gen_aligner.layers.0.",
    "model.generation_aligner.hidden_layers.0.": "gen_aligner.layers.2.",
    "model.generation_head.proj_out.": "gen_head.output_mlp_projector.",
    "model.generation_head.vision_head.": "gen_head.vision_head.",
    "model.generation_embeddings.": "gen_embed.", "model.language_model.": "language_model.model.",
    "lm_head.": "language_model.lm_head.",
}


@pytest.fixture(scope="module")
def source():
    """A random tiny Janus model; SigLIP with 16 heads, as `siglip_large_patch16_384` has."""
    cfg = get_preset("tiny-janus")
    cfg.siglip["num_attention_heads"] = 16
    torch.manual_seed(0)
    model = build_model(cfg, len(TOK), TOK.image_token_id, attention="eager").eval()
    with torch.no_grad():  # no parameter left at a constant init (norms at 1, biases at 0)
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.02)
    return model


def release_tensors(model) -> dict[str, torch.Tensor]:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    vision = {k[len("model.vision_model."):].replace(".projection_layer.", ".out_proj."): v
              for k, v in state.items() if k.startswith("model.vision_model.")}
    out = {"vision_model.vision_tower." + k: v for k, v in siglip_timm(vision).items()}
    for key, value in state.items():
        if key.startswith("model.vqmodel."):
            name = key[len("model.vqmodel."):]
            for pattern, repl in _VQ_TO_RELEASE:
                name = re.sub(pattern, repl, name)
            out["gen_vision_model." + name] = value
        elif prefix := next((p for p in _REST_TO_RELEASE if key.startswith(p)), None):
            out[_REST_TO_RELEASE[prefix] + key[len(prefix):]] = value
    out["gen_vision_model.quantize.codebook_used"] = torch.zeros(65536)  # the release's usage counter
    return out


def release_config(model) -> dict:
    text, vq = model.config.text_config, model.config.vq_config
    mlp = {"cls": "MlpProjector", "params": {"projector_type": "mlp_gelu", "depth": 2}}
    return {
        "model_type": "multi_modality", "architectures": ["MultiModalityCausalLM"], "torch_dtype": "float32",
        "vision_config": {"cls": "CLIPVisionTower", "model_type": "vision",
                          "params": {"image_size": 384, "model_name": "siglip_large_patch16_384",
                                     "select_feature": "same", "select_layer": -1}},
        "aligner_config": {**mlp, "params": {**mlp["params"], "input_dim": 32, "n_embed": text.hidden_size}},
        "gen_vision_config": {"cls": "VQ-16", "model_type": "gen_vision",
                              "params": {"image_token_size": vq.num_embeddings, "n_embed": vq.embed_dim}},
        "gen_aligner_config": {**mlp, "params": {**mlp["params"], "input_dim": vq.embed_dim,
                                                 "n_embed": text.hidden_size}},
        "gen_head_config": {"cls": "vision_head", "model_type": "gen_head",
                            "params": {"image_token_embed": text.hidden_size, "image_token_size": vq.num_embeddings,
                                       "n_embed": text.hidden_size}},
        "language_config": {"model_type": "llama", "vocab_size": text.vocab_size, "hidden_size": text.hidden_size,
                            "intermediate_size": text.intermediate_size,
                            "num_hidden_layers": text.num_hidden_layers,
                            "num_attention_heads": text.num_attention_heads,
                            "num_key_value_heads": text.num_key_value_heads, "max_position_embeddings": 1024},
    }


def write_release(model, folder, *, drop: str | None = None, extra: str | None = None):
    folder.mkdir(parents=True)
    tensors = {k: v.contiguous() for k, v in release_tensors(model).items() if k != drop}
    if extra:
        tensors[extra] = torch.zeros(3)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(release_config(model), indent=1))
    TOK.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def converted(source, tmp_path_factory):
    root = tmp_path_factory.mktemp("janus-release")
    src = write_release(source, root / "release")
    assert vlforge_main(["convert-checkpoint", str(src), str(root / "hf")]) == 0
    return root / "hf"


def test_converted_folder_gives_the_source_models_logits(source, converted):
    model = load_janus_export(converted)  # from_pretrained; any missing or left-over weight fails
    assert type(model).__name__ == "JanusForConditionalGeneration"
    torch.manual_seed(1)
    ids = torch.tensor([[TOK.bos_token_id] + [TOK.image_token_id] * 576 + list(range(40, 60))])
    pixels = torch.randn(1, 3, 384, 384)
    with torch.no_grad():
        expected = source(input_ids=ids, pixel_values=pixels).logits
        got = model(input_ids=ids, pixel_values=pixels).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def image_head(model, image_ids):
    """The image head's logits on the generation embeddings (codebook table -> aligner) of ids."""
    return model.model.generation_head(model.prepare_embeddings_for_image_generation(image_ids))


def test_converted_generation_path_and_vq_match_the_source(source, converted):
    model = load_janus_export(converted)
    image_ids = torch.randint(0, source.config.vq_config.num_embeddings, (1, 576))
    with torch.no_grad():
        torch.testing.assert_close(image_head(model, image_ids), image_head(source, image_ids), atol=1e-5, rtol=0)
        torch.testing.assert_close(model.model.vqmodel.decode(image_ids), source.model.vqmodel.decode(image_ids),
                                   atol=1e-5, rtol=0)
    saved = json.loads((converted / "config.json").read_text())
    assert saved["vq_config"]["channel_multiplier"] == source.config.vq_config.channel_multiplier
    assert saved["image_token_id"] == TOK.image_token_id
    assert json.loads((converted / "generation_config.json").read_text())["guidance_scale"] == 5.0
    processor = JanusProcessor.from_pretrained(str(converted))
    assert processor.tokenizer.convert_tokens_to_ids("<begin_of_image>") == TOK.convert_tokens_to_ids("<begin_of_image>")


def test_a_missing_or_unknown_release_tensor_is_named(source, tmp_path):
    missing = "gen_head.vision_head.weight"
    src = write_release(source, tmp_path / "missing", drop=missing)
    with pytest.raises(WeightsError, match="lacks") as err:
        convert_release(src, tmp_path / "out1")  # what convert-checkpoint calls
    assert err.value.names == ["model.generation_head.vision_head.weight"]
    src = write_release(source, tmp_path / "extra", extra="gen_head.surprise.weight")
    with pytest.raises(WeightsError, match="no place") as err:
        convert_release(src, tmp_path / "out2")
    assert err.value.names == ["gen_head.surprise.weight"]
    assert not (tmp_path / "out1").exists() and not (tmp_path / "out2").exists()
