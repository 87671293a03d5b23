"""Everything that happens to one task, whichever engine runs it.

run_task(job, task, attempt):  one attempt at a task that has not committed
    leftovers of a killed attempt -> removed (found by their names, no directory listing)
    the progress file `_tasks/{corpus}-{task:06d}.progress` says which attempt this is
    read parts -> stages -> Samples to shards, Rejects to the ledger; the progress file is
    rewritten every PROGRESS_EVERY outcomes with the attempt's counts so far
    commit: shards renamed, reject ledger written (none when nothing was rejected), then
    the task marker, last of all; the progress file goes

The task marker `_tasks/{corpus}-{task:06d}.json` holds the task's stats: it is both the
proof that the task's files are complete and the resume state. The progress file is how
the driver sees a task in flight on any engine (it polls them, engines.progress) and how
the retry policy (engines.base) knows how many attempts a dead worker spent; a task that
failed for good leaves its error there. Engines (local pool, Ray, Beam) only decide where
tasks run; they never copy any of this.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from vlforge.atomic import atomic_path, temporary_path, write_atomic
from vlforge.contract import Corpus, Outcome, Part, Task, TaskContext, load_corpus
from vlforge.errors import exception_detail
from vlforge.schemas import REJECT_SCHEMA, Reject, Sample
from vlforge.shards import ShardWriter
from vlforge.shards.writer import shard_files, table_from_rows

PROGRESS_EVERY = 200  # outcomes between rewrites of a task's progress file


@dataclass(frozen=True)
class JobSpec:
    """All a worker needs to run any task of a job: small and picklable."""

    corpus: str
    corpus_module: str  # where CORPUS is defined: workers import it, no registry needed
    options: dict
    output_dir: str
    fingerprint: str


class OutputLayout:
    """Where a job's files live below its output directory."""

    def __init__(self, output_dir: str, corpus: str):
        self.root = Path(output_dir)
        self.corpus = corpus
        self.shards_dir = self.root / "shards"
        self.tasks_dir = self.root / "_tasks"
        self.job_file = self.root / "job.json"
        self.stats_file = self.root / "stats.json"
        self.rejects_file = self.root / "rejects.parquet"

    def task_prefix(self, index: int) -> str:
        return f"{self.corpus}-{index:06d}"

    def marker(self, index: int) -> Path:
        return self.tasks_dir / f"{self.task_prefix(index)}.json"

    def progress(self, index: int) -> Path:
        return self.tasks_dir / f"{self.task_prefix(index)}.progress"

    def progress_files(self) -> list[Path]:
        return sorted(self.tasks_dir.glob("*.progress")) if self.tasks_dir.exists() else []

    def task_rejects(self, index: int) -> Path:
        return self.tasks_dir / f"{self.task_prefix(index)}.rejects.parquet"

    def task_leftovers(self, index: int) -> list[Path]:
        """Files an interrupted attempt at the task may have left, in the order they go:
        its marker first, so a marker never outlives the files it vouches for, then its
        shards from the last one back (see _shard_leftovers), then its other _tasks files.

        Each candidate name is probed (one lstat), never found by listing a directory:
        shards/ and _tasks/ hold every task's files, so a listing per task made a job of N
        tasks read O(N^2) entries (DeepSeek-VL's 1.46M notebooks: ~91k tasks, billions).
        The cost is now O(the task's own files), whatever the job's size."""
        marker, *others = self._task_files(index)
        return _existing([marker]) + self._shard_leftovers(index) + _existing(others)

    def _task_files(self, index: int) -> list[Path]:
        """Every name the task's files in _tasks/ can have, the marker first: each final
        name and the temporary one it is written under (vlforge.atomic)."""
        finals = (self.marker(index), self.progress(index), self.task_rejects(index))
        return [name for final in finals for name in (final, temporary_path(final))]

    def _shard_leftovers(self, index: int) -> list[Path]:
        """The task's shard files that exist, the last shard's first.

        The writer starts shard n+1 only once shard n is committed, and the leftovers go
        in this order, last shard first: so wherever a worker is killed (writing a shard,
        renaming it, or removing an earlier attempt's), the task's shards on disk are
        numbers 0..k without a gap, and probing 0, 1, ... up to the first number with no
        file at all finds every one. (The job's dedup pass may later empty a shard of a
        committed task; a committed task never runs again.)"""
        prefix, number, found = self.task_prefix(index), 0, []
        while present := _existing(shard_files(self.shards_dir, prefix, number)):
            found += present
            number += 1
        return found[::-1]


