"""`--engine beam`: the same run_with_retries as a Beam pipeline, tasks -> run_with_retries.

By default Beam's portable local runner (FnApiRunner, what DirectRunner runs such a
pipeline on) with --workers SDK worker processes on this machine; any other runner (Flink,
Spark, Dataflow) through standard Beam pipeline options given with --beam-args. The
pipeline returns nothing to the driver: each task commits its own files and marker, or
leaves the error of its last attempt in its progress file (executor.record_failure), and
the driver reads those.

A lost local worker (killed, out of memory) does not hang the job, as it would hang Beam's
local runner, which waits for ever on the answer of a worker that died: the driver runs the
pipeline in a thread and watches the workers (_WorkerWatch). When one is lost while tasks
remain, the driver stops the others (their attempts are refunded, as on the local engine),
leaves that pipeline behind and runs a new one on the tasks that neither committed nor failed
for good; the retry policy charges the lost attempt, so each new pipeline is owed to one.

Ctrl-C on the default runner: the local workers are our own module (beam_worker), which
leaves SIGINT to the driver; the driver stops them at once (they would otherwise finish
the task in hand first) and keeps the threads Beam watched them with from printing their
end, so the job ends with one line, as on the other engines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from vlforge.contract import Task
from vlforge.engines.base import Engine, TaskResult, run_with_retries
from vlforge.engines.env import driver_import_path
from vlforge.engines.executor import (
    JobSpec,
    OutputLayout,
    read_marker,
    read_progress,
    refund_attempt,
)
from vlforge.engines.monitor import Monitor

WORKER_MODULE = "vlforge.engines.beam_worker"
WATCH_S = 0.5  # seconds between two looks at the local workers
STOP_WAIT_S = 10  # longest wait for stopped workers to be gone


def _run(task: Task, job: JobSpec) -> int:
    run_with_retries(job, task)  # its result is on disk: the marker, or the recorded error
    return task.index


class BeamEngine(Engine):
    name = "beam"

    def __init__(self, workers: int = 2, beam_args: str | None = None):
        self.workers = workers
        self.beam_args = beam_args

    def pipeline_args(self) -> list[str]:
        if self.beam_args:
            return shlex.split(self.beam_args)
        return [f"--direct_num_workers={self.workers}"]

    def run(self, job: JobSpec, tasks: list[Task], monitor: Monitor) -> dict[int, TaskResult]:
        with _quiet_import():
            import apache_beam  # noqa: F401 - first here, where its import notes are kept quiet
        layout = OutputLayout(job.output_dir, job.corpus)
        already = {t.index for t in tasks if read_marker(layout, t.index) is not None}
        # Local worker processes inherit the environment: let them import what we do.
        with driver_import_path():
            if self.beam_args:  # the runner --beam-args names, with its own recovery
                self._run_pipeline(job, tasks, None)
            else:
                self._run_locally(job, tasks, layout)
        results = {task.index: _result_on_disk(layout, task.index, task.index in already) for task in tasks}
        for result in results.values():
            monitor.task_done(result)
        return results

    def _run_pipeline(self, job: JobSpec, tasks: list[Task], runner) -> None:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        with beam.Pipeline(runner=runner, options=PipelineOptions(self.pipeline_args())) as pipeline:
            (pipeline
             | "tasks" >> beam.Create(tasks)
             | "spread" >> beam.Reshuffle()  # one task per bundle element, spread over workers
             | "run_task" >> beam.Map(_run, job))

    def _run_locally(self, job: JobSpec, tasks: list[Task], layout: OutputLayout) -> None:
        """Pipelines on this machine's workers until one ends without losing a worker."""
        todo = tasks
        with _local_run():
            while todo:
                stopped = self._run_watched(job, todo, layout)
                if stopped is None:
                    return
                for task in todo:
                    refund_attempt(layout, task.index, stopped)
                todo = [task for task in todo if _unfinished(layout, task.index)]

    def _run_watched(self, job: JobSpec, tasks: list[Task], layout: OutputLayout) -> set[int] | None:
        """One pipeline in a thread, watched: None once it ended, or the workers stopped
        because one was lost (the pipeline, waiting for that one, is left behind)."""
        outcome: list[BaseException] = []

        def pipeline() -> None:
            try:
                self._run_pipeline(job, tasks, _local_runner())
            except BaseException as exc:  # noqa: BLE001 - raised again in the driver's thread
                outcome.append(exc)

        watch = _WorkerWatch(layout, tasks)
        with _HeldBackNoise() as noise:
            thread = threading.Thread(target=pipeline, name="vlforge-beam-pipeline", daemon=True)
            thread.start()
            while thread.is_alive():
                thread.join(WATCH_S)
                if thread.is_alive() and watch.lost():
                    noise.drop()  # what Beam says about the workers it lost is no news
                    return _stop_local_workers()
        if outcome:
            raise outcome[0]
        return None


