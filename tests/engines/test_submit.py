"""A real two-node Ray cluster on 127.0.0.1, a job sent through `vlforge submit`, stopped after."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_stats, run_cli, write_jsonl

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_node_cluster(tmp_path_factory):
    import ray

    ray.shutdown()  # this process may hold a local cluster from other tests; `ray stop` ends it
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    port, dashboard = free_port(), free_port()
    temp = tmp_path_factory.mktemp("ray")
    head = [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=1",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
            f"--temp-dir={temp}", "--disable-usage-stats"]
    worker = [RAY, "start", f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", "--num-cpus=1"]
    try:
        subprocess.run(head, env=env, check=True, capture_output=True, timeout=180)
        subprocess.run(worker, env=env, check=True, capture_output=True, timeout=180)
        yield f"http://127.0.0.1:{dashboard}", env
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_submit_runs_the_job_on_the_cluster_and_its_output_is_complete(two_node_cluster, tmp_path):
    address, env = two_node_cluster
    for f in range(4):
        write_jsonl(tmp_path / "in" / f"f{f}.jsonl", [{"text": f"{f}-{i}"} for i in range(5)] + ["{bad"])
    config = tmp_path / "job.yaml"
    config.write_text("tasks:\n  max_files: 1\n")
    result = run_cli("submit", "text", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                     "--address", address, "--config", str(config), "--python", sys.executable, env=env,
                     timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "submitted raysubmit_" in result.stdout and "SUCCEEDED" in result.stdout
    stats = load_stats(tmp_path / "out")
    assert (stats["engine"], stats["tasks"], stats["accepted"], stats["rejected"]) == ("ray", 4, 20, 4)


def test_submit_to_an_address_where_no_cluster_listens_is_a_one_line_error(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    result = run_cli("submit", "text", str(tmp_path / "a.txt"), "-o", str(tmp_path / "o"),
                     "--address", f"http://127.0.0.1:{free_port()}", timeout=120)
    assert result.returncode == 2 and "cannot reach the Ray job server" in result.stderr
    assert "Traceback" not in result.stderr
