"""Whole jobs on the local engine: accounting, resume after SIGKILL, bad input, retries."""

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
from conftest import REPO, load_stats, output_digests, run_cli, write_jsonl

from vlforge.contract import register_corpus_module
from vlforge.engines.runner import run_job


def make_text_inputs(root, files=6, lines=5):
    for f in range(files):
        write_jsonl(root / f"part-{f:03d}.jsonl",
                    [{"text": f"file {f} line {i} 文字"} for i in range(lines)] + ["{broken"])
    return root


def two_line_files(root):
    """a.txt and b.txt of two lines each: two tasks of two samples with tasks.max_files=1."""
    root.mkdir()
    for name in ("a.txt", "b.txt"):
        (root / name).write_text("one\ntwo\n")
    return root


def test_accounting_adds_up_per_task_and_in_stats(tmp_path):
    inputs = make_text_inputs(tmp_path / "in")
    stats = run_job("text", [str(inputs)], str(tmp_path / "out"), workers=2, quiet=True,
                    assignments=("tasks.max_files=2",))
    assert (stats["read"], stats["accepted"], stats["rejected"]) == (36, 30, 6)
    assert stats["rejected_by_reason"] == {"invalid_json": 6}
    assert stats["tasks"] == 3 and stats["tasks_failed"] == 0
    markers = [json.loads(p.read_text()) for p in sorted((tmp_path / "out/_tasks").glob("*-??????.json"))]
    assert len(markers) == 3
    assert all(m["accepted"] + m["rejected"] == m["read"] for m in markers)
    assert sum(s["samples"] for m in markers for s in m["shards"]) == stats["accepted"]
    ledger = pq.read_table(tmp_path / "out/rejects.parquet").to_pylist()
    assert len(ledger) == 6 and {r["reason"] for r in ledger} == {"invalid_json"}
    assert all(r["source"].endswith(".jsonl") and r["item"].isdigit() for r in ledger)


def test_only_tasks_that_rejected_something_write_a_ledger_and_the_job_ledger_has_every_row(tmp_path):
    """A ledger per task that rejected nothing was an empty parquet file written and read
    again per task; the job's ledger must still hold every row, in task order."""
    inputs = tmp_path / "in"
    write_jsonl(inputs / "a.jsonl", [{"text": "fine"}, "{broken"])
    write_jsonl(inputs / "b.jsonl", [{"text": "fine too"}])
    write_jsonl(inputs / "c.jsonl", ["[1]", {"text": "also fine"}])
    stats = run_job("text", [str(inputs)], str(tmp_path / "out"), workers=2, quiet=True,
                    assignments=("tasks.max_files=1",))
    assert (stats["tasks"], stats["accepted"], stats["rejected"]) == (3, 3, 2)
    ledgers = sorted(p.name for p in (tmp_path / "out/_tasks").glob("*.rejects.parquet"))
    assert ledgers == ["text-000000.rejects.parquet", "text-000002.rejects.parquet"]
    rows = pq.read_table(tmp_path / "out/rejects.parquet").to_pylist()
    assert [(r["task"], r["reason"]) for r in rows] == [(0, "invalid_json"), (2, "not_an_object")]


def test_no_duplicate_keys_and_shard_names_follow_the_task(tmp_path):
    inputs = make_text_inputs(tmp_path / "in", files=4)
    run_job("text", [str(inputs)], str(tmp_path / "out"), workers=2, quiet=True,
            assignments=("tasks.max_files=1", "shards.max_count=2"))
    keys = [row["key"] for p in sorted((tmp_path / "out/shards").glob("*.parquet"))
            for row in pq.read_table(p).to_pylist()]
    assert len(keys) == len(set(keys)) == 20
    names = sorted(p.name for p in (tmp_path / "out/shards").glob("*.tar"))
    assert names[:3] == ["text-000000-0000.tar", "text-000000-0001.tar", "text-000000-0002.tar"]


def _reference_run(inputs, out):
    result = run_cli("run", "text", str(inputs), "--output", str(out), "--workers", "1",
                     "--set", "tasks.max_files=1", "--quiet")
    assert result.returncode == 0, result.stderr
    return output_digests(out)


def test_sigkill_half_way_then_rerun_is_byte_identical_and_redoes_nothing_committed(tmp_path):
    inputs = make_text_inputs(tmp_path / "in", files=150, lines=3)
    expected = _reference_run(inputs, tmp_path / "reference")
    out = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "vlforge", "run", "text", str(inputs), "--output", str(out),
         "--workers", "1", "--set", "tasks.max_files=1", "--quiet"],
        cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(out.glob("_tasks/*-??????.json"))) < 10 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    committed = {p.name: p.stat().st_mtime_ns for p in out.glob("_tasks/*-??????.json")}
    assert 10 <= len(committed) < 150, "the kill must land half-way"
    rerun = run_cli("run", "text", str(inputs), "--output", str(out), "--workers", "2",
                    "--set", "tasks.max_files=1", "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    assert output_digests(out) == expected
    stats = load_stats(out)
    assert stats["tasks_skipped"] == len(committed)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("_tasks/*-??????.json") if p.name in committed} == committed
    assert not list(out.rglob("*.tmp"))