def _local_runner():
    """DirectRunner's multi-processing setup, with beam_worker as the worker command.

    (The runner notes that processes need direct_running_mode=multi_processing: that mode
    would start Beam's stock worker; the environment below starts ours in its place.)
    """
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms.environments import SubprocessSDKEnvironment

    command = f"exec {shlex.quote(sys.executable)} -m {WORKER_MODULE}"
    return FnApiRunner(default_environment=SubprocessSDKEnvironment.from_command_string(command))


def _unfinished(layout: OutputLayout, index: int) -> bool:
    """Neither committed nor failed for good (its progress file holds no error)."""
    if read_marker(layout, index) is not None:
        return False
    return "error" not in (read_progress(layout.progress(index)) or {})


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class _WorkerWatch:
    """Tells when a pipeline has lost a local worker while tasks remain: an attempt begun
    in this pipeline whose process is gone without a commit, or a worker seen at work that
    is gone before every task ended (workers end only after the last task)."""

    def __init__(self, layout: OutputLayout, tasks: list[Task]):
        self.layout, self.tasks = layout, tasks
        self.started_ns = time.time_ns()
        self.seen: set[int] = set()

    def lost(self) -> bool:
        workers = set(_local_worker_pids())
        self.seen |= workers
        if any(self._died_at_work(path) for path in self.layout.progress_files()):
            return True
        return bool(self.seen - workers) and any(_unfinished(self.layout, t.index) for t in self.tasks)

    def _died_at_work(self, path: Path) -> bool:
        record = read_progress(path)
        try:
            begun_here = path.stat().st_mtime_ns >= self.started_ns  # not a refunded earlier one
        except OSError:
            return False  # committed meanwhile
        if record is None or "error" in record or not begun_here or _alive(record["pid"]):
            return False
        return read_marker(self.layout, record["task"]) is None


def _stop_local_workers() -> set[int]:
    """SIGTERM to this process's local workers; returns their pids once they are gone."""
    stopped = set(_local_worker_pids())
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    while any(_alive(pid) for pid in stopped) and time.monotonic() < deadline:
        time.sleep(0.05)
    return stopped


