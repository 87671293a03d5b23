"""Janus training runs: exact resume (slot kinds and sources, the curriculum, the
first-sentence and unconditional draws continue as in an uninterrupted run) and a 2-rank
gloo run on CPU whose export loads. tiny-janus, real shards of every kind the trainer reads."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
import yaml
from conftest import REPO
from test_trainer_janus import write_captions
from test_trainer_janus_chat import write_sft

from vlforge.schemas import Provenance, Sample, make_key
from vlforge.shards.writer import ShardWriter
from vlforge.trainer.config import build_train_config, resolve_train_options
from vlforge.trainer.janus_train import load_janus_export
from vlforge.trainer.train import train


def write_texts(directory, n: int = 4):
    writer = ShardWriter(directory, directory.name, max_count=2)
    for i in range(n):
        writer.write(Sample(make_key("text", "/src/text", i), "text", f"Sentence number {i} of the text. " * 3,
                            "plain", Provenance("/src/text")))
    writer.close()
    return directory


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("janus-loop")
    return {"captions": write_captions(root / "captions", "caption", 8),
            "imagenet": write_captions(root / "imagenet", "class_name", 8),
            "text": write_texts(root / "text"), "sft": write_sft(root / "sft", 4, 4)}


def janus_settings(shards, output_dir, *extra: str) -> tuple[str, ...]:
    """tiny-janus from its random init (no parts), every data kind, draws that matter."""
    return ("model.preset=tiny-janus", f"data.captions=[{shards['captions']}]",
            f"data.imagenet=[{shards['imagenet']}]", f"data.language=[{shards['text']}]",
            f"data.sft=[{shards['sft']}]", "data.janus_ratio=2,1,2", "data.first_sentence_share=0.5",
            "data.uncond_share=0.3", "checkpoint.init_from=", f"output_dir={output_dir}", *extra)


def run_in_process(stage: int, settings: tuple[str, ...]) -> dict:
    return train(build_train_config(resolve_train_options(None, settings, stage)))


def test_janus_resume_gives_the_same_losses_and_weights(shards, tmp_path):
    # Stage II, 4 steps of 2 accumulated micro-batches: the curriculum switches at step 2
    # (0.5 of 4), which is where the run is stopped and resumed.
    options = ("steps=4", "batch.global=2", "batch.micro=1", "data.curriculum_switch=0.5",
               "checkpoint.every=2", "data.prefetch=2")
    straight = run_in_process(2, janus_settings(shards, tmp_path / "straight", *options))
    resumed = tmp_path / "resumed"
    shutil.copytree(tmp_path / "straight" / "checkpoints" / "step-000002", resumed / "checkpoints" / "step-000002")
    again = run_in_process(2, janus_settings(shards, resumed, *options))
    assert again["start_step"] == 2 and again["losses"] == straight["losses"][2:]
    before = load_janus_export(straight["export"]).state_dict()
    after = load_janus_export(again["export"]).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_janus_on_two_gloo_ranks_trains_and_exports(shards, tmp_path):
    settings = janus_settings(shards, tmp_path / "stage3", "steps=2", "batch.global=2", "batch.micro=1",
                              "checkpoint.every=0")
    config = tmp_path / "janus.yaml"
    config.write_text(yaml.safe_dump({"log_every": 1}))
    args = [sys.executable, "-m", "vlforge.trainer", "--nproc", "2", "--stage", "3", "--config", str(config)]
    for setting in settings:
        args += ["--set", setting]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(args, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = (tmp_path / "stage3" / "metrics.jsonl").read_text().splitlines()
    losses = [r["loss"] for r in map(json.loads, lines) if r["kind"] == "train"]
    # the logged loss is the sum over both ranks' targets: finite only if each rank's is
    assert len(losses) == 2 and all(math.isfinite(loss) and loss > 0 for loss in losses)
    summary = json.loads((tmp_path / "stage3" / "summary.json").read_text())
    assert summary["world_size"] == 2
    model = load_janus_export(tmp_path / "stage3" / "export")
    assert type(model).__name__ == "JanusForConditionalGeneration"