def _existing(paths) -> list[Path]:
    return [path for path in paths if os.path.lexists(path)]


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None  # written atomically, so a bad one is only ever absent


def read_marker(layout: OutputLayout, index: int) -> dict | None:
    return _read_json(layout.marker(index))


def read_progress(path: Path) -> dict | None:
    """{"task", "attempt", "accepted", "rejected"} of the attempt in flight, plus "error"
    once the task failed for good."""
    return _read_json(path)


def _write_progress(path: Path, record: dict) -> None:
    write_atomic(path, json.dumps(record, sort_keys=True).encode())


def record_failure(layout: OutputLayout, index: int, attempt: int, error: str) -> None:
    """Leaves the error of a task's last attempt where the driver finds it (any engine)."""
    layout.tasks_dir.mkdir(parents=True, exist_ok=True)
    _write_progress(layout.progress(index), {"task": index, "attempt": attempt, "accepted": 0,
                                             "rejected": 0, "error": error})


def forget_attempts(layout: OutputLayout) -> None:
    """Removes the progress files an earlier run of the job left: a new run starts every
    unfinished task with its full retry budget (engines.base) and shows no stale counts."""
    for stale in layout.progress_files():
        stale.unlink(missing_ok=True)


def refund_attempt(layout: OutputLayout, index: int, stopped_pids: set[int]) -> None:
    """Takes back the attempt in flight of a task whose worker was stopped for another
    task's fault (a local pool ends every worker when one dies): it is not charged."""
    path = layout.progress(index)
    record = read_progress(path)
    if record is None or "error" in record or record.get("pid") not in stopped_pids:
        return
    record["attempt"] -= 1
    if record["attempt"]:
        _write_progress(path, record)
    else:
        path.unlink(missing_ok=True)


