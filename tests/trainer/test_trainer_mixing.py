"""Trainer mixing: ratio and modality warm-up, grouping across ranks, packing, resume."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import png_bytes

from vlforge.schemas import Provenance, Sample, make_key
from vlforge.shards.writer import ShardWriter
from vlforge.trainer.chat_format import IGNORE_INDEX
from vlforge.trainer.data import ExampleEncoder, ShardSource
from vlforge.trainer.images import image_processor
from vlforge.trainer.mixing import MixedBatches, language_share, target_share
from vlforge.trainer.presets import get_preset
from vlforge.trainer.tokenizer import load_tokenizer

N_IMAGE, SEQ = 16, 160
PROCESSOR = image_processor(get_preset("tiny"))  # 16 image tokens, SigLIP 32 px + SAM 64 px


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(None)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Language texts, image pairs and SFT conversations (with and without image) as shards."""
    root = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(0)
    with_image = {"image": png_bytes(12, 10, 1), "image_format": "png", "image_size": (12, 10)}
    writers = {name: ShardWriter(root / name, name, max_count=16) for name in ("text", "pairs", "sft")}
    for i in range(40):
        words = " ".join(f"w{j}" for j in range(int(rng.integers(5, 60))))
        writers["text"].write(Sample(make_key("text", "/t", i), "text", f"text {i}: {words}", "plain",
                                     Provenance("/t")))
        writers["pairs"].write(Sample(make_key("pairs", "/p", i), "pairs", f"print({i})\n" * int(rng.integers(1, 8)),
                                      "code", Provenance("/p"), **with_image))
        record = {"query": f"question {i}?", "response": f"answer {i}."}
        extra = with_image if i % 2 else {}
        writers["sft"].write(Sample(make_key("sft", "/s", i), "sft", json.dumps(record), "conversation",
                                    Provenance("/s"), **extra))
    for writer in writers.values():
        writer.close()
    return root


def make_batches(tok, shards, rank=0, world_size=2, sft_share=0.0, **options):
    encoder = ExampleEncoder(tok, SEQ, N_IMAGE)
    brief = ExampleEncoder(tok, SEQ, N_IMAGE, system_prompt="Be brief.")  # byte tokens: keep SFT short

    def source(name, kind, **kw):
        return ShardSource(shards / name, kind, brief if kind == "sft" else encoder, seed=5, rank=rank,
                           world_size=world_size, **kw)

    sources = {"language": source("text", "language"), "multimodal": source("pairs", "multimodal")}
    sft = {"language": source("sft", "sft", modality="language"),
           "multimodal": source("sft", "sft", modality="multimodal")} if sft_share else None
    defaults = dict(batch_size=2, pad_id=tok.pad_token_id, processor=PROCESSOR,
                    seq_len=SEQ, seed=11, rank=rank, world_size=world_size)
    return MixedBatches(sources, sft_sources=sft, sft_share=sft_share, **{**defaults, **options})


def binomial_tolerance(shares, sds=4.0):
    """sds standard deviations of the mean of independent Bernoulli draws with these p's."""
    return sds * math.sqrt(sum(p * (1 - p) for p in shares)) / len(shares)


# --- ratio and warm-up ---------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["linear", "cosine", "step"])
def test_warmup_starts_at_one_and_reaches_the_target(shape):
    shares = [language_share(s, 0.7, 100, shape) for s in range(150)]
    assert shares[0] == 1.0 and shares[100] == shares[149] == 0.7
    assert all(a >= b for a, b in zip(shares, shares[1:], strict=False))
    if shape == "step":
        assert shares[99] == 1.0
    else:
        assert shares[50] == pytest.approx(0.85) and 0.7 < shares[99] < 0.71
    assert target_share((7, 3)) == pytest.approx(0.7) and target_share(0.25) == 0.25


def test_grouped_batches_hold_the_ratio_and_never_mix_modalities(tok, shards):
    batches = make_batches(tok, shards, world_size=1)
    modalities = []
    for _ in range(2000):
        batch = next(batches)
        kinds = {key.split("_")[0] for key in batch["keys"]}
        assert kinds == ({"text"} if batch["modality"] == "language" else {"pairs"})
        assert (batch["pixel_values"] is None) == (batch["modality"] == "language")
        modalities.append(batch["modality"])
    share = modalities.count("language") / len(modalities)
    assert abs(share - 0.7) < binomial_tolerance([0.7] * 2000)


