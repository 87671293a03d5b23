"""The default engine: `run_task` in a pool of worker processes on this machine.

Workers are started with `spawn` so that nothing of the parent (threads, an open browser, a
torch runtime) is copied into them half-initialised. Each worker keeps its heavy resources
(a browser, a model) across the tasks it runs. Progress increments come back over a queue.
A task that raises is submitted again up to `engine.retries` times; a worker that dies takes
its pool with it, so the pool is rebuilt and the unfinished tasks are submitted again.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from vlforge.contract import Task
from vlforge.engines.executor import JobSpec, run_task
from vlforge.engines.monitor import Monitor
from vlforge.errors import exception_detail

_progress_queue = None  # set in each worker by _init_worker


def _init_worker(progress_queue) -> None:
    global _progress_queue
    _progress_queue = progress_queue


def _report(task: int, accepted: int, rejected: int) -> None:
    _progress_queue.put((task, accepted, rejected))


def _run_in_worker(job: JobSpec, task: Task) -> dict:
    _progress_queue.put((task.index, None, None))  # "started": tells who to blame if we die
    return run_task(job, task, progress=_report)


class LocalEngine:
    name = "local"

    def __init__(self, workers: int = 2):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers

    def run(self, job: JobSpec, tasks: list[Task], monitor: Monitor) -> dict[int, dict | str]:
        """Task index -> its stats, or the error of its last attempt."""
        context = multiprocessing.get_context("spawn")
        progress_queue = context.Queue()
        results: dict[int, dict | str] = {}
        self.attempts = {task.index: 0 for task in tasks}
        self.started: set[int] = set()
        todo = list(tasks)
        while todo:
            workers = min(self.workers, len(todo))
            with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                     initargs=(progress_queue,)) as pool:
                todo = self._drain(pool, job, todo, results, monitor, progress_queue)
        return results

    def _drain(self, pool, job, todo, results, monitor, progress_queue) -> list[Task]:
        """Runs `todo` on one pool; returns the tasks to run again on a new pool (pool broke)."""
        retries = job.options["engine"]["retries"]
        pending: dict[Future, Task] = {pool.submit(_run_in_worker, job, t): t for t in todo}
        while pending:
            finished, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            self._drain_queue(progress_queue, monitor)
            for future in finished:
                task = pending.pop(future)
                try:
                    results[task.index] = future.result()
                    monitor.task_done(task.index, results[task.index])
                except BrokenProcessPool:
                    # Every unfinished future fails with the pool: rebuild it and go on.
                    self._drain_queue(progress_queue, monitor)
                    return self._after_broken_pool([task, *pending.values()], results, monitor, retries)
                except Exception as exc:
                    self.attempts[task.index] += 1
                    if self.attempts[task.index] <= retries:
                        pending[pool.submit(_run_in_worker, job, task)] = task
                    else:
                        results[task.index] = exception_detail(exc)
                        monitor.task_done(task.index, None)
        return []

    def _after_broken_pool(self, unfinished: list[Task], results, monitor, retries) -> list[Task]:
        """Only tasks that had started when the pool broke used up an attempt."""
        again = []
        for task in unfinished:
            if task.index in self.started:
                self.attempts[task.index] += 1
                self.started.discard(task.index)
            if self.attempts[task.index] <= retries:
                again.append(task)
            else:
                results[task.index] = "the worker process running this task died"
                monitor.task_done(task.index, None)
        return sorted(again, key=lambda t: t.index)

    def _drain_queue(self, progress_queue, monitor: Monitor) -> None:
        while True:
            try:
                task, accepted, rejected = progress_queue.get_nowait()
            except queue_module.Empty:
                return
            if accepted is None:
                self.started.add(task)
            else:
                monitor.progress(task, accepted, rejected)
