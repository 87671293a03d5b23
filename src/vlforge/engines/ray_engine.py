"""`--engine ray`: the same run_with_retries, scheduled as Ray tasks on a local or remote cluster.

`ray.init()` starts a local cluster sized to --workers unless --address names a running one.
Each task is one Ray task of one CPU. A task that raises is retried inside its worker by
the shared policy (engines.base); Ray only brings back a worker that died (max_retries, or
max_restarts for actors) and runs the policy again, which charges the attempt it lost.
Only task results travel back to the driver, never samples: the shards are written by the
workers, straight to the output.
"""

from __future__ import annotations

import logging

from vlforge.contract import Task, load_corpus
from vlforge.engines.base import Engine, TaskResult, run_with_retries
from vlforge.engines.env import driver_pythonpath
from vlforge.engines.executor import JobSpec
from vlforge.engines.monitor import Monitor
from vlforge.errors import exception_detail


class TaskRunner:
    """A Ray actor running tasks one after another in one process, so the resources that
    stages open once per process (worker_renderer's browser, a model) live across tasks."""

    def run(self, job: JobSpec, task: Task) -> TaskResult:
        return run_with_retries(job, task)


def _local_runtime_env() -> dict:
    # Workers of a cluster we start ourselves import what the driver imports (a corpus
    # defined outside the installed package, for example).
    return {"env_vars": {"PYTHONPATH": driver_pythonpath()}}


def actor_resources(corpus_resources: dict[str, float] | None, options: dict) -> dict[str, float] | None:
    """What each actor asks Ray for: the corpus's own resources, plus `engine.actor_gpus`.
    None means the corpus runs as plain tasks (no per-process resource to keep)."""
    if corpus_resources is None:
        return None
    gpus = options["engine"]["actor_gpus"]
    return {**corpus_resources, "num_gpus": gpus} if gpus else dict(corpus_resources)


class RayEngine(Engine):
    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None):
        self.workers = workers
        self.address = address

    def _init(self) -> None:
        import ray

        if ray.is_initialized():
            return
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:  # a cluster of our own: its start is no news to the user (Ray's INFO line)
            ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING, runtime_env=_local_runtime_env())

    def run(self, job: JobSpec, tasks: list[Task], monitor: Monitor) -> dict[int, TaskResult]:
        self._init()
        resources = actor_resources(load_corpus(job.corpus_module).actor_resources, job.options)
        if resources is not None:
            return self._run_on_actors(job, tasks, monitor, resources)
        return self._run_as_tasks(job, tasks, monitor)

    def _run_as_tasks(self, job: JobSpec, tasks: list[Task], monitor: Monitor) -> dict[int, TaskResult]:
        import ray

        # max_retries: how often Ray brings back a dead worker; the policy has the last word.
        remote = ray.remote(num_cpus=1, max_retries=job.options["engine"]["retries"])(run_with_retries)
        return self._collect({remote.remote(job, task): task for task in tasks}, monitor)

    def _run_on_actors(self, job: JobSpec, tasks: list[Task], monitor: Monitor,
                       resources: dict[str, float]) -> dict[int, TaskResult]:
        """Tasks spread over `workers` actors, each keeping its browser/model between tasks.
        A dead actor is restarted (max_restarts) and its task run again (max_task_retries)."""
        import ray

        actor_class = ray.remote(TaskRunner).options(
            num_cpus=1, max_restarts=-1, max_task_retries=job.options["engine"]["retries"], **resources)
        actors = [actor_class.remote() for _ in range(min(self.workers, len(tasks)))]
        pending = {actors[number % len(actors)].run.remote(job, task): task
                   for number, task in enumerate(tasks)}
        try:
            return self._collect(pending, monitor)
        finally:
            for actor in actors:
                ray.kill(actor)

    def _collect(self, pending: dict, monitor: Monitor) -> dict[int, TaskResult]:
        import ray

        results: dict[int, TaskResult] = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)  # Ctrl-C gets through
            for ref in ready:
                task = pending.pop(ref)
                results[task.index] = self._result(ref, task)
                monitor.task_done(results[task.index])
        return results

    @staticmethod
    def _result(ref, task: Task) -> TaskResult:
        import ray

        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the policy itself raised: a bug, not a retry
            error = exception_detail(exc.cause) if exc.cause else str(exc).splitlines()[0]
        except ray.exceptions.RayError as exc:  # Ray gave up bringing the worker back
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        return TaskResult(task.index, error=error)