def test_the_warmup_is_followed_step_by_step(tok, shards):
    batches = make_batches(tok, shards, world_size=1, warmup_steps=400, warmup_shape="linear")
    drawn = [next(batches)["modality"] == "language" for _ in range(400)]
    expected = [batches.share_at(s) for s in range(400)]
    assert drawn[0] and batches.share_at(0) == 1.0 and batches.share_at(400) == pytest.approx(0.7)
    for window in (slice(0, 200), slice(200, 400)):  # falls from ~0.93 to ~0.78 on average
        got, want = np.mean(drawn[window]), np.mean(expected[window])
        assert abs(got - want) < binomial_tolerance(expected[window])


def test_accumulated_micro_batches_of_one_step_share_its_modality(tok, shards):
    batches = make_batches(tok, shards, world_size=1, batches_per_step=3, warmup_steps=40)
    steps = [[next(batches)["modality"] for _ in range(3)] for _ in range(200)]
    assert all(len(set(micro)) == 1 for micro in steps)
    assert [micro[0] for micro in steps] == [batches.modality_at(step) for step in range(200)]
    assert batches.share_at(40) == pytest.approx(0.7)  # the warm-up counts optimizer steps
    assert {micro[0] for micro in steps} == {"language", "multimodal"}


def test_ungrouped_batches_draw_each_example(tok, shards):
    batches = make_batches(tok, shards, world_size=1, group_by_modality=False, batch_size=4)
    kinds, mixed = [], 0
    for _ in range(500):
        batch = next(batches)
        kinds += [key.startswith("text") for key in batch["keys"]]
        mixed += batch["modality"] == "mixed"
    assert abs(np.mean(kinds) - 0.7) < binomial_tolerance([0.7] * len(kinds)) and mixed > 100


def test_a_single_modality_needs_no_warmup(tok, shards):
    encoder = ExampleEncoder(tok, SEQ, N_IMAGE)
    stage1 = MixedBatches({"multimodal": ShardSource(shards / "pairs", "multimodal", encoder)}, batch_size=2,
                          pad_id=tok.pad_token_id, processor=PROCESSOR, warmup_steps=50)
    assert {next(stage1)["modality"] for _ in range(20)} == {"multimodal"}


# --- ranks ---------------------------------------------------------------------------------

def test_ranks_agree_on_the_modality_and_read_disjoint_samples(tok, shards):
    ranks = [make_batches(tok, shards, rank=r, world_size=2, warmup_steps=5) for r in (0, 1)]
    keys = [[], []]
    for step in range(60):
        pair = [next(b) for b in ranks]
        assert pair[0]["modality"] == pair[1]["modality"] == ranks[0].modality_at(step)
        if step < 9:  # 18 examples per rank: inside the first epoch (20 records each) of both sources
            for r in (0, 1):
                keys[r] += pair[r]["keys"]
    assert not set(keys[0]) & set(keys[1]) and len(set(keys[0])) == len(keys[0])
    with pytest.raises(ValueError, match="rank"):
        MixedBatches({"language": ranks[0].channels[0].source}, batch_size=1, pad_id=0, processor=PROCESSOR,
                     rank=1, world_size=2)


# --- packing -------------------------------------------------------------------------------

def segments(batch, row):
    seg = batch["segment_ids"][row]
    return [torch.nonzero(seg == s).flatten() for s in range(1, int(seg.max()) + 1)]


