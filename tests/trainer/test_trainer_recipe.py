"""The documented recipe "Stage 3 from the released model" (configs/sft-from-release.yaml), run
as the README says, with its paths and the preset overridden by --set: a tiny release-layout
folder (and the same converted to a transformers folder) and the SFT shards of `vlforge run sft`
on the bundled conversations, 2 steps on CPU. Also the README Training section's device
choices (attention kernel, mixed precision) that no other test holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_trainer_loop import records, run_ranks
from tiny_checkpoints import IMAGE_TOKEN_ID, VOCAB, config, model_class, write_release
from transformers import AutoModelForImageTextToText, AutoProcessor

from vlforge.trainer import convert
from vlforge.trainer.config import load_train_config
from vlforge.trainer.distributed import DistEnv, mixed_precision_policy
from vlforge.trainer.tokenizer import load_tokenizer
from vlforge.trainer.train import _attention

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "configs" / "sft-from-release.yaml"
CONVERSATIONS = REPO / "examples" / "sft" / "conversations.jsonl"
EXTRA_TOKENS = ["<extra-0>", "<extra-1>", "<extra-2>", "<extra-3>"]


@pytest.fixture(scope="module")
def sft_shards(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sft") / "sft"
    subprocess.run([sys.executable, "-m", "vlforge", "run", "sft", str(CONVERSATIONS), "--output", str(out),
                    "--workers", "1"], check=True, capture_output=True, cwd=REPO, timeout=300)
    return out / "shards"


def tiny_release(folder: Path):
    """A release folder of preset tiny-siglip's shape (SigLIP 32 px, patch 8: 16 image tokens;
    Llama 64 wide, 2 layers) whose tokenizer has 4 tokens more than the byte tokenizer the
    run would otherwise use. The hybrid has no tiny release shape: the release resizes the
    SAM map to 96x96, which fits SigLIP's 24x24 grid only."""
    torch.manual_seed(3)
    cfg = config("simple", image_size=32, patch_size=8)
    cfg.text_config.vocab_size = VOCAB + len(EXTRA_TOKENS)
    model = model_class("simple")(cfg).eval()
    write_release(model, folder)
    tokenizer = load_tokenizer(folder)
    tokenizer.add_tokens(EXTRA_TOKENS)
    tokenizer.save_pretrained(folder)
    raw = json.loads((folder / "config.json").read_text())
    raw["vision_config"]["params"]["image_size"] = 32
    (folder / "config.json").write_text(json.dumps(raw))
    return model


@pytest.mark.parametrize("layout", ["release", "transformers"])
def test_sft_recipe_from_a_released_model(tmp_path, sft_shards, layout):
    source = tiny_release(tmp_path / "deepseek-vl-tiny")
    folder = tmp_path / "deepseek-vl-tiny"
    if layout == "transformers":
        folder = convert.convert_release(folder, tmp_path / "converted")
    result = run_ranks("--stage", "3", "--config", str(RECIPE), "--set", "model.preset=tiny-siglip",
                       "--set", f"checkpoint.init_from={folder}", "--set", f"data.sft={sft_shards}",
                       "--set", f"output_dir={tmp_path / 'run'}", "--set", "steps=2",
                       "--set", "batch.global=2", "--set", "log_every=1", nproc=1)
    # the load report: every tensor of the model from the folder, none left at its init
    total = len(source.state_dict())
    report = next(line for line in result.stdout.splitlines() if line.startswith("weights: "))
    assert f"{folder} ({layout}): loaded {total} of the model's {total} tensors" in report
    assert "new layers" not in report
    losses = [r["loss"] for r in records(tmp_path / "run")]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))

    export = tmp_path / "run" / "export"
    trained, info = AutoModelForImageTextToText.from_pretrained(export, output_loading_info=True,
                                                                local_files_only=True)
    assert type(trained) is model_class("simple")
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    # the run's tokenizer was the folder's (the export writes the run's)
    tokenizer = AutoProcessor.from_pretrained(export, local_files_only=True).tokenizer
    assert tokenizer.image_token_id == trained.config.image_token_id
    assert len(tokenizer) == VOCAB + len(EXTRA_TOKENS) and "<extra-3>" in tokenizer.get_vocab()
    before, after = source.state_dict(), trained.state_dict()
    # stage 3 trains the LLM, the aligner and SigLIP: they moved from the released weights
    for name in ("model.language_model.layers.0.mlp.up_proj.weight", "model.aligner.linear1.weight",
                 "model.vision_model.encoder.layers.0.mlp.fc1.weight"):
        assert not torch.equal(before[name], after[name]), name


def test_attention_and_precision_follow_packing_and_the_device():
    """README: `attention: auto` is flex_attention for packed rows on CUDA, sdpa elsewhere;
    bf16 parameters with fp32 reductions on GPUs, fp32 on CPU."""
    cuda, cpu = (DistEnv(0, 1, 0, torch.device(kind)) for kind in ("cuda", "cpu"))
    packed = load_train_config(None, ("data.packing=true",), stage=2)
    unpacked = load_train_config(None, ("data.packing=false",), stage=2)
    assert (_attention(packed, cuda), _attention(unpacked, cuda), _attention(packed, cpu)) == \
        ("flex_attention", "sdpa", "sdpa")
    assert _attention(load_train_config(None, ("data.packing=true", "attention=eager"), stage=2), cuda) == "eager"
    on_gpu, on_cpu = mixed_precision_policy("auto", cuda.device), mixed_precision_policy("auto", cpu.device)
    assert (on_gpu.param_dtype, on_gpu.reduce_dtype) == (torch.bfloat16, torch.float32)
    assert on_cpu.param_dtype is None


def test_second_sam_branch_starts_switched_off():
    """README: a stage 1 from parts leaves the hybrid's second-branch scale at its init, 0."""
    from vlforge.trainer.model import build_model

    model = build_model("tiny", VOCAB, IMAGE_TOKEN_ID)
    assert model.model.high_res_vision_alpha.abs().max().item() == 0
