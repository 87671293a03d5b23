"""What every engine is, and the one retry policy they share.

An engine decides only *where* tasks run (a local process pool, Ray, Beam); what happens to
a task is `executor.run_task`, and how often it is tried is `run_with_retries` below, run
by every engine inside its workers:

    attempt 1, 2, ... up to 1 + engine.retries; an attempt that raises is followed by the next
    every attempt first writes its number to the task's progress file (executor), so an
    attempt whose worker process DIED is charged too: the engine only restarts the worker
    (local: a new pool; Ray: max_retries / max_restarts) and runs `run_with_retries` again,
    which reads how many attempts are spent and goes on from there, or gives up.

Results come back as `TaskResult`s, whichever engine ran the task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlforge.contract import Task
from vlforge.engines.executor import (
    JobSpec,
    OutputLayout,
    read_marker,
    read_progress,
    record_failure,
    run_task,
)
from vlforge.errors import exception_detail

if TYPE_CHECKING:
    from vlforge.engines.monitor import Monitor

WORKER_DIED = "the worker process running this task died"


@dataclass(frozen=True)
class TaskResult:
    """How one task ended: its stats (committed), or the error of its last attempt."""

    index: int
    stats: dict | None = None
    error: str | None = None
    skipped: bool = False  # committed by an earlier run; nothing was redone

    @property
    def ok(self) -> bool:
        return self.stats is not None


class Engine(ABC):
    """Runs `run_with_retries` for every task somewhere; returns task index -> result."""

    name: str
    workers: int

    @abstractmethod
    def run(self, job: JobSpec, tasks: list[Task], monitor: Monitor) -> dict[int, TaskResult]:
        """Every task's result; calls `monitor.task_done` as each one ends."""


def spent_attempts(layout: OutputLayout, index: int) -> int:
    """Attempts at the task so far in this job run: the number its progress file holds."""
    progress = read_progress(layout.progress(index))
    return progress["attempt"] if progress else 0


def run_with_retries(job: JobSpec, task: Task) -> TaskResult:
    """The task, tried until it commits or 1 + engine.retries attempts are spent."""
    layout = OutputLayout(job.output_dir, job.corpus)
    done = read_marker(layout, task.index)
    if done is not None:
        return TaskResult(task.index, done, skipped=True)
    last = 1 + job.options["engine"]["retries"]
    first = spent_attempts(layout, task.index) + 1
    error = WORKER_DIED  # what ended the attempts already spent, if none is left
    for attempt in range(first, last + 1):
        try:
            return TaskResult(task.index, run_task(job, task, attempt))
        except Exception as exc:
            error = exception_detail(exc)
    record_failure(layout, task.index, last, error)
    return TaskResult(task.index, error=error)

