"""The Ray engine on a cluster with less room than the job asks for: it runs on what there
is, or fails with one line that says why, never waits for ever (issue 18: two actors of one
CPU each on a one-CPU cluster waited at 0% CPU with no message).

This module's cluster is its own, of 1 CPU and no GPU, started in-process and shut down at
its end (never `ray stop`: that ends every cluster on the machine).
"""

import os
import time

import pytest
import ray

from vlforge.contract import register_corpus_module
from vlforge.engines.ray_engine import SchedulingError, pool_size, ray_demand
from vlforge.engines.runner import run_job


@pytest.fixture(scope="module", autouse=True)
def one_cpu_cluster():
    from vlforge.engines.ray_engine import _local_runtime_env

    register_corpus_module("actors", "actor_corpus")
    ray.shutdown()  # a cluster other tests of this process started may have more room
    # Ray's auth mode as the other in-process tests leave it: a process whose clusters start
    # with different RAY_AUTH_MODE values gets actors that die before they run.
    ray.init(num_cpus=1, num_gpus=0, include_dashboard=False, log_to_driver=False,
             runtime_env=_local_runtime_env())
    yield
    ray.shutdown()


def _inputs(root, files: int):
    root.mkdir()
    for number in range(files):
        (root / f"f{number}.txt").write_text(f"file {number} one\nfile {number} two\n")
    return root


def test_two_actors_asked_on_one_cpu_run_on_one_and_finish(tmp_path):
    started = time.monotonic()
    stats = run_job("actors", [str(_inputs(tmp_path / "in", 4))], str(tmp_path / "out"), "ray", 2,
                    quiet=True, assignments=("tasks.max_files=1", "engine.schedule_timeout_s=30"))
    assert stats["tasks_failed"] == 0 and stats["tasks"] == 4 and stats["accepted"] == 8
    ran_in = {(tmp_path / f"out/ran-{task}").read_text() for task in range(4)}
    assert len(ran_in) == 1  # one actor did every task: the one the cluster had room for
    assert time.monotonic() - started < 60


def test_an_actor_asking_for_a_gpu_on_a_cpu_cluster_fails_within_the_timeout(tmp_path):
    started = time.monotonic()
    with pytest.raises(SchedulingError) as raised:
        run_job("actors", [str(_inputs(tmp_path / "in", 2))], str(tmp_path / "out"), "ray", 2, quiet=True,
                assignments=("engine.actor_gpus=1", "engine.schedule_timeout_s=3"))
    assert time.monotonic() - started < 30
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("ray: no actor could be scheduled within 3 s: each asks for CPU 1, GPU 1;")
    assert "GPU 0 free of 0" in message and "CPU 1 free of 1" in message


def test_tasks_that_cannot_start_on_a_full_cluster_fail_within_the_timeout(tmp_path):
    """Plain tasks (the text corpus) on a cluster whose one CPU something else holds."""
    holder = ray.remote(num_cpus=1)(_Holder).remote()
    ray.get(holder.ready.remote())
    try:
        with pytest.raises(SchedulingError, match=r"^ray: no task could be scheduled within 2 s: "
                           r"each asks for CPU 1; the cluster has CPU 0 free of 1;"):
            run_job("text", [str(_inputs(tmp_path / "in", 1))], str(tmp_path / "out"), "ray", 1,
                    quiet=True, assignments=("engine.schedule_timeout_s=2",))
    finally:
        ray.kill(holder)
    deadline = time.monotonic() + 30  # the cancelled task leaves the CPU to what comes next
    while ray.available_resources().get("CPU", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 1


class _Holder:
    def ready(self) -> int:
        return os.getpid()


def test_the_pool_is_what_the_cluster_has_room_for_and_never_empty():
    demand = ray_demand({"num_cpus": 1, "num_gpus": 0.5})
    assert demand == {"CPU": 1.0, "GPU": 0.5}
    assert pool_size(4, 10, demand, {"CPU": 8.0, "GPU": 1.0}) == 2  # two halves of one GPU
    assert pool_size(4, 3, demand, {"CPU": 8.0, "GPU": 4.0}) == 3  # no more actors than tasks
    assert pool_size(4, 10, demand, {"CPU": 8.0}) == 1  # no room now: one, which waits (or times out)


def test_a_job_on_actors_ends_with_the_cluster_s_room_back(tmp_path):
    """ray.kill returns before Ray takes a killed actor's CPU back (~0.1 s): a second job
    started at once in the same driver saw no room and ran on fewer actors than it asked
    for (bench/engines.py's Ray job ran on 1 of 2). The job now ends once the room is back."""
    stats = run_job("actors", [str(_inputs(tmp_path / "in", 2))], str(tmp_path / "out"), "ray", 1,
                    quiet=True, assignments=("tasks.max_files=1",))
    assert stats["accepted"] == 4
    assert ray.available_resources().get("CPU", 0.0) == 1.0  # read at once, no wait