def test_leftovers_of_an_interrupted_task_are_removed_and_the_task_redone(tmp_path):
    inputs = make_text_inputs(tmp_path / "in", files=4)
    expected = _reference_run(inputs, tmp_path / "reference")
    out = tmp_path / "out"
    _reference_run(inputs, out)
    (out / "_tasks/text-000002.json").unlink()  # as if killed after its shards were renamed
    (out / "shards/text-000002-0000.tar").write_bytes(b"half a shard")
    (out / "shards/text-000002-0001.tar.tmp").write_bytes(b"garbage")
    assert _reference_run(inputs, out) == expected
    assert load_stats(out)["tasks_skipped"] == 3


def test_bad_inputs_become_reject_rows_and_the_job_goes_on(tmp_path):
    inputs = tmp_path / "in"
    write_jsonl(inputs / "good.jsonl", [{"text": "fine"}, "[1, 2]", {"body": "x"}, {"text": 7}, {"text": "  "}])
    (inputs / "latin1.txt").write_bytes("café".encode("latin-1"))
    (inputs / "blank.jsonl").write_text("\n\n")
    (inputs / "empty.txt").write_text("")
    (inputs / "image.png").write_bytes(b"\x89PNG")
    (inputs / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    (inputs / "bad-utf8.jsonl").write_bytes(b'{"text": "ok"}\n{"text": "\xff"}\n')
    stats = run_job("text", [str(inputs)], str(tmp_path / "out"), workers=1, quiet=True)
    assert stats["rejected_by_reason"] == {
        "empty_file": 1, "empty_text": 2, "field_not_string": 1, "invalid_utf8": 2, "missing_field": 1,
        "not_an_object": 1, "unreadable": 1, "unsupported_file_type": 1}
    assert stats["accepted"] == 2 and stats["read"] == stats["accepted"] + stats["rejected"] == 12
    ledger = {(r["source"].rsplit("/", 1)[1], r["reason"]): r["detail"]
              for r in pq.read_table(tmp_path / "out/rejects.parquet").to_pylist()}
    assert "byte 3" in ledger[("latin1.txt", "invalid_utf8")]
    assert "No such file" in ledger[("dangling.txt", "unreadable")]
    assert "'text' is a int" in ledger[("good.jsonl", "field_not_string")]


def test_errors_that_stop_a_job_are_one_line_without_traceback(tmp_path):
    inputs = make_text_inputs(tmp_path / "in", files=1)
    cases = [
        (["run", "text", str(tmp_path / "missing"), "-o", str(tmp_path / "o1")], "does not exist"),
        (["run", "text", str(inputs), "-o", str(tmp_path / "o2"), "--set", "text.feild=x"], "unknown option 'text.feild'"),
        (["run", "text", str(inputs), "-o", str(tmp_path / "o3"), "--set", "shards.max_count=many"], "expects int"),
        (["run", "text", str(inputs), "-o", str(tmp_path / "o4"), "--config", str(tmp_path / "no.yaml")], "cannot read config"),
        (["inspect", str(tmp_path / "nothing-here")], "no such shard or directory"),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_output_dir_of_a_different_job_is_refused(tmp_path):
    inputs = make_text_inputs(tmp_path / "in", files=2)
    out = tmp_path / "out"
    assert run_cli("run", "text", str(inputs), "-o", str(out), "-q").returncode == 0
    other = run_cli("run", "text", str(inputs), "-o", str(out), "-q", "--set", "text.min_chars=3")
    assert other.returncode == 2 and "holds a different job" in other.stderr
    foreign = tmp_path / "foreign"
    (foreign / "x").mkdir(parents=True)
    (foreign / "x/data-0000.tar").write_bytes(b"")
    result = run_cli("run", "text", str(inputs), "-o", str(foreign), "-q")
    assert result.returncode == 2 and "no job.json describes" in result.stderr
    # The same job again is a resume, not a conflict, and changes nothing.
    before = output_digests(out)
    assert run_cli("run", "text", str(inputs), "-o", str(out), "-q").returncode == 0
    assert output_digests(out) == before


def test_a_task_that_raises_is_retried_and_one_that_always_raises_is_reported(tmp_path):
    register_corpus_module("flaky", "flaky_corpus")
    inputs = two_line_files(tmp_path / "in")
    stats = run_job("flaky", [str(inputs)], str(tmp_path / "out"), workers=2, quiet=True,
                    assignments=("tasks.max_files=1",))
    assert stats["tasks_failed"] == 0 and stats["accepted"] == 4
    (inputs / "poison.txt").write_text("bad\n")
    stats = run_job("flaky", [str(inputs)], str(tmp_path / "out2"), workers=2, quiet=True,
                    assignments=("tasks.max_files=1", "engine.retries=2"))
    assert stats["tasks_failed"] == 1 and stats["accepted"] == 4
    assert "injected failure in task 2" in stats["failed"][0]["error"]
    assert not list((tmp_path / "out2/shards").glob("flaky-000002-*"))


def test_workers_end_without_teardown_yet_run_the_corpus_exit_handlers(tmp_path, monkeypatch):
    """Local workers skip Python's module teardown at exit (local._leave_without_teardown);
    exit handlers the corpus registered still run in every worker, and the job's output
    is whole."""
    register_corpus_module("exit_hook", "exit_hook_corpus")
    exits = tmp_path / "exits"
    exits.mkdir()
    monkeypatch.setenv("VLFORGE_TEST_EXIT_DIR", str(exits))
    stats = run_job("exit_hook", [str(two_line_files(tmp_path / "in"))], str(tmp_path / "out"), workers=2, quiet=True,
                    assignments=("tasks.max_files=1",))
    assert (stats["accepted"], stats["tasks_failed"]) == (4, 0)
    assert len(list(exits.glob("exited-*"))) == 2  # both workers ran the corpus's handler
