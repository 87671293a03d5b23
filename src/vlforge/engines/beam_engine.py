"""`--engine beam`: the same run_task as a Beam pipeline, task ids -> run_task.

DirectRunner in multi-processing mode by default; any other runner (Flink, Spark, Dataflow)
through standard Beam pipeline options given with --beam-args. The pipeline returns nothing
to the driver: each task commits its own files and marker, and the driver reads the markers.
A task that still raises after `engine.retries` extra attempts leaves `_tasks/NAME.error`
with the cause (removed when a later run commits the task), so one bad task does not fail
the whole pipeline.
"""

from __future__ import annotations

import shlex

from vlforge.atomic import write_atomic
from vlforge.contract import Task
from vlforge.engines.env import driver_import_path
from vlforge.engines.executor import JobSpec, OutputLayout, read_marker, run_task
from vlforge.engines.monitor import Monitor
from vlforge.errors import exception_detail


def _error_file(layout: OutputLayout, index: int):
    return layout.tasks_dir / f"{layout.task_prefix(index)}.error"


def run_task_with_retries(task: Task, job: JobSpec) -> int:
    """Runs the task up to 1 + engine.retries times; records the last error if all fail."""
    attempts = 1 + job.options["engine"]["retries"]
    for attempt in range(attempts):
        try:
            run_task(job, task)
            return task.index
        except Exception as exc:
            if attempt == attempts - 1:
                layout = OutputLayout(job.output_dir, job.corpus)
                layout.tasks_dir.mkdir(parents=True, exist_ok=True)
                write_atomic(_error_file(layout, task.index), exception_detail(exc).encode())
    return task.index


class BeamEngine:
    name = "beam"

    def __init__(self, workers: int = 2, beam_args: str | None = None):
        self.workers = workers
        self.beam_args = beam_args

    def pipeline_args(self) -> list[str]:
        if self.beam_args:
            return shlex.split(self.beam_args)
        return ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                f"--direct_num_workers={self.workers}"]

    def run(self, job: JobSpec, tasks: list[Task], monitor: Monitor) -> dict[int, dict | str]:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        layout = OutputLayout(job.output_dir, job.corpus)
        already = {t.index for t in tasks if read_marker(layout, t.index) is not None}
        # DirectRunner's worker processes inherit the environment: let them import what we do.
        with driver_import_path(), beam.Pipeline(options=PipelineOptions(self.pipeline_args())) as pipeline:
            (pipeline
             | "tasks" >> beam.Create(tasks)
             | "spread" >> beam.Reshuffle()  # one task per bundle element, spread over workers
             | "run_task" >> beam.Map(run_task_with_retries, job))
        return self._collect(layout, tasks, already, monitor)

    @staticmethod
    def _collect(layout: OutputLayout, tasks: list[Task], already: set[int], monitor: Monitor) -> dict:
        results: dict[int, dict | str] = {}
        for task in tasks:
            marker = read_marker(layout, task.index)
            error = _error_file(layout, task.index)
            if marker is not None:
                results[task.index] = {**marker, "skipped": task.index in already}
            else:
                results[task.index] = error.read_text() if error.exists() else "the task left no marker"
            monitor.task_done(task.index, results[task.index] if marker is not None else None)
        return results
