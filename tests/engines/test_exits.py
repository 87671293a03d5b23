"""How `vlforge run` ends: exit 4 when nothing was accepted; on Ctrl-C, on every engine, one
line, exit 130 and no process left running."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import REPO, run_cli, write_jsonl

from vlforge.engines.executor import PROGRESS_EVERY

HERE = os.path.dirname(__file__)


def test_a_job_that_accepts_nothing_says_so_and_exits_4(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"text": ""}, "{bad"])
    result = run_cli("run", "text", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out"), "-q")
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        f"vlforge: the job accepted nothing: 2 items read, 2 rejected (empty_text 1, invalid_json 1); "
        f"see {tmp_path / 'out/rejects.parquet'}"]


@pytest.mark.parametrize("engine", ["local", "ray", "beam"])
def test_ctrl_c_ends_the_job_with_one_line_and_leaves_no_process_behind(engine, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.txt", "b.txt"):  # tasks that wait (waiting_corpus) until interrupted
        (inputs / name).write_text("".join(f"line {i}\n" for i in range(PROGRESS_EVERY + 5)))
    out = tmp_path / "out"
    mark = f"VLFORGE_TEST_JOB={uuid.uuid4().hex}"  # inherited by every process the job starts
    script = (f"import sys; sys.path.insert(0, {HERE!r}); "
              "from vlforge.contract import register_corpus_module; "
              "register_corpus_module('waiting', 'waiting_corpus'); "
              "from vlforge.cli import main; "
              f"raise SystemExit(main(['run', 'waiting', {str(inputs)!r}, '-o', {str(out)!r}, '-q', "
              f"'--engine', {engine!r}, '--set', 'tasks.max_files=1']))")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", **dict([mark.split("=")])}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, start_new_session=True, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while len(list(out.glob("_tasks/*.progress"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_processes_with(mark)) > 2  # the driver and its workers, all at work
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: every process of the job
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.splitlines() == ["vlforge: interrupted; re-run the same command to resume"]
    deadline = time.monotonic() + 15
    while _processes_with(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(mark) == []


def _processes_with(mark: str) -> list[str]:
    """Command lines of the live processes whose environment holds `mark`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if mark.encode() in (proc / "environ").read_bytes().split(b"\0"):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue  # ended meanwhile, or not ours to read
    return found


def test_workers_end_when_their_driver_is_killed(tmp_path):
    """SIGKILL to the driver (an OOM kill) leaves no worker running its task on alone."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_text("".join(f"line {i}\n" for i in range(PROGRESS_EVERY + 5)))
    out = tmp_path / "out"
    script = (f"import sys; sys.path.insert(0, {HERE!r}); "
              "from vlforge.contract import register_corpus_module; "
              "register_corpus_module('waiting', 'waiting_corpus'); "
              "from vlforge.cli import main; "
              f"raise SystemExit(main(['run', 'waiting', {str(inputs)!r}, '-o', {str(out)!r}]))")
    driver = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(out.glob("_tasks/*.progress")) and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = json.loads(next(out.glob("_tasks/*.progress")).read_text())["pid"]
    assert worker != driver.pid and _alive(worker)
    driver.kill()
    driver.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_workers_that_cannot_import_the_corpus_stop_the_job_at_once_with_the_cause(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (inputs / name).write_text("one\ntwo\n")
    script = (f"import sys; sys.path.insert(0, {HERE!r}); "
              "from vlforge.contract import register_corpus_module; "
              "register_corpus_module('broken', 'broken_worker_corpus'); "
              "from vlforge.cli import main; "
              f"raise SystemExit(main(['run', 'broken', {str(inputs)!r}, '-o', {str(tmp_path / 'out')!r}, "
              "'--set', 'tasks.max_files=1']))")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "vlforge: error: the local engine's workers cannot start: ModuleNotFoundError: "
        "No module named 'vlforge_driver_only_module' (at broken_worker_corpus.py:12)"]
    assert not list((tmp_path / "out/_tasks").glob("*.json"))


def test_a_script_on_stdin_that_runs_a_job_fails_at_once_saying_why(tmp_path):
    """Workers start by importing the main script again; one read from stdin cannot be."""
    write_jsonl(tmp_path / "in.jsonl", [{"text": "hello"}])
    script = ("from vlforge.engines.runner import run_job\n"
              f"run_job('text', [{str(tmp_path / 'in.jsonl')!r}], {str(tmp_path / 'out')!r}, 'local', 1, quiet=True)\n")
    result = subprocess.run([sys.executable, "-"], input=script, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        "vlforge.engines.local.WorkerStartError: the local engine's workers exited (status 1) before they started")
    assert "<stdin>" in result.stderr  # the worker's own message names what it could not import