class _HeldBackNoise:
    """While a pipeline runs: Beam's log records and what its threads raise are held back,
    then passed on as usual once it ended, or dropped when it lost a worker (drop()) or the
    driver was interrupted, and so are the last words of the threads it leaves behind."""

    def __init__(self):
        self.logger = logging.getLogger("apache_beam")
        self.records: list[logging.LogRecord] = []
        self.raised: list = []
        self.dropping = False
        self.left: set[threading.Thread] | None = None  # threads of a pipeline left behind

    def __enter__(self) -> _HeldBackNoise:
        self.before = set(threading.enumerate())
        self.previous_hook = threading.excepthook
        threading.excepthook = self._thread_raised
        self.propagate = self.logger.propagate
        self.logger.propagate = False
        self.logger.addFilter(self._hold)
        return self

    def drop(self) -> None:
        self.dropping = True
        self.records.clear()
        self.raised.clear()

    def _hold(self, record: logging.LogRecord) -> bool:
        if not self.dropping:
            self.records.append(record)
        return False

    def _thread_raised(self, args) -> None:
        ours = args.thread not in self.before and (self.left is None or args.thread in self.left)
        if not ours:
            self.previous_hook(args)
        elif not self.dropping:
            self.raised.append(args)

    def __exit__(self, exc_type, *_) -> None:
        self.logger.removeFilter(self._hold)
        self.logger.propagate = self.propagate
        if exc_type is not None:  # interrupted: the job ends with that, Beam's noise is none of it
            self.drop()
        self.left = set(threading.enumerate()) - self.before if self.dropping else set()
        if threading.excepthook == self._thread_raised and not self.dropping:
            threading.excepthook = self.previous_hook
        for record in self.records:
            self.logger.handle(record)
        for args in self.raised:
            self.previous_hook(args)


def _result_on_disk(layout: OutputLayout, index: int, skipped: bool) -> TaskResult:
    marker = read_marker(layout, index)
    if marker is not None:
        return TaskResult(index, marker, skipped=skipped)
    progress = read_progress(layout.progress(index)) or {}
    return TaskResult(index, error=progress.get("error", "the task left no marker"))


@contextlib.contextmanager
def _logger_level(name: str | None, level: int) -> Iterator[None]:
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Beam's import notes optional cloud clients it did not find (with logging.warning,
    which would also give the root logger a stderr handler): neither happens."""
    null = logging.NullHandler()
    logging.getLogger().addHandler(null)
    try:
        with _logger_level(None, logging.ERROR):
            yield
    finally:
        logging.getLogger().removeHandler(null)


@contextlib.contextmanager
def _local_run() -> Iterator[None]:
    """While a pipeline runs on this machine's workers: Beam's own notes (the runner's, and
    the workers' it relays) are not the user's business, only its errors reach stderr; and
    Ctrl-C ends the workers at once, then interrupts (_stop_workers_on_interrupt)."""
    with _logger_level("apache_beam", logging.ERROR):
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers belong to the main thread; a caller's thread keeps its own
        else:
            with _stop_workers_on_interrupt():
                yield


@contextlib.contextmanager
def _stop_workers_on_interrupt() -> Iterator[None]:
    """Ctrl-C: the workers are stopped, and as Beam tears down what served them (it sees
    connections break, threads end with errors) it says nothing more for the rest of the
    process, which is ending; then KeyboardInterrupt, as everywhere."""
    started_before = set(threading.enumerate())
    previous = signal.getsignal(signal.SIGINT)

    def interrupted(signum, frame):
        _QuietEnd.install(set(threading.enumerate()) - started_before)
        _silence("apache_beam")
        for pid in _local_worker_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _silence(logger_name: str) -> None:
    """Nothing the logger or those below it record goes further, whatever their levels."""
    logger = logging.getLogger(logger_name)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


def _local_worker_pids() -> list[int]:
    """This process's children running WORKER_MODULE (Linux /proc; elsewhere none are
    found, and Beam ends each worker once its task in hand is done)."""
    me, pids = str(os.getpid()), []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            parent = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
            command = (proc / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # ended meanwhile
        if parent == me and WORKER_MODULE.encode() in command:
            pids.append(int(proc.name))
    return pids


class _QuietEnd:
    """A threading.excepthook that drops what the given threads raise as they end (Beam's
    threads that watched the workers an interrupt stopped) and passes on everything else."""

    def __init__(self, threads: set[threading.Thread], previous):
        self.threads = threads
        self.previous = previous

    @classmethod
    def install(cls, threads: set[threading.Thread]) -> None:
        threading.excepthook = cls(threads, threading.excepthook)

    def __call__(self, args) -> None:
        if args.thread not in self.threads:
            self.previous(args)
