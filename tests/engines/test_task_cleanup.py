"""What a killed attempt at a task leaves, the next attempt removes, at a cost that is the
task's own: a worker SIGKILLed at any step of its task (a sample written, a file renamed
into place, a leftover removed) leaves nothing that survives a re-run, and the re-run gives
the files an uninterrupted run gives; finding the leftovers reads no directory listing, so
the other tasks' files in shards/ and _tasks/ cost nothing."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from conftest import write_jsonl

from vlforge.engines.executor import OutputLayout, run_task
from vlforge.engines.runner import prepare_job
from vlforge.shards import ShardWriter

LINES = 7  # per input file: 4 shards of at most 2 samples, plus one reject, per task
OPTIONS = ("tasks.max_files=1", "shards.max_count=2")
KILLED = "killed"  # what the forked attempt reports when its kill point came


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cleanup-inputs")
    for f in range(2):
        write_jsonl(root / f"part-{f}.jsonl", [{"text": f"file {f} line {i}"} for i in range(LINES)] + ["{broken"])
    return root


def _job(inputs: Path, out: Path):
    job, tasks = prepare_job("text", [str(inputs)], str(out), assignments=OPTIONS)
    assert len(tasks) == 2
    return job, tasks


def _tree(out: Path) -> dict[str, str]:
    """sha256 of every file below shards/ and _tasks/; a marker without its elapsed time."""
    files = {}
    for path in sorted(out.glob("*/*")):
        data = path.read_bytes()
        if path.parent.name == "_tasks" and path.suffix == ".json":
            record = json.loads(data)
            record.pop("elapsed_s")
            data = json.dumps(record, sort_keys=True).encode()
        files[str(path.relative_to(out))] = hashlib.sha256(data).hexdigest()
    return files


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    job, tasks = _job(inputs, out)
    for task in tasks:
        run_task(job, task)
    return _tree(out)


def _die_at_step(kill_at: int) -> None:
    """From now on (in a forked child), the kill_at-th filesystem step SIGKILLs the process
    just before it happens: a sample written, a file renamed into place, a file removed."""
    steps = itertools.count()

    def step(original):
        def wrapped(*args, **kwargs):
            if next(steps) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        return wrapped

    os.replace = step(os.replace)
    os.unlink = step(os.unlink)  # Path.unlink goes through it
    ShardWriter.write = step(ShardWriter.write)


def _attempt_killed_at(job, task, attempt: int, kill_at: int) -> bool:
    """One attempt in a forked worker that dies at step kill_at; False if the attempt
    committed before reaching it."""
    pid = os.fork()
    if pid == 0:  # the worker: never returns into pytest
        try:
            _die_at_step(kill_at)
            run_task(job, task, attempt)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) or os.WEXITSTATUS(status) == 0, "the attempt failed, not killed"
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _files_of_task_zero(out: Path) -> list[Path]:
    """Found the slow way, by listing: the truth the probe must match."""
    return sorted(out.glob("*/text-000000[.-]*"))


def _assert_probe_finds_them_all(job, out: Path) -> None:
    assert sorted(OutputLayout(job.output_dir, job.corpus).task_leftovers(0)) == _files_of_task_zero(out)


def _what_a_kill_left(out: Path) -> str:
    shards = {p.name for p in out.glob("shards/text-000000-*")}
    if (out / "_tasks/text-000000.json").exists():
        return "committed"
    if any(name.endswith(".tar") for name in shards):
        return "renamed shards, no marker"
    if any(name.endswith(".tar.tmp") for name in shards):
        return "a shard half-written"
    return "no shard"


def test_a_task_killed_at_any_step_is_redone_to_the_files_of_a_clean_run(inputs, reference, tmp_path):
    seen = Counter()
    for kill_at in itertools.count():
        out = tmp_path / f"kill-{kill_at}"
        job, (task, other) = _job(inputs, out)
        run_task(job, other)
        if not _attempt_killed_at(job, task, 1, kill_at):
            break
        seen[_what_a_kill_left(out)] += 1
        _assert_probe_finds_them_all(job, out)
        run_task(job, task, 2)
        assert _tree(out) == reference, f"killed before step {kill_at}"
    assert kill_at > LINES + 8  # every sample, every rename of 4 shards, ledger and marker
    assert {"renamed shards, no marker", "a shard half-written"} <= seen.keys()


def test_a_cleanup_killed_half_way_is_finished_by_the_next_attempt(inputs, reference, tmp_path):
    """The second attempt finds the first one's renamed shards and ledger (killed just
    before its marker) and is killed at each removal in turn; the third leaves a clean run's
    files: what the killed cleanup left is still found, however far it got. The first
    attempt made one shard more than a clean run (as a stage with a time limit can), so a
    shard the third attempt does not write over must still go."""
    for kill_at in itertools.count():
        out = tmp_path / f"kill-{kill_at}"
        job, (task, other) = _job(inputs, out)
        run_task(job, other)
        run_task(job, task)
        (out / "_tasks/text-000000.json").unlink()
        (out / "_tasks/text-000000.progress").write_text("{}")  # its attempt was in flight
        for extra in ("text-000000-0004.tar", "text-000000-0004.parquet"):
            (out / "shards" / extra).write_bytes(b"the first attempt's fifth shard")
        leftovers = len(_files_of_task_zero(out))
        if kill_at == leftovers:
            break
        assert _attempt_killed_at(job, task, 2, kill_at)
        _assert_probe_finds_them_all(job, out)
        run_task(job, task, 3)
        assert _tree(out) == reference, f"cleanup killed before removal {kill_at}"
    assert leftovers == 5 * 2 + 2  # tar and index of each shard, the ledger, the progress file


def _count_directory_reads(monkeypatch) -> Counter:
    """Entries read from each directory through os.scandir and os.listdir (pathlib's
    iterdir and glob, os.walk, glob all list through them)."""
    read: Counter = Counter()
    scandir, listdir = os.scandir, os.listdir

    class CountingScandir:
        def __init__(self, path="."):
            self.path, self.entries = os.fspath(path), scandir(path)

        def __iter__(self):
            for entry in self.entries:
                read[self.path] += 1
                yield entry

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.entries.close()

    def counting_listdir(path="."):
        names = listdir(path)
        read[os.fspath(path)] += len(names)
        return names

    monkeypatch.setattr(os, "scandir", CountingScandir)
    monkeypatch.setattr(os, "listdir", counting_listdir)
    return read


def _other_tasks_files(layout: OutputLayout, tasks: int) -> list[Path]:
    """What `tasks` other tasks leave: committed shards, a half-written one, markers."""
    layout.shards_dir.mkdir(parents=True, exist_ok=True)
    layout.tasks_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(10, 10 + tasks):
        prefix = layout.task_prefix(index)
        files += [layout.shards_dir / f"{prefix}-0000.tar", layout.shards_dir / f"{prefix}-0000.parquet",
                  layout.shards_dir / f"{prefix}-0001.tar.tmp", layout.tasks_dir / f"{prefix}.json"]
    for path in files:
        path.write_bytes(b"x")
    return files


def test_a_task_reads_no_listing_of_the_directories_every_task_shares(inputs, tmp_path, monkeypatch):
    job, (task, _) = _job(inputs, tmp_path / "out")
    layout = OutputLayout(job.output_dir, job.corpus)
    others = _other_tasks_files(layout, 1_250)  # 5,000 files
    (layout.shards_dir / "text-000000-0000.tar").write_bytes(b"a killed attempt's shard")
    read = _count_directory_reads(monkeypatch)
    stats = run_task(job, task)
    monkeypatch.undo()
    assert read[str(layout.shards_dir)] == read[str(layout.tasks_dir)] == 0
    assert sum(read.values()) < 100, read.most_common(5)
    assert stats["accepted"] == LINES and [s["samples"] for s in stats["shards"]] == [2, 2, 2, 1]
    assert all(path.read_bytes() == b"x" for path in others)
