"""The Janus stage settings a run gets by default: data ratios per stage and preset, and the
step at which stage II's generation curriculum moves from class names to captions."""

from __future__ import annotations

import pytest

from vlforge.errors import VlforgeError
from vlforge.trainer.config import build_train_config, resolve_train_options
from vlforge.trainer.janus_train import janus_ratio, switch_step
from vlforge.trainer.presets import get_preset, hf_config


def config(stage: int, preset: str = "tiny-janus", *extra: str):
    return build_train_config(resolve_train_options(None, (f"model.preset={preset}", "steps=30", *extra), stage))


@pytest.mark.parametrize(("stage", "preset", "ratio"), [
    (1, "tiny-janus", (1.0, 0.0, 1.0)),      # stage I reads no text
    (2, "janus-1.3b", (7.0, 3.0, 10.0)),     # Janus SFT ratio (stage II's is not published)
    (3, "janus-1.3b", (7.0, 3.0, 10.0)),
    (3, "janus-pro-7b", (5.0, 1.0, 4.0)),    # Janus-Pro SFT ratio
    (3, "janus-pro-1b", (5.0, 1.0, 4.0)),
])
def test_default_ratio_understanding_text_generation(stage, preset, ratio):
    assert janus_ratio(config(stage, preset), preset) == ratio


def test_ratio_setting_overrides_the_preset_and_bad_ratios_are_refused():
    assert janus_ratio(config(3, "janus-pro-7b", "data.janus_ratio=1,1,2"), "janus-pro-7b") == (1.0, 1.0, 2.0)
    with pytest.raises(VlforgeError, match="janus_ratio"):
        config(3, "tiny-janus", "data.janus_ratio=1,-1,2")


def test_curriculum_switch_defaults_to_two_thirds_of_stage_two():
    assert switch_step(config(2)) == 20  # 2/3 of 30 steps on class names, then captions
    assert switch_step(config(2, "tiny-janus", "data.curriculum_switch=0.5")) == 15
    assert switch_step(config(1)) == 0 and switch_step(config(3)) == 0  # captions from the start


def test_generation_reads_class_names_in_stage_one_and_until_the_switch_in_stage_two(tmp_path):
    from test_trainer_janus import write_captions

    from vlforge.trainer.janus_data import janus_tokenizer
    from vlforge.trainer.janus_train import janus_batches
    from vlforge.trainer.presets import get_preset
    from vlforge.trainer.tokenizer import load_tokenizer

    captions = write_captions(tmp_path / "captions", "caption", 4)
    imagenet = write_captions(tmp_path / "imagenet", "class_name", 4)
    tok = janus_tokenizer(load_tokenizer(None))
    data = (f"data.captions=[{captions}]", f"data.imagenet=[{imagenet}]", "data.language=[]", "data.janus_ratio=0,0,1",
            "batch.global=1")

    class Rank:
        rank, world_size = 0, 1

    for stage, steps in ((1, (0, 29)), (2, (0, 19)), (2, (20, 29)), (3, (0,))):
        batches = janus_batches(config(stage, "tiny-janus", *data), tok, get_preset("tiny-janus"), Rank, 1)
        expected = "imagenet" if stage == 1 or (stage == 2 and steps[0] < 20) else "generation"
        assert {batches.generation_source(s) for s in steps} == {expected}, (stage, steps)
        batches.close()


@pytest.mark.parametrize(("preset", "shape"), [
    ("janus-1.3b", (2048, 24, 16, 5632)), ("janus-pro-1b", (2048, 24, 16, 5632)),
    ("janus-pro-7b", (4096, 30, 32, 11008))])
def test_janus_presets_have_the_released_llm_and_vision_shapes(preset, shape):
    config = hf_config(get_preset(preset), vocab_size=102400 + 3, image_token_id=100015)
    text, vision, vq = config.text_config, config.vision_config, config.vq_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.intermediate_size) == shape
    assert text.max_position_embeddings == 16384
    assert (vision.hidden_size, vision.num_hidden_layers, vision.image_size, vision.patch_size) == (1024, 24, 384, 16)
    assert (vq.num_embeddings, vq.embed_dim, vision.num_image_tokens) == (16384, 8, 576)
