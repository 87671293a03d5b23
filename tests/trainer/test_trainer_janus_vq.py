"""The data side's tiny VQ is tiny-janus's VQ: one shape, ids that index its codebook, and a
folder that stage I loads as its VQ part."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vlforge.engines.runner import run_job
from vlforge.shards.reader import find_shards, iter_samples, sample_metadata
from vlforge.trainer.janus_data import janus_tokenizer
from vlforge.trainer.janus_parts import write_janus_parts
from vlforge.trainer.janus_weights import load_janus_parts
from vlforge.trainer.model import build_model
from vlforge.trainer.presets import get_preset
from vlforge.trainer.tokenizer import load_tokenizer
from vlforge.vq import save_tiny_vq

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_captions_vq", REPO / "examples" / "make_captions.py")
make_captions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_captions)


@pytest.fixture(scope="module")
def tiny_vq(tmp_path_factory):
    return save_tiny_vq(tmp_path_factory.mktemp("vq") / "tiny-vq", seed=5)


def test_tiny_vq_folder_has_the_tiny_janus_presets_vq_shape(tiny_vq):
    saved = json.loads((tiny_vq / "config.json").read_text())
    preset_vq = get_preset("tiny-janus").vq
    assert {k: saved[k] for k in preset_vq} == preset_vq
    assert saved["num_patches"] == 24  # 576 ids decode to the 24 x 24 grid


def test_captions_shard_ids_index_the_tiny_janus_codebook(tiny_vq, tmp_path):
    folder = tmp_path / "inputs"
    make_captions.write_folder(folder, make_captions.scenes(3, seed=11))
    run_job("captions", [str(folder)], str(tmp_path / "out"), "local", 1, quiet=True,
            assignments=(f"vq.model={tiny_vq}",))
    codebook = get_preset("tiny-janus").vq["num_embeddings"]
    stored = [json.loads(sample_metadata(s)["metadata"])["vq"] for shard in find_shards(tmp_path / "out")
              for s in iter_samples(shard)]
    assert len(stored) == 3
    for vq in stored:
        assert len(vq["ids"]) == get_preset("tiny-janus").num_image_tokens
        assert 0 <= min(vq["ids"]) and max(vq["ids"]) < codebook
        assert vq["codebook_size"] == codebook


def test_stage1_loads_the_tiny_vq_folder_as_its_vq_part(tiny_vq, tmp_path):
    parts = write_janus_parts("tiny-janus", tmp_path / "parts", vq=tiny_vq)
    tok = janus_tokenizer(load_tokenizer(parts["llm"]))
    model = build_model(get_preset("tiny-janus"), len(tok), tok.image_token_id)
    report = load_janus_parts(model, siglip=parts["siglip"], vq=parts["vq"], llm=parts["llm"])
    saved = load_file(tiny_vq / "model.safetensors")
    for name, tensor in model.model.vqmodel.state_dict().items():
        assert torch.equal(tensor, saved[name]), name
    assert torch.equal(model.model.generation_embeddings.weight, saved["quantize.embedding.weight"])
    assert set(report.loaded) >= {"model.vqmodel." + name for name in saved}