def _read_part(corpus: Corpus, part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    """The reader's outcomes for one part; a reader that raises ends the part with a reject."""
    if corpus.suffixes and not part.path.lower().endswith(corpus.suffixes):
        yield Reject(part.path, part.label, "read", "unsupported_file_type",
                     f"{corpus.name} reads {', '.join(corpus.suffixes)} files")
        return
    try:
        yield from corpus.read(part, ctx)
    except OSError as exc:  # missing, a broken link, a directory, no permission, I/O error
        yield Reject(part.path, part.label, "read", "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
    except Exception as exc:
        yield Reject(part.path, part.label, "read", "reader_error", exception_detail(exc))


def _read_task(corpus: Corpus, ctx: TaskContext, counts: Counter) -> Iterator[Outcome]:
    for part in ctx.task.parts:
        for outcome in _read_part(corpus, part, ctx):
            counts["read"] += 1
            yield outcome


def _write_rejects(path: Path, task_index: int, rejects: list[Reject]) -> None:
    rows = [{"task": task_index, "source": r.source, "item": r.item, "stage": r.stage,
             "reason": r.reason, "detail": r.detail} for r in rejects]
    with atomic_path(path) as tmp:
        pq.write_table(table_from_rows(rows, REJECT_SCHEMA), tmp)


def run_task(job: JobSpec, task: Task, attempt: int = 1) -> dict:
    """One attempt at the task, to its commit; returns its stats (the marker's content)."""
    layout = OutputLayout(job.output_dir, job.corpus)
    for leftover in layout.task_leftovers(task.index):
        leftover.unlink()
    layout.tasks_dir.mkdir(parents=True, exist_ok=True)
    progress = _Progress(layout.progress(task.index), task.index, attempt)

    started = time.perf_counter()
    corpus = load_corpus(job.corpus_module)
    ctx = TaskContext(job.corpus, job.options, task, job.output_dir)
    counts: Counter = Counter()
    rejects: list[Reject] = []
    shard_options = job.options["shards"]
    writer = ShardWriter(layout.shards_dir, layout.task_prefix(task.index),
                         shard_options["max_count"], shard_options["max_bytes"])
    with writer:
        stream = _read_task(corpus, ctx, counts)
        for stage in corpus.stages:
            stream = stage(stream, ctx)
        for outcome in stream:
            _route(outcome, corpus, writer, rejects, counts)
            progress.update(counts["accepted"], len(rejects))
    stats = _task_stats(task, counts, rejects, writer, time.perf_counter() - started)
    if ctx.facts:
        stats["facts"] = ctx.facts
    if rejects:  # a task that rejected nothing has no ledger: its marker says rejected 0
        _write_rejects(layout.task_rejects(task.index), task.index, rejects)
    write_atomic(layout.marker(task.index), json.dumps(stats, indent=1, sort_keys=True).encode())
    progress.path.unlink(missing_ok=True)  # the marker now tells the driver everything
    return stats


class _Progress:
    """The progress file of one attempt: written at its start (so an attempt whose worker
    dies is still counted) and every PROGRESS_EVERY outcomes with its absolute counts, so
    the driver replaces what an earlier, failed attempt showed instead of adding to it."""

    def __init__(self, path: Path, task_index: int, attempt: int):
        self.path = path
        self.record = {"task": task_index, "attempt": attempt, "accepted": 0, "rejected": 0,
                       "pid": os.getpid()}
        self.written = 0
        _write_progress(path, self.record)

    def update(self, accepted: int, rejected: int) -> None:
        if accepted + rejected - self.written >= PROGRESS_EVERY:
            self.record.update(accepted=accepted, rejected=rejected)
            self.written = accepted + rejected
            _write_progress(self.path, self.record)


def _route(outcome: Outcome, corpus: Corpus, writer: ShardWriter, rejects: list[Reject],
           counts: Counter) -> None:
    if isinstance(outcome, Sample):
        if outcome.image_format not in (None, corpus.image_format):
            raise LayoutError(f"corpus {corpus.name} made a {outcome.image_format} image ({outcome.key}); "
                              f"its samples' images are {corpus.image_format}: convert in a stage")
        writer.write(outcome)
        counts["accepted"] += 1
    elif isinstance(outcome, Reject):
        rejects.append(outcome)
    else:
        raise TypeError(f"a stage yielded {type(outcome).__name__}; stages yield Sample or Reject")


class LayoutError(RuntimeError):
    """A corpus broke the shard layout: an image in another format than the corpus's one."""


class AccountingError(RuntimeError):
    """A stage dropped or invented items: accepted + rejected != read."""


def _task_stats(task: Task, counts: Counter, rejects: list[Reject], writer: ShardWriter,
                elapsed: float) -> dict:
    accepted, rejected = counts["accepted"], len(rejects)
    if accepted + rejected != counts["read"]:
        raise AccountingError(
            f"task {task.index}: read {counts['read']} but accepted {accepted} + rejected "
            f"{rejected}: a stage dropped or added items without a Sample or Reject")
    return {
        "task": task.index,
        "parts": [part.label for part in task.parts],
        "read": counts["read"],
        "accepted": accepted,
        "rejected": rejected,
        "rejected_by_reason": dict(sorted(Counter(r.reason for r in rejects).items())),
        "shards": [{"name": Path(s.path).name, "samples": s.samples, "bytes": s.bytes}
                   for s in writer.shards],
        "elapsed_s": round(elapsed, 4),
    }
