"""The default engine: `run_with_retries` in a pool of worker processes on this machine.

Workers are started with `spawn` so that nothing of the parent (threads, an open browser, a
torch runtime) is copied into them half-initialised. Each worker keeps its heavy resources
(a browser, a model) across the tasks it runs. A worker that dies takes its pool with it:
the pool is rebuilt and the unfinished tasks are submitted again; the retry policy
(engines.base) charges the attempt the dead worker spent, and only that one: the other
workers the broken pool stopped (SIGTERM) get theirs back.

Workers that cannot start (the corpus does not import in them, or the main script cannot
be imported again, as `spawn` does) stop the job at once with WorkerStartError, instead
of pool after broken pool: each worker imports the job's corpus as it starts and tells the
driver whether it could.

Ctrl-C is the driver's alone (env.detach_worker_signals): the driver stops the workers
when it is interrupted; committed tasks stay, and a re-run resumes. A driver killed outright
leaves no worker behind either: each one gets SIGTERM when its parent dies.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from vlforge.contract import Task, load_corpus
from vlforge.engines.base import Engine, TaskResult, run_with_retries
from vlforge.engines.env import detach_worker_signals
from vlforge.engines.executor import JobSpec, OutputLayout, refund_attempt
from vlforge.engines.monitor import Monitor
from vlforge.errors import VlforgeError, exception_detail

START_FAILED = 3  # exit status of a worker whose start failed (it has said why)


class WorkerStartError(VlforgeError):
    """The pool's worker processes cannot start, so no task can run."""


def _start_worker(corpus_module: str, starts) -> None:
    """Pool initializer: every worker's signals, then the job's corpus imported (what fails
    here would fail every task alike). Puts (pid, None or the error) on `starts`; a worker
    that failed exits at once, without the traceback the pool would print."""
    try:
        detach_worker_signals()
        atexit.register(_leave_without_teardown)  # first, so it runs after every later one
        load_corpus(corpus_module)
    except Exception as exc:
        starts.put((os.getpid(), exception_detail(exc)))
        os._exit(START_FAILED)
    starts.put((os.getpid(), None))


def _leave_without_teardown() -> None:
    """A pool worker's last exit handler: the process ends here, without Python's teardown.

    By now the worker's tasks have closed and renamed every file they wrote, multiprocessing's
    finalizers (the browser's close among them) have run, the worker's threads are joined
    and every exit handler registered after this one (the corpus's own) has run. What the
    teardown would still do is free pyarrow's, numpy's and PIL's modules object by object:
    ~50 ms per worker at the end of every job (more on a busy machine), all workers at
    once. The status is 0: the driver reads no status of a worker that started."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a stream closed by the corpus: nothing to flush
            stream.flush()
    os._exit(0)


class LocalEngine(Engine):
    name = "local"

    def __init__(self, workers: int = 2):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers

    def run(self, job: JobSpec, tasks: list[Task], monitor: Monitor) -> dict[int, TaskResult]:
        context = multiprocessing.get_context("spawn")
        starts = context.SimpleQueue()
        results: dict[int, TaskResult] = {}
        todo = list(tasks)
        while todo:
            pool = ProcessPoolExecutor(min(self.workers, len(todo)), mp_context=context,
                                       initializer=_start_worker, initargs=(job.corpus_module, starts))
            try:
                todo = self._drain(pool, job, todo, results, monitor)
            except KeyboardInterrupt:
                _stop_workers(pool)
                raise
            finally:
                processes = dict(pool._processes or {})  # shutdown forgets them
                pool.shutdown(cancel_futures=True)
            if todo:  # the pool broke: a worker died at its task, or none could start
                _check_started(starts, processes)
            stopped = {pid for pid, process in processes.items() if process.exitcode == -signal.SIGTERM}
            for task in todo:
                refund_attempt(OutputLayout(job.output_dir, job.corpus), task.index, stopped)
        return results

    @staticmethod
    def _drain(pool, job: JobSpec, todo: list[Task], results: dict[int, TaskResult],
               monitor: Monitor) -> list[Task]:
        """Runs `todo` on one pool; returns the tasks to run again on a new pool (pool broke)."""
        pending: dict[Future, Task] = {pool.submit(run_with_retries, job, t): t for t in todo}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                task = pending.pop(future)
                try:
                    results[task.index] = future.result()
                except BrokenProcessPool:  # every unfinished future fails with the pool
                    return sorted([task, *pending.values()], key=lambda t: t.index)
                monitor.task_done(results[task.index])
        return []


def _check_started(starts, processes: dict) -> None:
    """Raises WorkerStartError when a worker of the broken pool could not start: it said
    why, or it died before it could say anything (what it printed says why). Workers the
    broken pool stopped (SIGTERM) before they started are no sign of either."""
    reports = {}
    while not starts.empty():
        pid, error = starts.get()
        reports[pid] = error
    errors = [error for error in reports.values() if error is not None]
    if errors:
        raise WorkerStartError(f"the local engine's workers cannot start: {errors[0]}")
    silent = sorted({process.exitcode for pid, process in processes.items()
                     if pid not in reports and process.exitcode not in (None, -signal.SIGTERM)})
    if silent:
        raise WorkerStartError(
            f"the local engine's workers exited (status {', '.join(map(str, silent))}) before they "
            "started; they start by importing the main script again, so a script that runs a job "
            "must be a file, with the job under `if __name__ == \"__main__\":`")


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Ends the workers now, not after their tasks (shutdown alone waits for those)."""
    for process in list((pool._processes or {}).values()):  # no public way before Python 3.14
        process.terminate()
