"""`vlforge inspect OUT` of a job's output shows what was dropped, from the reject ledger."""

from conftest import run_cli, write_jsonl


def test_inspect_of_a_job_output_lists_its_rejects_by_stage_and_reason(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"text": "kept"}, {"body": "no text field"}, {"text": "also kept"}])
    (tmp_path / "bad.jsonl").write_text("{broken\n")
    out = tmp_path / "out"
    run_cli("run", "text", str(tmp_path / "in.jsonl"), str(tmp_path / "bad.jsonl"), "-o", str(out), check=True)
    shown = run_cli("inspect", str(out), check=True).stdout
    assert "rejected 2  (stage/reason, from rejects.parquet)" in shown
    assert "read/missing_field" in shown and "read/invalid_json" in shown
    only_shards = run_cli("inspect", str(out / "shards"), check=True).stdout
    assert "rejected" not in only_shards  # a folder of shards has no ledger to show
