"""The text corpus end to end through the CLI, read back as a user would."""

import json

import webdataset as wds
from conftest import load_stats, run_cli, write_jsonl


def test_text_job_writes_each_record_once_with_its_provenance(tmp_path):
    records = [{"id": i, "text": f"record {i} 中文", "licence": "CC0-1.0"} for i in range(25)]
    write_jsonl(tmp_path / "in/records.jsonl", records)
    (tmp_path / "in/note.md").write_text("# Title\n\nbody\n")
    out = tmp_path / "out"
    result = run_cli("run", "text", str(tmp_path / "in"), "--output", str(out), "--set",
                     "tasks.target_bytes=300")
    assert result.returncode == 0, result.stderr
    assert "accepted" in result.stderr and "read" in result.stderr  # the summary table
    stats = load_stats(out)
    assert (stats["read"], stats["accepted"], stats["rejected"]) == (26, 26, 0)
    assert stats["tasks"] > 2  # the JSONL file was split into byte ranges
    samples = list(wds.WebDataset(sorted(str(p) for p in out.glob("shards/*.tar")), shardshuffle=False,
                                  empty_check=False).decode())
    assert all(set(s) >= {"__key__", "json", "txt"} and not set(s) - {"__key__", "__url__", "__local_path__", "json", "txt"} for s in samples)  # one layout
    texts = {json.loads(s["json"]["metadata"]).get("id"): s for s in samples if s["json"]["text_kind"] == "plain"}
    assert sorted(texts) == list(range(25))
    assert texts[3]["txt"] == "record 3 中文"
    assert texts[3]["json"]["licence"] == "CC0-1.0"
    assert texts[3]["json"]["checksum"].startswith("sha256:")
    markdown = [s for s in samples if s["json"]["text_kind"] == "markdown"]
    assert len(markdown) == 1 and markdown[0]["txt"].startswith("# Title")


def test_length_limits_are_options_with_their_own_reasons(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"text": "ab"}, {"text": "abcdef"}, {"text": "x" * 50}])
    stats_args = ["--set", "text.min_chars=3", "--set", "text.max_chars=20", "-q"]
    assert run_cli("run", "text", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out"), *stats_args).returncode == 0
    stats = json.loads((tmp_path / "out/stats.json").read_text())
    assert stats["rejected_by_reason"] == {"text_too_long": 1, "text_too_short": 1}
    assert stats["accepted"] == 1