def test_packing_loses_no_tokens_and_keeps_examples_apart(tok, shards):
    batches = make_batches(tok, shards, world_size=1, packing=True, batch_size=3)
    replay = make_batches(tok, shards, world_size=1)  # same sources, read one by one
    streams = {m: next(c for c in replay.channels if c.modality == m).source for m in ("language", "multimodal")}
    for _ in range(12):
        batch = next(batches)
        assert batch["input_ids"].shape == (3, SEQ)
        assert batch["attention_mask"] is None  # no dense mask: the boundaries are the position ids
        images = 0
        for row in range(3):
            for span in segments(batch, row):
                example = next(streams[batch["modality"]])  # the very next example, whole
                assert batch["input_ids"][row, span].tolist() == example.input_ids
                assert batch["labels"][row, span].tolist() == [IGNORE_INDEX] + example.labels[1:]
                assert batch["position_ids"][row, span].tolist() == list(range(len(example)))
                images += len(example.images)
        for key, side in (("pixel_values", 32), ("high_res_pixel_values", 64)):
            if images:
                assert batch[key].shape == (images, 3, side, side), key
            else:
                assert batch[key] is None, key
        padding = batch["segment_ids"] == 0
        assert (batch["position_ids"][padding] == 0).all()  # each padding token its own document


def test_packed_rows_give_the_same_hidden_states_as_separate_examples():
    # The contract with transformers' LLaMA: position ids that restart, no mask, no KV cache.
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    model = LlamaModel(LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=4,
                                   attn_implementation="sdpa")).eval()
    a, b = torch.randint(0, 40, (6,)), torch.randint(0, 40, (9,))
    input_ids = torch.cat([a, b, torch.zeros(5, dtype=torch.long)])[None]
    position_ids = torch.tensor([list(range(6)) + list(range(9)) + [0] * 5])
    with torch.no_grad():
        packed = model(input_ids=input_ids, position_ids=position_ids, use_cache=False).last_hidden_state[0]
        alone = [model(input_ids=x[None]).last_hidden_state[0] for x in (a, b)]
    assert torch.allclose(packed[:6], alone[0], atol=1e-5) and torch.allclose(packed[6:15], alone[1], atol=1e-5)


# --- resume --------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {},
    {"packing": True, "warmup_steps": 10, "sft_share": 0.3},
    {"packing": True, "group_by_modality": False, "warmup_steps": 4},
])
def test_resume_from_state_dict_gives_identical_batches(tok, shards, options):
    first = make_batches(tok, shards, world_size=1, **options)
    for _ in range(7):
        next(first)
    state = json.loads(json.dumps(first.state_dict()))  # what a checkpoint stores
    expected = [next(first) for _ in range(8)]
    resumed = make_batches(tok, shards, world_size=1, **options)
    resumed.load_state_dict(state)
    for want, got in zip(expected, (next(resumed) for _ in range(8)), strict=True):
        assert want.keys() == got.keys()
        for name, value in want.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, got[name]), name
            else:
                assert value == got[name], name


def test_a_share_of_sft_examples_joins_each_modality(tok, shards):
    batches = make_batches(tok, shards, world_size=1, sft_share=0.3, batch_size=4)
    sft = {"language": [], "multimodal": []}
    for _ in range(150):
        batch = next(batches)
        sft[batch["modality"]] += [key.startswith("sft") for key in batch["keys"]]
    for drawn in sft.values():
        assert abs(np.mean(drawn) - 0.3) < binomial_tolerance([0.3] * len(drawn))


def test_records_that_give_no_example_are_counted_by_reason(tok, tmp_path):
    with_image = {"image": png_bytes(12, 10, 1), "image_format": "png", "image_size": (12, 10)}
    writer = ShardWriter(tmp_path / "pairs", "pairs", max_count=16)
    for i, text in enumerate(["print(1)", "", "print(2)", ""]):  # two pairs with no text to learn
        writer.write(Sample(make_key("pairs", "/p", i), "pairs", text, "code", Provenance("/p"), **with_image))
    writer.close()
    source = ShardSource(tmp_path / "pairs", "multimodal", ExampleEncoder(tok, SEQ, N_IMAGE), shuffle=False)
    batches = MixedBatches({"multimodal": source}, batch_size=2, pad_id=tok.pad_token_id,
                           processor=PROCESSOR, seq_len=SEQ)
    batch = next(batches)
    assert sorted(batch["keys"]) == sorted([make_key("pairs", "/p", 0), make_key("pairs", "/p", 2)])
    assert batches.skipped() == {"empty_text": 1}  # records 0-2 read so far
    next(batches)  # record 3, then the next epoch's 0-2
    assert batches.skipped() == {"empty_text": 3}
