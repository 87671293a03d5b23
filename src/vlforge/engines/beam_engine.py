"""`--engine beam`: the same run_with_retries as a Beam pipeline, tasks -> run_with_retries.

By default Beam's portable local runner (FnApiRunner, what DirectRunner runs such a
pipeline on) with --workers SDK worker processes on this machine; any other runner (Flink,
Spark, Dataflow) through standard Beam pipeline options given with --beam-args. The
pipeline returns nothing to the driver: each task commits its own files and marker, or
leaves the error of its last attempt in its progress file (executor.record_failure), and
the driver reads those.

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
from collections.abc import Iterator
from pathlib import Path

from vlforge.contract import Task
from vlforge.engines.base import Engine, TaskResult, run_with_retries
from vlforge.engines.env import driver_import_path
from vlforge.engines.executor import JobSpec, OutputLayout, read_marker, read_progress
from vlforge.engines.monitor import Monitor

WORKER_MODULE = "vlforge.engines.beam_worker"


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
            import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        layout = OutputLayout(job.output_dir, job.corpus)
        already = {t.index for t in tasks if read_marker(layout, t.index) is not None}
        runner = None if self.beam_args else _local_runner()  # None: the one --beam-args names
        local = _local_run() if runner else contextlib.nullcontext()
        # Local worker processes inherit the environment: let them import what we do.
        with driver_import_path(), local, \
                beam.Pipeline(runner=runner, options=PipelineOptions(self.pipeline_args())) as pipeline:
            (pipeline
             | "tasks" >> beam.Create(tasks)
             | "spread" >> beam.Reshuffle()  # one task per bundle element, spread over workers
             | "run_task" >> beam.Map(_run, job))
        results = {task.index: _result_on_disk(layout, task.index, task.index in already) for task in tasks}
        for result in results.values():
            monitor.task_done(result)
        return results


def _local_runner():
    """DirectRunner's multi-processing setup, with beam_worker as the worker command.

    (The runner notes that processes need direct_running_mode=multi_processing: that mode
    would start Beam's stock worker; the environment below starts ours in its place.)
    """
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms.environments import SubprocessSDKEnvironment

    command = f"exec {shlex.quote(sys.executable)} -m {WORKER_MODULE}"
    return FnApiRunner(default_environment=SubprocessSDKEnvironment.from_command_string(command))


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
