"""A training run prints no warning that says nothing useful.

Two used to show at every run: transformers' "`DeepseekVLHybridImageProcessor` requires
torchvision (not installed); falling back to ..." (the trainer named the torchvision-backend
classes, which vlforge does not install) and FSDP2's "FSDP2-wrapped module
(FSDPDeepseekVLHybridForConditionalGeneration) returned a view tensor" (the root returned the
vision encoders' outputs, views, beside the logits). The second fix must not move a loss.
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from test_trainer_loop import make_shards, records, run_ranks, write_config

from vlforge.trainer.distributed import (
    init_distributed,
    mixed_precision_policy,
    shard_model,
    shutdown,
)
from vlforge.trainer.evaluation import make_mc_set
from vlforge.trainer.images import image_sizes
from vlforge.trainer.model import (
    build_model,
    causal_lm_loss,
    drop_image_outputs,
    forward,
    fsdp_units,
    set_trainable_for_stage,
)
from vlforge.trainer.presets import get_preset
from vlforge.trainer.processing import num_image_tokens
from vlforge.trainer.tokenizer import load_tokenizer

FALLBACK = "requires torchvision"
VIEW = "returned a view tensor"


def test_a_short_run_and_its_export_print_neither_warning(tmp_path):
    shards = make_shards(tmp_path / "shards")
    mc_set = make_mc_set(shards["pairs"], tmp_path / "mc" / "mc.jsonl", items=4, options=4)
    config = write_config(tmp_path, shards, mc_set)
    result = run_ranks("--stage", "1", "--config", str(config), "--set", "steps=3", "--set", "batch.global=2",
                       "--set", "eval.mc_set=", "--set", "checkpoint.every=0", nproc=1)
    output = result.stdout + result.stderr
    assert FALLBACK not in output, output[-3000:]
    assert VIEW not in output, output[-3000:]
    assert len(records(tmp_path / "stage1")) == 3
    # The export names the backend-neutral class: AutoProcessor picks torchvision's where it
    # is installed and PIL's where it is not.
    saved = json.loads((tmp_path / "stage1" / "export" / "processor_config.json").read_text())
    assert saved["image_processor"]["image_processor_type"] == "DeepseekVLHybridImageProcessor"


def _batch(preset: str, tokenizer) -> tuple[dict, torch.Tensor]:
    """One row: an image's placeholder positions, then text; every text position supervised."""
    cfg = get_preset(preset)
    sizes, generator = image_sizes(cfg), torch.Generator().manual_seed(1)
    text = torch.randint(0, 200, (1, 24), generator=generator)
    ids = torch.cat([torch.full((1, num_image_tokens(cfg)), tokenizer.image_token_id), text], dim=1)
    inputs = {"input_ids": ids, "pixel_values": torch.randn(1, 3, sizes.low, sizes.low, generator=generator)}
    if sizes.hybrid:
        inputs["high_res_pixel_values"] = torch.randn(1, 3, sizes.high, sizes.high, generator=generator)
    return inputs, ids.masked_fill(ids == tokenizer.image_token_id, -100)


def _loss_and_grads(preset: str, drop: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[str]]:
    """Loss, gradients and warning texts of one forward and backward of the sharded model, set
    up as stage 3 (the most that trains; SAM never does, so its unit's output needs no grad)."""
    tokenizer = load_tokenizer(None)
    torch.manual_seed(0)
    model = build_model(preset, len(tokenizer), tokenizer.image_token_id)
    set_trainable_for_stage(model, 3)
    if drop:
        drop_image_outputs(model)
    shard_model(model, fsdp_units(model), mixed_precision_policy("auto", torch.device("cpu")))
    inputs, labels = _batch(preset, tokenizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss, _ = causal_lm_loss(forward(model, inputs), labels, "sum")
        loss.backward()
    grads = {name: p.grad.full_tensor() for name, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads, [str(w.message) for w in caught]


@pytest.mark.parametrize("preset", ["tiny", "tiny-siglip"])
def test_the_trimmed_output_warns_no_view_and_changes_no_loss_or_gradient(preset):
    init_distributed()
    try:
        plain_loss, plain_grads, plain_warnings = _loss_and_grads(preset, drop=False)
        loss, grads, caught = _loss_and_grads(preset, drop=True)
    finally:
        shutdown()
    assert any(VIEW in text for text in plain_warnings)  # what the trimming is for
    assert not [text for text in caught if VIEW in text]
    assert torch.equal(loss, plain_loss) and grads.keys() == plain_grads.keys()
    assert all(torch.equal(grads[name], plain_grads[name]) for name in grads)
