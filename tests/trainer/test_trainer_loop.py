"""The training loop: three stages on 2 gloo processes, frozen parts, resume, export, eval.

One chain of real runs (stage 1 -> 2 -> 3, each `python -m vlforge.trainer --nproc 2`, i.e.
torchrun with 2 CPU ranks) is shared by the tests that read its outputs; the rest run in
this process as a world of one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO, png_bytes

from vlforge.schemas import Provenance, Sample, make_key
from vlforge.shards.writer import ShardWriter
from vlforge.trainer.cli import main as train_main
from vlforge.trainer.config import load_train_config
from vlforge.trainer.distributed import init_distributed, shutdown
from vlforge.trainer.evaluation import McItem, evaluate_mc, make_mc_set, option_batch, rank_schedule
from vlforge.trainer.images import image_processor, preprocess_image
from vlforge.trainer.model import (
    build_model,
    group_parameter_names,
    load_exported,
    sequence_logprob,
)
from vlforge.trainer.parts import write_parts
from vlforge.trainer.presets import get_preset
from vlforge.trainer.tokenizer import IMAGE_TOKEN, load_tokenizer
from vlforge.trainer.train import train

CAPTIONS = ["a red square", "two blue dots", "green lines", "a black cross"]
TEXTS = ["the cat sat on the mat. " * 3, "one two three four five. " * 3,
         "hello world from the shards. " * 3, "abc def ghi jkl mno. " * 3]
TRAIN_FIELDS = {"kind", "step", "loss", "lr", "grad_norm", "modality", "tokens", "samples", "step_time_s",
                "tokens_per_s", "samples_per_s", "memory_bytes", "mfu"}


# --- tiny shards the model can learn by heart ------------------------------------------------


def _sample(corpus: str, i: int, text: str, kind: str, image: bytes | None = None) -> Sample:
    source = f"/src/{corpus}"
    return Sample(make_key(corpus, source, i), corpus, text, kind, Provenance(source), image=image,
                  image_format="png" if image else None, image_size=(32, 24) if image else None)


def _write(directory: Path, samples: list[Sample]) -> str:
    writer = ShardWriter(directory, directory.name, max_count=2)
    for sample in samples:
        writer.write(sample)
    writer.close()
    return str(directory)


def _conversation(question: str, answer: str) -> str:
    return json.dumps({"conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]})


def make_shards(root: Path) -> dict[str, str]:
    """4 image + caption pairs, 4 texts, 6 SFT conversations (4 with the pair images)."""
    images = [png_bytes(seed=5 * i) for i in range(len(CAPTIONS))]
    pairs = [_sample("pairs", i, c, "plain", images[i]) for i, c in enumerate(CAPTIONS)]
    texts = [_sample("text", i, t, "plain") for i, t in enumerate(TEXTS)]
    sft = [_sample("sft", i, _conversation("<image>\nWhat is shown?", c), "conversation", images[i])
           for i, c in enumerate(CAPTIONS)]
    sft += [_sample("sft", 10 + i, _conversation(f"Say sentence {i}.", t), "conversation")
            for i, t in enumerate(TEXTS[:2])]
    return {"pairs": _write(root / "pairs", pairs), "text": _write(root / "text", texts),
            "sft": _write(root / "sft", sft)}


def write_config(root: Path, shards: dict[str, str], mc_set: Path) -> Path:
    config = {
        "model": {"preset": "tiny"},
        "data": {"language": [shards["text"]], "multimodal": [shards["pairs"]], "sft": [shards["sft"]],
                 "ratio": [1, 1]},
        "output_dir": str(root / "stage{stage}"),
        "checkpoint": {"init_from": "previous", "every": 10, "keep": 5},
        "eval": {"mc_set": str(mc_set), "every": 10},
        # 2 per rank x 2 ranks = the global 4: one micro-batch per step (accumulation, and
        # its one-modality steps, are tested in one process and in the mixing tests)
        "batch": {"micro": 2},
        "log_every": 1,
    }
    path = root / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_ranks(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "vlforge.trainer", "--nproc", str(nproc), *args],
                            capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def records(output_dir: Path, kind: str = "train") -> list[dict]:
    lines = (output_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def weights(export_dir: Path) -> dict[str, torch.Tensor]:
    return load_exported(export_dir).state_dict()


def group_of(names_by_group: dict[str, list[str]]) -> dict[str, str]:
    return {name: group for group, names in names_by_group.items() for name in names}


def changed_groups(before: dict, after: dict, groups: dict[str, str]) -> dict[str, bool]:
    """Per group: did any tensor change at all (bit level)?"""
    changed: dict[str, bool] = {}
    for name, tensor in before.items():
        changed[groups[name]] = changed.get(groups[name], False) or not torch.equal(tensor, after[name])
    return changed


def falls(losses: list[float]) -> bool:
    head, tail = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    return tail < head - 0.05


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Stages 1, 2, 3 of the tiny preset, 20 steps each, on 2 gloo ranks."""
    root = tmp_path_factory.mktemp("chain")
    shards = make_shards(root / "shards")
    mc_set = make_mc_set(shards["pairs"], root / "mc" / "mc.jsonl", items=4, options=4)
    config = write_config(root, shards, mc_set)
    for stage in (1, 2, 3):
        run_ranks("--stage", str(stage), "--config", str(config))
    return {"root": root, "config": config, "shards": shards, "mc_set": mc_set,
            **{f"stage{s}": root / f"stage{s}" for s in (1, 2, 3)}}


