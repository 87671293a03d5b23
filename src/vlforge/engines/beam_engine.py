"""`--engine beam`: the same run_with_retries as a Beam pipeline, tasks -> run_with_retries.

DirectRunner in multi-processing mode by default; any other runner (Flink, Spark, Dataflow)
through standard Beam pipeline options given with --beam-args. The pipeline returns nothing
to the driver: each task commits its own files and marker, or leaves the error of its last
attempt in its progress file (executor.record_failure), and the driver reads those.
"""

from __future__ import annotations

import shlex

from vlforge.contract import Task
from vlforge.engines.base import Engine, TaskResult, run_with_retries
from vlforge.engines.env import driver_import_path
from vlforge.engines.executor import JobSpec, OutputLayout, read_marker, read_progress
from vlforge.engines.monitor import Monitor


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
        return ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                f"--direct_num_workers={self.workers}"]

    def run(self, job: JobSpec, tasks: list[Task], monitor: Monitor) -> dict[int, TaskResult]:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        layout = OutputLayout(job.output_dir, job.corpus)
        already = {t.index for t in tasks if read_marker(layout, t.index) is not None}
        # DirectRunner's worker processes inherit the environment: let them import what we do.
        with driver_import_path(), beam.Pipeline(options=PipelineOptions(self.pipeline_args())) as pipeline:
            (pipeline
             | "tasks" >> beam.Create(tasks)
             | "spread" >> beam.Reshuffle()  # one task per bundle element, spread over workers
             | "run_task" >> beam.Map(_run, job))
        results = {task.index: _result_on_disk(layout, task.index, task.index in already) for task in tasks}
        for result in results.values():
            monitor.task_done(result)
        return results


def _result_on_disk(layout: OutputLayout, index: int, skipped: bool) -> TaskResult:
    marker = read_marker(layout, index)
    if marker is not None:
        return TaskResult(index, marker, skipped=skipped)
    progress = read_progress(layout.progress(index)) or {}
    return TaskResult(index, error=progress.get("error", "the task left no marker"))
