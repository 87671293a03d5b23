"""`vlforge run sft` on the real engine: tagged conversation shards, images, rejects."""

import json

import pyarrow.parquet as pq
import webdataset as wds
from conftest import output_digests, png_bytes, write_jsonl

from vlforge.engines.runner import run_job

CHART = {"id": 1, "image": "imgs/chart.png", "conversations": [
    {"from": "human", "value": "<image>\nWrite matplotlib code that reproduces this bar chart."},
    {"from": "gpt", "value": "import matplotlib"}]}
PAIR = {"id": 2, "images": ["imgs/a.png", "imgs/b.png"], "conversation": [
    {"role": "User", "content": "<image_placeholder><image_placeholder>找出这两张图的不同之处。"},
    {"role": "Assistant", "content": "..."}]}
TEXT_ONLY = {"query": "Solve the equation in the picture step by step.", "response": "x = 1"}
MISSING = {"query": "What is this?", "response": "", "images": ["imgs/missing.png"]}
REMOTE = {"query": "What is this?", "response": "", "images": ["https://example.com/x.png"]}


def _relative(records, prefix):
    out = []
    for record in records:
        record = json.loads(json.dumps(record))
        for key in ("image", "images"):
            if isinstance(record.get(key), str):
                record[key] = prefix + record[key]
            elif isinstance(record.get(key), list):
                record[key] = [v if v.startswith("http") else prefix + v for v in record[key]]
        out.append(record)
    return out


def write_inputs(root):
    (root / "imgs").mkdir(parents=True)
    for name, seed in (("chart", 1), ("a", 2), ("b", 3)):
        (root / f"imgs/{name}.png").write_bytes(png_bytes(64, 48, seed))
    records = _relative([CHART, PAIR, TEXT_ONLY, MISSING, REMOTE, {"foo": 1}], "../")
    return write_jsonl(root / "data/records.jsonl", records), records


def samples_of(out):
    shards = sorted(str(p) for p in out.glob("shards/*.tar"))
    found = list(wds.WebDataset(shards, shardshuffle=False, empty_check=False).decode())
    for sample in found:
        sample["meta"] = json.loads(sample["json"]["metadata"])
    return {s["meta"]["position"]: s for s in found}


def test_sft_job_writes_tagged_conversations_with_images(tmp_path):
    path, records = write_inputs(tmp_path)
    stats = run_job("sft", [str(path)], str(tmp_path / "out"), workers=1, quiet=True)
    assert (stats["read"], stats["accepted"], stats["rejected"]) == (6, 3, 3)
    assert stats["rejected_by_reason"] == {"missing_image": 1, "remote_image": 1, "unknown_format": 1}
    samples = list(samples_of(tmp_path / "out").values())
    chart, pair, text_only = samples
    assert json.loads(chart["txt"]) == records[0]  # the record exactly as read
    assert chart["json"]["text_kind"] == "conversation"
    assert chart["png"] == png_bytes(64, 48, 1) and "png" not in text_only  # bytes unchanged
    tags = [s["meta"]["taxonomy"] for s in samples]
    assert [(t["main"], t["secondary"]) for t in tags] == [
        ("Conversion", "Image to Code"), ("Multi-graph", "Multi-graph Comparison"),
        ("Logical Reasoning", "Mathematical Reasoning")]
    assert pair["meta"]["images"] == ["../imgs/a.png", "../imgs/b.png"]
    extra = pair["meta"]["extra_images"]
    assert [(e["ref"], e["format"], e["width"]) for e in extra] == [("../imgs/b.png", "png", 64)]
    assert chart["meta"]["format"] == "llava" and pair["meta"]["format"] == "deepseek"
    ledger = pq.read_table(tmp_path / "out/rejects.parquet").to_pylist()
    assert {r["reason"] for r in ledger} == {"missing_image", "remote_image", "unknown_format"}


def test_multiple_images_can_be_rejected_and_runs_are_reproducible(tmp_path):
    path, _ = write_inputs(tmp_path)
    options = ("sft.multiple_images=reject",)
    first = run_job("sft", [str(path)], str(tmp_path / "a"), workers=1, quiet=True, assignments=options)
    run_job("sft", [str(path)], str(tmp_path / "b"), workers=1, quiet=True, assignments=options)
    assert first["rejected_by_reason"]["multiple_images"] == 1 and first["accepted"] == 2
    assert output_digests(tmp_path / "a") == output_digests(tmp_path / "b")