@pytest.fixture(scope="module")
def groups(chain):
    return group_of(group_parameter_names(load_exported(chain["stage1"] / "export")))


def initial_weights() -> dict[str, torch.Tensor]:
    """What the trainer builds before stage 1 (seed 0, no pretrained paths)."""
    tokenizer = load_tokenizer(None)
    torch.manual_seed(0)
    return build_model("tiny", len(tokenizer), tokenizer.image_token_id).state_dict()


# --- each stage, on 2 ranks --------------------------------------------------------------------


def test_stage1_trains_only_the_adaptor_and_its_loss_falls(chain, groups):
    losses = [r["loss"] for r in records(chain["stage1"])]
    assert len(losses) == 20 and falls(losses), losses
    changed = changed_groups(initial_weights(), weights(chain["stage1"] / "export"), groups)
    assert changed == {"siglip": False, "sam": False, "adaptor": True, "llm": False}


def test_stage2_trains_llm_and_adaptor_from_stage1(chain, groups):
    losses = [r["loss"] for r in records(chain["stage2"])]
    assert len(losses) == 20 and falls(losses), losses
    changed = changed_groups(weights(chain["stage1"] / "export"), weights(chain["stage2"] / "export"), groups)
    assert changed == {"siglip": False, "sam": False, "adaptor": True, "llm": True}
    modalities = {r["modality"] for r in records(chain["stage2"])}
    assert modalities == {"language", "multimodal"}  # grouped: never "mixed" in one batch


def test_stage3_trains_siglip_too_but_never_sam(chain, groups):
    losses = [r["loss"] for r in records(chain["stage3"])]
    assert len(losses) == 20 and falls(losses), losses
    changed = changed_groups(weights(chain["stage2"] / "export"), weights(chain["stage3"] / "export"), groups)
    assert changed == {"siglip": True, "sam": False, "adaptor": True, "llm": True}


def test_metrics_jsonl_has_every_field_and_the_evaluations(chain):
    for stage in ("stage1", "stage2", "stage3"):
        train_records = records(chain[stage])
        assert [r["step"] for r in train_records] == list(range(1, 21))
        for record in train_records:
            assert set(record) == TRAIN_FIELDS
            assert record["samples"] == 4 and record["tokens"] > 0 and record["memory_bytes"] > 0
            assert record["mfu"] is None  # CPU: no peak to divide by
        evals = records(chain[stage], "eval")
        assert [e["step"] for e in evals] == [10, 20] and all(e["items"] == 4 for e in evals)
    lrs = [r["lr"] for r in records(chain["stage2"])]
    assert lrs[0] == pytest.approx(1e-3) and lrs[5] == pytest.approx(2e-3)  # warm-up, then the peak
    assert lrs[16] == pytest.approx(2e-3 * 0.316) and lrs[18] == pytest.approx(2e-4)  # step decays


