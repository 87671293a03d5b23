"""`--engine ray`: the same run_with_retries, scheduled as Ray tasks on a local or remote cluster.

`ray.init()` starts a local cluster sized to --workers unless --address names a running one
(or this process already holds one: then that one serves, whatever its size).
Each task is one Ray task of one CPU. A task that raises is retried inside its worker by
the shared policy (engines.base); Ray only brings back a worker that died (max_retries, or
max_restarts for actors) and runs the policy again, which charges the attempt it lost.
Only task results travel back to the driver, never samples: the shards are written by the
workers, straight to the output.

A job never waits on the cluster for ever. Corpora that keep a browser or a model per
process run on actors: as many as --workers asks, or as the cluster has room for now if
that is fewer (at least one), each handed its next task as soon as it is up and free.
When no actor is up (or, for plain tasks, none has started) within
`engine.schedule_timeout_s`, the job fails with SchedulingError, which names what each
worker asks for and what the cluster has.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from vlforge.contract import Task, load_corpus
from vlforge.engines.base import Engine, TaskResult, run_with_retries
from vlforge.engines.env import driver_pythonpath
from vlforge.engines.executor import JobSpec, OutputLayout
from vlforge.engines.monitor import Monitor
from vlforge.errors import VlforgeError, exception_detail

WAIT_S = 0.5  # longest a ray.wait blocks, so Ctrl-C and the schedule timeout get through
RELEASE_WAIT_S = 10.0  # at most this long, a job that ends waits for Ray to take its actors back

log = logging.getLogger(__name__)


class SchedulingError(VlforgeError):
    """The cluster cannot run a single worker of the job (too few free CPUs or GPUs)."""


class TaskRunner:
    """A Ray actor running tasks one after another in one process, so the resources that
    stages open once per process (worker_renderer's browser, a model) live across tasks."""

    def ready(self) -> bool:
        """Answers once the actor is placed and started: the pool hands it tasks from then."""
        return True

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


def ray_demand(request: dict) -> dict[str, float]:
    """Ray's resource names and amounts for the options a worker is declared with
    (num_cpus, num_gpus, memory, custom `resources`); amounts of 0 are left out."""
    demand = {"CPU": request.get("num_cpus", 1), "GPU": request.get("num_gpus", 0),
              "memory": request.get("memory", 0), **request.get("resources", {})}
    return {name: float(amount) for name, amount in demand.items() if amount}


def room_for(demand: dict[str, float], free: dict[str, float]) -> int:
    """How many workers asking `demand` the `free` resources hold at once."""
    return min(int(free.get(name, 0.0) // amount) for name, amount in demand.items())


def pool_size(workers: int, tasks: int, demand: dict[str, float], free: dict[str, float]) -> int:
    """Actors to start: what --workers asks, no more than there are tasks, no more than the
    cluster has room for now, and at least one (which may get room later, or time out)."""
    return max(1, min(workers, tasks, room_for(demand, free)))


def _wait_for_room(demand: dict[str, float], free_before: dict[str, float], bound_s: float) -> None:
    """Returns once the cluster has the room back that it had before the job's actors
    started, or after `bound_s`. ray.kill returns before Ray takes the killed actors'
    resources back (~0.1 s here, longer on a busy machine): a job started right after this
    one, in the same driver, saw too little room and ran on fewer actors than it asked for.
    Bounded: on a shared cluster another job may have taken the room meanwhile."""
    import ray

    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        free = ray.available_resources()
        if all(free.get(name, 0.0) >= free_before.get(name, 0.0) for name in demand):
            return
        time.sleep(0.02)


def unschedulable(what: str, demand: dict[str, float], timeout_s: float) -> SchedulingError:
    """The one-line error of a job none of whose workers could be scheduled."""
    import ray

    free, total = ray.available_resources(), ray.cluster_resources()
    asked = ", ".join(f"{name} {amount:g}" for name, amount in demand.items())
    has = ", ".join(f"{name} {free.get(name, 0.0):g} free of {total.get(name, 0.0):g}" for name in demand)
    return SchedulingError(
        f"ray: no {what} could be scheduled within {timeout_s:g} s: each asks for {asked}; the "
        f"cluster has {has}; ask for less (--workers, engine.actor_gpus), free or add resources, "
        "or wait longer (engine.schedule_timeout_s)")


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
        pending = {remote.remote(job, task): task for task in tasks}
        layout = OutputLayout(job.output_dir, job.corpus)
        timeout_s = job.options["engine"]["schedule_timeout_s"]
        deadline = time.monotonic() + timeout_s
        results: dict[int, TaskResult] = {}
        try:
            while pending:
                # Every attempt writes its progress file first: none and no result = none started.
                if not results and time.monotonic() > deadline and not layout.progress_files():
                    raise unschedulable("task", ray_demand({"num_cpus": 1}), timeout_s)
                self._collect_some(pending, results, monitor)
        finally:
            for ref in pending:  # a job that failed leaves no task queued on the cluster
                ray.cancel(ref)
        return results

    def _run_on_actors(self, job: JobSpec, tasks: list[Task], monitor: Monitor,
                       resources: dict[str, float]) -> dict[int, TaskResult]:
        """Tasks handed out to actors that each keep their browser/model between tasks.
        A dead actor is restarted (max_restarts) and its task run again (max_task_retries)."""
        import ray

        request = {"num_cpus": 1, **resources}
        demand = ray_demand(request)
        free_before = ray.available_resources()
        size = pool_size(self.workers, len(tasks), demand, free_before)
        if size < min(self.workers, len(tasks)):
            log.warning("ray: %d workers asked for, the cluster has room for %d now (each asks for %s)",
                        self.workers, size, demand)
        actor_class = ray.remote(TaskRunner).options(
            max_restarts=-1, max_task_retries=job.options["engine"]["retries"], **request)
        actors = [actor_class.remote() for _ in range(size)]
        pool = _ActorPool(actors, job, monitor, demand)
        try:
            return pool.run(tasks, job.options["engine"]["schedule_timeout_s"])
        finally:
            for actor in actors:
                ray.kill(actor)
            _wait_for_room(demand, free_before, RELEASE_WAIT_S)

    @staticmethod
    def _collect_some(pending: dict, results: dict[int, TaskResult], monitor: Monitor) -> None:
        """Waits a moment for tasks to end; takes in the results of those that did."""
        import ray

        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=WAIT_S, fetch_local=False)
        for ref in ready:
            task = pending.pop(ref)
            results[task.index] = task_result(ref, task)
            monitor.task_done(results[task.index])


class _ActorPool:
    """Hands each actor its next task as soon as it is up and free: work starts with the
    first actor, and actors that never get room take nothing with them."""

    def __init__(self, actors: list, job: JobSpec, monitor: Monitor, demand: dict[str, float]):
        self.job, self.monitor, self.demand = job, monitor, demand
        self.starting = {actor.ready.remote(): actor for actor in actors}
        self.free: list = []
        self.running: dict = {}  # task's ref -> (task, actor)
        self.results: dict[int, TaskResult] = {}
        self.up = 0  # actors that have been up

    def run(self, tasks: list[Task], timeout_s: float) -> dict[int, TaskResult]:
        import ray

        todo = deque(tasks)
        deadline = time.monotonic() + timeout_s
        while todo or self.running:
            if not self.up and time.monotonic() > deadline:
                raise unschedulable("actor", self.demand, timeout_s)
            if not self.starting and not self.free and not self.running:
                raise SchedulingError("ray: every actor of the job died before it could run a task")
            ended, _ = ray.wait([*self.starting, *self.running], num_returns=1, timeout=WAIT_S)
            for ref in ended:
                self._ended(ref)
            while self.free and todo:
                task, actor = todo.popleft(), self.free.pop()
                self.running[actor.run.remote(self.job, task)] = (task, actor)
        return self.results

    def _ended(self, ref) -> None:
        import ray

        if ref in self.starting:
            actor = self.starting.pop(ref)
            try:
                ray.get(ref)
            except ray.exceptions.RayError as exc:  # it could not start: it takes no task
                log.warning("ray: an actor could not start: %s", str(exc).splitlines()[0])
                return
            self.up += 1
            self.free.append(actor)
            return
        task, actor = self.running.pop(ref)
        self.results[task.index] = task_result(ref, task)
        self.monitor.task_done(self.results[task.index])
        self.free.append(actor)


def task_result(ref, task: Task) -> TaskResult:
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # the policy itself raised: a bug, not a retry
        error = exception_detail(exc.cause) if exc.cause else str(exc).splitlines()[0]
    except ray.exceptions.RayError as exc:  # Ray gave up bringing the worker back
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return TaskResult(task.index, error=error)
