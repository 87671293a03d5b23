"""A worker killed outright (SIGKILL: the OOM killer, an operator) in the middle of its task:
the job retries the task and finishes, or fails it with a message that says so, within
seconds, on the local and Beam engines (Beam's local runner, left to itself, waits for ever
on a worker that died)."""

import json
import os
import signal
import threading
import time

import pytest

from vlforge.contract import register_corpus_module
from vlforge.engines.base import WORKER_DIED
from vlforge.engines.executor import PROGRESS_EVERY
from vlforge.engines.runner import run_job

BOUND_S = 60  # the job ends within this, retried or failed


def _kill_task_zero_mid_task(out, killed: list) -> None:
    """SIGKILL to the process running task 0 once it is half-way (its progress file says
    so and the waiting stage holds it there), then every task is let go on."""
    progress = out / "_tasks/waiting-000000.progress"
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        try:
            record = json.loads(progress.read_text())
        except (OSError, ValueError):
            record = {}
        if record.get("accepted", 0) >= PROGRESS_EVERY:
            os.kill(record["pid"], signal.SIGKILL)
            killed.append(record["pid"])
            break
        time.sleep(0.05)
    (out / "release").touch()


def _run_with_a_kill(engine: str, tmp_path, retries: int) -> tuple[dict, float, list]:
    register_corpus_module("waiting", "waiting_corpus")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.txt", "b.txt"):
        (inputs / name).write_text("".join(f"{name} line {i}\n" for i in range(PROGRESS_EVERY + 5)))
    out = tmp_path / "out"
    killed: list[int] = []
    killer = threading.Thread(target=_kill_task_zero_mid_task, args=(out, killed), daemon=True)
    killer.start()
    started = time.monotonic()
    stats = run_job("waiting", [str(inputs)], str(out), engine, 2, quiet=True,
                    assignments=("tasks.max_files=1", f"engine.retries={retries}"))
    killer.join()
    return stats, time.monotonic() - started, killed


@pytest.mark.parametrize("engine", ["local", "beam"])
def test_a_task_whose_worker_is_killed_is_retried_and_the_job_finishes(engine, tmp_path):
    stats, seconds, killed = _run_with_a_kill(engine, tmp_path, retries=1)
    assert len(killed) == 1 and seconds < BOUND_S
    assert stats["tasks_failed"] == 0 and stats["accepted"] == 2 * (PROGRESS_EVERY + 5)
    from vlforge.shards import find_shards, iter_samples
    keys = [s["__key__"] for shard in find_shards(tmp_path / "out/shards") for s in iter_samples(shard)]
    assert len(keys) == len(set(keys)) == 2 * (PROGRESS_EVERY + 5)  # the killed attempt left nothing


@pytest.mark.parametrize("engine", ["local", "beam"])
def test_without_retries_the_killed_task_fails_with_its_reason_and_the_other_commits(engine, tmp_path):
    stats, seconds, killed = _run_with_a_kill(engine, tmp_path, retries=0)
    assert len(killed) == 1 and seconds < BOUND_S
    assert stats["failed"] == [{"task": 0, "error": WORKER_DIED}]
    assert stats["accepted"] == PROGRESS_EVERY + 5  # task 1's worker, stopped with it, was not charged