def test_checkpoints_are_kept_renamed_and_summarised(chain):
    stage2 = chain["stage2"]
    assert sorted(p.name for p in (stage2 / "checkpoints").iterdir()) == ["step-000010", "step-000020"]
    assert json.loads((stage2 / "checkpoints" / "step-000020" / "trainer.json").read_text()) == {
        "stage": 2, "step": 20, "world_size": 2}
    summary = json.loads((stage2 / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["final_loss"] == records(stage2)[-1]["loss"]
    assert summary["records_skipped"] == {}  # every record of the test shards gives an example


def test_resume_gives_the_same_losses_and_weights(chain, tmp_path):
    straight = chain["stage2"]
    resumed = tmp_path / "resumed"
    shutil.copytree(straight / "checkpoints" / "step-000010", resumed / "checkpoints" / "step-000010")
    run_ranks("--stage", "2", "--config", str(chain["config"]), "--set", f"output_dir={resumed}")
    again = records(resumed)
    assert [r["step"] for r in again] == list(range(11, 21))
    for first, second in zip(records(straight)[10:], again, strict=True):
        assert abs(first["loss"] - second["loss"]) <= 1e-6, (first, second)
        assert first["lr"] == second["lr"]
    before, after = weights(straight / "export"), weights(resumed / "export")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_export_loads_back_with_its_tokenizer(chain):
    export = chain["stage3"] / "export"
    model = load_exported(export)
    tokenizer = load_tokenizer(export)
    assert type(model).__name__ == "DeepseekVLHybridForConditionalGeneration"
    assert model.config.text_config.vocab_size == len(tokenizer)
    assert model.config.image_token_id == tokenizer.image_token_id
    ids = torch.tensor([[tokenizer.bos_token_id, *tokenizer("hi", add_special_tokens=False)["input_ids"]]])
    assert model(input_ids=ids).logits.shape == (1, ids.shape[1], len(tokenizer))


# --- in this process, a world of one ---------------------------------------------------------


def _in_process(config_path: Path, stage: int, *assignments: str) -> dict:
    return train(load_train_config(str(config_path), assignments, stage))


def test_a_stage_starts_from_the_previous_checkpoint_or_export(chain, tmp_path):
    # lr 1e-30: the one step changes no float32 weight, so the result is the loaded weights.
    # The checkpoint was written by 2 ranks and is read by 1 (DCP reshards).
    stage1 = weights(chain["stage1"] / "export")
    for source in (chain["stage1"], chain["stage1"] / "export"):
        out = tmp_path / source.name
        _in_process(chain["config"], 2, f"output_dir={out}", f"checkpoint.init_from={source}", "steps=1",
                    "optim.lr=1e-30", "eval.mc_set=", "checkpoint.every=0")
        loaded = weights(out / "export")
        assert all(torch.equal(stage1[k], loaded[k]) for k in stage1), source


def test_stage1_from_parts_keeps_them_and_stage3_starts_from_the_export(chain, tmp_path):
    """Stage 1 from separate SigLIP / SAM / LLM folders (the demo's path): the frozen parts come
    out of it bit for bit; stage 3 from that export (a transformers folder, its tokenizer)
    starts from exactly its weights."""
    from transformers import LlamaForCausalLM, SamVisionModel, SiglipVisionModel

    parts = write_parts("tiny", tmp_path / "parts", seed=3)
    stage1 = tmp_path / "stage1"
    _in_process(chain["config"], 1, f"output_dir={stage1}", *(f"model.{p}={f}" for p, f in parts.items()),
                "steps=2", "eval.mc_set=", "checkpoint.every=0")
    exported = weights(stage1 / "export")
    for prefix, part in (("model.vision_model.", SiglipVisionModel.from_pretrained(parts["siglip"])),
                         ("model.high_res_vision_model.", SamVisionModel.from_pretrained(parts["sam"])),
                         ("", LlamaForCausalLM.from_pretrained(parts["llm"]))):
        state = {k.replace("model.", "model.language_model.", 1) if not prefix else prefix + k: v
                 for k, v in part.state_dict().items()}
        assert all(torch.equal(exported[k], v) for k, v in state.items()), prefix
    stage3 = tmp_path / "stage3"
    _in_process(chain["config"], 3, f"output_dir={stage3}", f"checkpoint.init_from={stage1 / 'export'}",
                "steps=1", "optim.lr=1e-30", "eval.mc_set=", "checkpoint.every=0")
    again = weights(stage3 / "export")
    # lr 1e-30 moves a weight of 0 (SigLIP's biases, trained from stage 3 on) to ~1e-30, no other
    assert all(torch.allclose(exported[k], again[k], rtol=0, atol=1e-25) for k in exported)


def test_activation_checkpointing_changes_no_loss(chain, tmp_path):
    runs = {}
    for checkpointing in (False, True):
        out = tmp_path / f"ac-{checkpointing}"
        runs[checkpointing] = _in_process(
            chain["config"], 2, f"output_dir={out}", f"activation_checkpointing={checkpointing}", "steps=3",
            "checkpoint.init_from=", "eval.mc_set=", "export=false", "checkpoint.every=0")["losses"]
    assert runs[False] == runs[True] and len(runs[True]) == 3


def test_packed_accumulated_run_resumes_exactly(chain, tmp_path):
    # One rank, 4 accumulated micro-batches of packed 256-token rows: a packed example that
    # did not fit its row waits for the next batch, and must still do so after a resume.
    options = ("data.packing=true", "data.seq_len=256", "steps=4", "checkpoint.every=2", "checkpoint.init_from=",
               "eval.mc_set=", "export=false")
    straight = _in_process(chain["config"], 2, f"output_dir={tmp_path / 'straight'}", *options)["losses"]
    resumed = tmp_path / "resumed"
    shutil.copytree(tmp_path / "straight" / "checkpoints" / "step-000002", resumed / "checkpoints" / "step-000002")
    again = _in_process(chain["config"], 2, f"output_dir={resumed}", *options)
    assert again["start_step"] == 2 and again["losses"] == straight[2:]


def test_resuming_on_another_number_of_ranks_or_stage_is_refused(chain, tmp_path, capsys):
    out = tmp_path / "other-world"
    shutil.copytree(chain["stage2"] / "checkpoints" / "step-000010", out / "checkpoints" / "step-000010")
    for stage, message in ((2, "written by 2 ranks"), (3, "is a stage 2 checkpoint")):
        code = train_main(["--stage", str(stage), "--config", str(chain["config"]), "--set", f"output_dir={out}"])
        assert code == 2 and message in capsys.readouterr().err


def test_mc_accuracy_is_exact_on_a_controlled_set():
    """Answers set to the option the model itself ranks first (or not): accuracy is known."""
    tokenizer = load_tokenizer(None)
    torch.manual_seed(1)
    model = build_model("tiny", len(tokenizer), tokenizer.image_token_id)
    options = ("red", "blue sky", "a green field", "x")
    items = [McItem(f"i{i}", png_bytes(seed=i) if i % 2 else None,
                    (f"{IMAGE_TOKEN}\nWhat?" if i % 2 else "Which?"), options, 0, "") for i in range(6)]
    best = [_best_option(model, tokenizer, item) for item in items]
    truth = [b if i < 4 else (b + 1) % len(options) for i, b in enumerate(best)]  # 4 right, 2 wrong
    items = [McItem(it.id, it.image, it.question, it.options, t, it.system) for it, t in zip(items, truth, strict=True)]
    env = init_distributed()
    try:
        result = evaluate_mc(model, items, tokenizer, get_preset("tiny"), env)
    finally:
        shutdown()
    assert result == {"accuracy": 4 / 6, "items": 6, "correct": 4}


def _best_option(model, tokenizer, item: McItem) -> int:
    """Independent of `choose`: mean log-prob of each option, one option at a time."""
    scores = []
    input_ids, labels, mask = option_batch(item, tokenizer, get_preset("tiny").num_image_tokens)
    for row in range(len(item.options)):
        length = int(mask[row].sum())
        inputs = {"input_ids": input_ids[row:row + 1, :length]}
        if item.image is not None:
            pixels = preprocess_image(item.image, image_processor(get_preset("tiny")))
            inputs.update({key: value[None] for key, value in pixels.items()})
        scores.append(float(sequence_logprob(model, inputs, labels[row:row + 1, :length])))
    return max(range(len(scores)), key=scores.__getitem__)


def test_rank_schedule_counts_each_item_once_with_equal_calls_per_rank():
    items = [McItem(str(i), b"img" if i % 3 else None, "q", ("a", "b"), 0) for i in range(7)]
    schedules = [rank_schedule(items, rank, 3) for rank in range(3)]
    modality = [[items[i].image is not None for i, _ in s] for s in schedules]
    assert modality[0] == modality[1] == modality[2]  # same forward calls, same vision-tower use
    counted = sorted(i for s in schedules for i, counts in s if counts)
    assert counted == list(range(7))
