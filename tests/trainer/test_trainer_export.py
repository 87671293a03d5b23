"""The export is a transformers folder: AutoModelForImageTextToText loads it with no missing or
unexpected keys and no code of ours, and gives the trained model's logits."""

from __future__ import annotations

import pytest
import torch
from test_trainer_loop import make_shards, write_config
from transformers import AutoModelForImageTextToText, AutoProcessor

from vlforge.trainer.config import load_train_config
from vlforge.trainer.distributed import init_distributed, shutdown
from vlforge.trainer.evaluation import make_mc_set
from vlforge.trainer.model import forward, model_inputs
from vlforge.trainer.train import export, setup_run, train_step


@pytest.mark.parametrize("preset", ["tiny", "tiny-siglip"])
def test_export_loads_with_auto_class_and_gives_the_trained_logits(tmp_path, preset):
    shards = make_shards(tmp_path / "shards")
    mc_set = make_mc_set(shards["pairs"], tmp_path / "mc" / "mc.jsonl", items=4, options=4)
    config = load_train_config(str(write_config(tmp_path, shards, mc_set)), (
        f"model.preset={preset}", "steps=2", "checkpoint.init_from=", "eval.mc_set=", "batch.micro=4"), stage=3)
    env = init_distributed()
    try:
        run, _ = setup_run(config, env)
        for step in (1, 2):
            train_step(run, step)
        batch = next(b for b in iter(run.batches.__next__, None) if b["pixel_values"] is not None)
        inputs = model_inputs(batch, env.device)
        with torch.no_grad():
            trained = forward(run.model, inputs)
        folder = export(run)
        run.batches.close()
    finally:
        shutdown()
    model, info = AutoModelForImageTextToText.from_pretrained(folder, output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set() and not info["mismatched_keys"]
    assert type(model).__name__ == ("DeepseekVLHybridForConditionalGeneration" if preset == "tiny"
                                    else "DeepseekVLForConditionalGeneration")
    with torch.no_grad():
        loaded = model(**inputs, use_cache=False).logits
    torch.testing.assert_close(loaded, trained, rtol=0, atol=1e-6)
    processor = AutoProcessor.from_pretrained(folder)  # image processor, tokenizer, chat template
    assert processor.tokenizer.convert_tokens_to_ids("<image_placeholder>") == model.config.image_token_id
