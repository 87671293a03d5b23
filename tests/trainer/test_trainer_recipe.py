"""The documented recipe "Stage 3 from the released model" (configs/sft-from-release.yaml), run
as the README says, with its paths and the preset overridden by --set: a tiny release-layout
folder (and the same converted to a transformers folder) and the SFT shards of `vlforge run sft`
on the bundled conversations, 2 steps on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_trainer_loop import records, run_ranks
from tiny_checkpoints import model_class, random_model, write_release
from transformers import AutoModelForImageTextToText, AutoProcessor

from vlforge.trainer import convert

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "configs" / "sft-from-release.yaml"
CONVERSATIONS = REPO / "examples" / "sft" / "conversations.jsonl"


@pytest.fixture(scope="module")
def sft_shards(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sft") / "sft"
    subprocess.run([sys.executable, "-m", "vlforge", "run", "sft", str(CONVERSATIONS), "--output", str(out),
                    "--workers", "1"], check=True, capture_output=True, cwd=REPO, timeout=300)
    return out / "shards"


def tiny_release(folder: Path):
    """A release folder of preset tiny-siglip's shape (SigLIP 32 px, patch 8: 16 image tokens;
    Llama 64 wide, 2 layers). The hybrid has no tiny release shape: the release resizes the
    SAM map to 96x96, which fits SigLIP's 24x24 grid only."""
    model = random_model("simple", seed=3, image_size=32, patch_size=8)
    write_release(model, folder)
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
    assert AutoProcessor.from_pretrained(export, local_files_only=True).tokenizer.image_token_id == \
        trained.config.image_token_id
    before, after = source.state_dict(), trained.state_dict()
    # stage 3 trains the LLM, the aligner and SigLIP: they moved from the released weights
    for name in ("model.language_model.layers.0.mlp.up_proj.weight", "model.aligner.linear1.weight",
                 "model.vision_model.encoder.layers.0.mlp.fc1.weight"):
        assert not torch.equal(before[name], after[name]), name
