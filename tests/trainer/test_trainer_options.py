"""Train options, stage plans and schedules, the prefetcher, checkpoint dirs, metrics, MC sets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import png_bytes

from vlforge.errors import VlforgeError
from vlforge.schemas import Provenance, Sample, make_key
from vlforge.shards.writer import ShardWriter
from vlforge.trainer import checkpoint as ckpt
from vlforge.trainer.cli import main as train_main
from vlforge.trainer.cli import torchrun_command
from vlforge.trainer.config import load_train_config, parse_ratio
from vlforge.trainer.evaluation import load_mc_set, make_mc_set
from vlforge.trainer.metrics import MetricsLog, format_record, mfu, peak_flops
from vlforge.trainer.prefetch import Prefetcher
from vlforge.trainer.training_stages import LrShape, build_scheduler, stage_plan

# --- options ---------------------------------------------------------------------------------


def test_defaults_yaml_set_and_stage_layer_in_order(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("model: {preset: deepseek-vl-7b}\nsteps: 50\nbatch: {global: 64}\nstage: 1\n")
    config = load_train_config(str(path), ("steps=60", "optim.lr=1e-4", "data.ratio=3,1"), stage=2)
    assert config.stage == 2 and config.plan.steps == 60 and config.plan.lr == 1e-4
    assert config.plan.global_batch == 64 and config.data.language_share == 0.75
    # Table 4's 7B stage 2 for everything not overridden
    assert (config.plan.schedule, config.plan.warmup_steps, config.plan.seq_len) == ("step", 2000, 4096)
    assert config.data.packing and config.plan.betas == (0.9, 0.95) and config.plan.weight_decay == 0.0
    assert str(config.output_dir) == "out/train/stage2"


@pytest.mark.parametrize("assignment, message", [
    ("optim.learning_rate=1", "unknown option 'optim.learning_rate'"),
    ("optim.lr=fast", "'optim.lr' expects a number"),
    ("steps=2.5", "'steps' expects an integer"),
    ("data.packing=1", "'data.packing' expects true or false"),
    ("data.ratio=7", "'data.ratio' expects list"),
    ("data.ratio=a,b", "data.ratio must be two numbers"),
    ("optim.schedule=linear", "schedule must be cosine, step or constant"),
    ("mixed_precision=fp16", "mixed_precision must be one of auto, bf16, fp32"),
    ("batch.micro=0", "batch.micro must be a positive integer"),
])
def test_bad_options_fail_with_one_line(assignment, message):
    with pytest.raises(VlforgeError, match=message.replace("(", r"\(")):
        load_train_config(None, (assignment,), stage=1)


def test_cli_reports_bad_options_as_one_line(capsys):
    assert train_main(["--stage", "1", "--set", "optim.nope=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vlforge: error: unknown option 'optim.nope'") and "\n" not in err
    assert train_main(["--set", "steps=3"]) == 2
    assert "no stage given" in capsys.readouterr().err


def test_gradient_accumulation_is_derived_and_must_divide():
    config = load_train_config(None, ("batch.global=16", "batch.micro=2"), stage=1)
    assert config.grad_accum(2) == 4 and config.grad_accum(8) == 1
    with pytest.raises(VlforgeError, match="does not split"):
        config.grad_accum(3)


def test_init_from_previous_names_the_previous_stage_output():
    options = ("output_dir=runs/s{stage}", "checkpoint.init_from=previous")
    assert load_train_config(None, options, stage=1).init_from is None
    assert str(load_train_config(None, options, stage=3).init_from) == "runs/s2"


def test_relative_paths_are_read_under_root(tmp_path):
    config = load_train_config(None, ("root=/data/demo", "data.language=[text/shards, /abs/lang]",
                                      "eval.mc_set=mc/mc.jsonl", "output_dir=train/stage{stage}",
                                      "checkpoint.init_from=previous"), stage=2)
    assert config.data.language == ("/data/demo/text/shards", "/abs/lang")
    assert config.mc_set == Path("/data/demo/mc/mc.jsonl")
    assert config.output_dir == Path("/data/demo/train/stage2")
    assert config.init_from == Path("/data/demo/train/stage1")
    unrooted = load_train_config(None, ("data.language=[text/shards]",), stage=2)
    assert unrooted.data.language == ("text/shards",)


def test_ratio_forms():
    assert parse_ratio([7, 3]) == 0.7 and parse_ratio(["1", "1"]) == 0.5
    with pytest.raises(VlforgeError):
        parse_ratio(423)  # what YAML makes of a bare 7:3


def test_torchrun_command_is_standalone():
    command = torchrun_command(2, ["--stage", "1"])
    assert command[1:4] == ["-m", "torch.distributed.run", "--standalone"]
    assert "--nproc-per-node=2" in command and command[-4:] == ["-m", "vlforge.trainer", "--stage", "1"]


# --- stage plans and schedules ----------------------------------------------------------------


def test_table4_plans():
    one, seven = stage_plan("deepseek-vl-1.3b", 2), stage_plan("deepseek-vl-7b", 2)
    assert (one.lr, one.steps, one.global_batch, one.packing) == (3e-5, 96000, 1024, True)
    assert (seven.lr, seven.steps, seven.global_batch) == (4.2e-5, 42000, 2304)
    for stage in (1, 3):
        plan = stage_plan("deepseek-vl-7b", stage)
        assert plan.schedule == "cosine" and not plan.packing and plan.grad_clip == 1.0
    # 512 text tokens + one image's 576 positions: the encoder needs room for the image
    assert stage_plan("deepseek-vl-1.3b", 1).seq_len == 512 + 576 and stage_plan("deepseek-vl-1.3b", 3).warmup_steps == 256
    with pytest.raises(VlforgeError, match="no stage plan"):
        stage_plan("llama", 1)


def test_lr_shapes():
    cosine = LrShape("cosine", warmup_steps=10, steps=110, min_lr_ratio=0.1)
    assert cosine(0) == pytest.approx(0.1) and cosine(9) == 1.0 and cosine(10) == 1.0
    assert cosine(60) == pytest.approx(0.55) and cosine(110) == pytest.approx(0.1)
    step = LrShape("step", warmup_steps=2, steps=100, min_lr_ratio=0.0)
    assert [step(s) for s in (1, 79, 80, 89, 90, 99)] == [1.0, 1.0, 0.316, 0.316, 0.1, 0.1]


def test_scheduler_resumes_at_its_step():
    def make():
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        return optimizer, build_scheduler(optimizer, stage_plan("tiny", 3))
    optimizer, scheduler = make()
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    saved = scheduler.state_dict()
    expected = []
    for _ in range(5):
        expected.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    optimizer, again = make()
    again.load_state_dict(saved)
    got = []
    for _ in range(5):
        got.append(again.get_last_lr()[0])
        optimizer.step()
        again.step()
    assert got == expected and not math.isclose(got[0], got[-1])


# --- prefetcher --------------------------------------------------------------------------------


class Counter:
    def __init__(self, fail_at: int | None = None):
        self.n, self.fail_at, self.closed = 0, fail_at, False

    def __next__(self):
        if self.n == self.fail_at:
            raise ValueError("broken shard")
        self.n += 1
        return {"n": self.n}

    def state_dict(self):
        return {"n": self.n}

    def close(self):
        self.closed = True


@pytest.mark.parametrize("depth", [0, 3])
def test_prefetcher_position_is_after_the_last_batch_handed_out(depth):
    counter = Counter()
    batches = Prefetcher(counter, depth)
    assert batches.state_dict() == {"n": 0}
    assert [next(batches)["n"] for _ in range(4)] == [1, 2, 3, 4]
    assert batches.state_dict() == {"n": 4}  # however far the thread has read ahead
    batches.close()
    assert counter.closed


def test_prefetcher_raises_the_loader_error_in_the_consumer():
    batches = Prefetcher(Counter(fail_at=2), depth=2)
    next(batches), next(batches)
    with pytest.raises(ValueError, match="broken shard"):
        next(batches)
    batches.close()


# --- checkpoint dirs ---------------------------------------------------------------------------


def test_latest_checkpoint_ignores_unfinished_ones(tmp_path):
    for name, complete in (("step-000002", True), ("step-000010", True), ("step-000012.tmp", True),
                           ("step-000011", False)):
        (tmp_path / "checkpoints" / name).mkdir(parents=True)
        if complete:
            (tmp_path / "checkpoints" / name / ".metadata").write_bytes(b"")
    assert ckpt.latest_checkpoint(tmp_path).name == "step-000010"
    assert ckpt.latest_checkpoint(tmp_path / "none") is None


def test_prune_keeps_the_newest(tmp_path):
    for step in (3, 12, 6, 9):
        (tmp_path / "checkpoints" / f"step-{step:06d}").mkdir(parents=True)
    ckpt._prune(tmp_path, keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-000009", "step-000012"]


def test_init_source_finds_checkpoint_or_export(tmp_path):
    (tmp_path / "run" / "export").mkdir(parents=True)
    (tmp_path / "run" / "export" / "config.json").write_text("{}")
    assert ckpt.resolve_init_source(tmp_path / "run") == ("folder", tmp_path / "run" / "export")
    (tmp_path / "run" / "checkpoints" / "step-000004").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "step-000004" / ".metadata").write_bytes(b"")
    assert ckpt.resolve_init_source(tmp_path / "run")[0] == "checkpoint"
    with pytest.raises(VlforgeError, match="run the previous stage first"):
        ckpt.resolve_init_source(tmp_path / "empty")


# --- metrics -----------------------------------------------------------------------------------


def test_peak_and_mfu():
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12 and peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("NVIDIA A100-SXM4-80GB") == 312e12 and peak_flops("cpu") is None
    assert peak_flops("anything", override_tflops=100) == 100e12
    assert mfu(flops=989e12, seconds=2.0, world_size=1, peak=989e12) == 0.5
    assert mfu(1e12, 1.0, 2, None) is None


def test_metrics_log_writes_on_rank0_only(tmp_path, capsys):
    record = {"kind": "eval", "step": 3, "accuracy": 0.5, "items": 4, "correct": 2}
    MetricsLog(tmp_path / "a", enabled=True).write(record)
    MetricsLog(tmp_path / "b", enabled=False).write(record)
    assert json.loads((tmp_path / "a" / "metrics.jsonl").read_text()) == record
    assert not (tmp_path / "b").exists()
    assert "eval accuracy 0.500 (2/4)" in capsys.readouterr().err
    assert "mfu 41.0%" in format_record({"kind": "train", "step": 1, "loss": 1.0, "lr": 1e-3, "grad_norm": 1.0,
                                         "tokens_per_s": 1.0, "samples_per_s": 1.0, "memory_bytes": 0,
                                         "mfu": 0.41})


# --- multiple-choice sets ----------------------------------------------------------------------


def _pairs(directory, n):
    writer = ShardWriter(directory, "pairs")
    for i in range(n):
        writer.write(Sample(make_key("p", "/s", i), "p", f"caption number {i}", "plain", Provenance("/s"),
                            image=png_bytes(seed=i), image_format="png", image_size=(32, 24)))
    writer.close()
    return directory


def test_make_mc_set_writes_loadable_items_with_the_true_text(tmp_path):
    path = make_mc_set(_pairs(tmp_path / "shards", 5), tmp_path / "mc" / "set.jsonl", items=3, options=4, seed=2)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    items = load_mc_set(path)
    assert len(items) == 3 and all(len(i.options) == 4 and i.image for i in items)
    for row, item in zip(rows, items, strict=True):
        assert row["options"][row["answer"]].startswith("caption number")
        assert (tmp_path / "mc" / row["image"]).is_file() and item.question.startswith("<image_placeholder>")
    assert make_mc_set(tmp_path / "shards", tmp_path / "again.jsonl", items=3, options=4, seed=2).read_text() \
        == path.read_text()


def test_mc_set_errors(tmp_path):
    with pytest.raises(VlforgeError, match="at least 4"):
        make_mc_set(_pairs(tmp_path / "few", 2), tmp_path / "x.jsonl", options=4)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "options": ["a", "b"], "answer": 2}) + "\n")
    with pytest.raises(VlforgeError, match=r"bad.jsonl:1: `answer`"):
        load_mc_set(bad)
