"""`vlforge submit`: a corpus job sent to a Ray cluster through Ray's job submission API.

The job's driver runs `python -m vlforge run ... --engine ray --address auto` on the head
node. The vlforge package travels as a runtime-env module and the --config file in the job's
working directory, so the cluster needs only vlforge's dependencies installed, not vlforge
itself. Inputs and the output directory must be paths that every node sees (a shared
filesystem), since the tasks read and write them directly.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import vlforge
from vlforge.errors import VlforgeError

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def build_entrypoint(corpus: str, inputs: list[str], output: str, workers: int, python: str,
                     config_name: str | None, assignments: tuple[str, ...]) -> str:
    args = [python, "-m", "vlforge", "run", corpus, *[str(Path(i).absolute()) for i in inputs],
            "--output", str(Path(output).absolute()), "--engine", "ray", "--address", "auto",
            "--workers", str(workers)]
    if config_name:
        args += ["--config", config_name]
    for assignment in assignments:
        args += ["--set", assignment]
    return shlex.join(args)


def _runtime_env(config_file: str | None, staging: Path) -> dict:
    env = {"py_modules": [str(Path(vlforge.__file__).parent)]}
    if config_file:
        shutil.copy(config_file, staging / Path(config_file).name)
        env["working_dir"] = str(staging)
    return env


def _stream_logs(client, job_id: str, out: TextIO, poll_s: float) -> str:
    """Prints the job's log as it grows; returns the final status."""
    printed = 0
    while True:
        status = client.get_job_status(job_id)
        status = getattr(status, "value", str(status))  # a JobStatus enum
        logs = client.get_job_logs(job_id)
        out.write(logs[printed:])
        out.flush()
        printed = len(logs)
        if status in TERMINAL:
            return status
        time.sleep(poll_s)


def submit(corpus: str, inputs: list[str], output: str, address: str, workers: int = 2,
           config_file: str | None = None, assignments: tuple[str, ...] = (), python: str = "python",
           wait: bool = True, out: TextIO = sys.stdout, poll_s: float = 1.0) -> tuple[str, str]:
    """Submits the job; returns (job id, final status, or PENDING when not waiting)."""
    from ray.job_submission import JobSubmissionClient

    if config_file and not Path(config_file).is_file():
        raise VlforgeError(f"config {config_file} does not exist")
    try:
        client = JobSubmissionClient(address)
    except Exception as exc:  # connection refused, wrong port, auth: say which cluster
        raise VlforgeError(f"cannot reach the Ray job server at {address}: {str(exc).splitlines()[0]}") from None
    with tempfile.TemporaryDirectory(prefix="vlforge-submit-") as staging:
        entrypoint = build_entrypoint(corpus, inputs, output, workers, python,
                                      Path(config_file).name if config_file else None, assignments)
        job_id = client.submit_job(entrypoint=entrypoint, runtime_env=_runtime_env(config_file, Path(staging)),
                                   metadata={"vlforge": vlforge.__version__, "corpus": corpus})
    print(f"submitted {job_id} to {address}: {entrypoint}", file=out, flush=True)
    if not wait:
        return job_id, "PENDING"
    return job_id, _stream_logs(client, job_id, out, poll_s)
