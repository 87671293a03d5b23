"""Exact image dedup across tasks: the job-level pass after every task has committed."""

import base64
import io
import json
import re

import nbformat
import pyarrow.parquet as pq
import pytest
from conftest import load_stats, png_bytes
from job_files import job_files

from vlforge.engines.runner import run_job
from vlforge.shards import find_shards, iter_samples

CODE = "import numpy as np\nx = np.arange(10)\ny = x ** 2\nfig, ax = plt.subplots()\nax.plot(x, y)\n"


def write_notebook(path, images):
    cells = []
    for number, image in enumerate(images):
        cell = nbformat.v4.new_code_cell(CODE + f"# figure {number}\n", execution_count=number + 1)
        cell.outputs = [nbformat.v4.new_output("display_data", data={
            "image/png": base64.b64encode(image).decode(), "text/plain": "<Figure>"})]
        cells.append(cell)
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"language": "python", "name": "python3", "display_name": "Python 3"}})
    nbformat.write(notebook, str(path))


def kept_keys(out):
    return sorted(s["__key__"] for shard in find_shards(out / "shards") for s in iter_samples(shard))


def test_duplicates_across_tasks_are_dropped_with_a_ledger_row_each(tmp_path):
    shared, a, b, c = (png_bytes(64, 48, seed) for seed in (1, 2, 3, 4))
    (tmp_path / "in").mkdir()
    write_notebook(tmp_path / "in/n0.ipynb", [shared, a])
    write_notebook(tmp_path / "in/n1.ipynb", [b, shared])  # repeats n0's first image
    write_notebook(tmp_path / "in/n2.ipynb", [shared])  # a shard of nothing but a duplicate
    write_notebook(tmp_path / "in/n3.ipynb", [c, a])
    one_task = run_job("notebooks", [str(tmp_path / "in")], str(tmp_path / "one"), quiet=True)
    per_file = run_job("notebooks", [str(tmp_path / "in")], str(tmp_path / "many"), quiet=True,
                       assignments=("tasks.max_files=1",))
    assert per_file["tasks"] == 4 and one_task["tasks"] == 1
    for stats in (one_task, per_file):
        assert (stats["read"], stats["accepted"], stats["rejected"]) == (7, 4, 3)
        assert stats["rejected_by_reason"] == {"duplicate_image": 3}
    assert kept_keys(tmp_path / "many") == kept_keys(tmp_path / "one")
    assert not list((tmp_path / "many/shards").glob("notebooks-000002-*"))  # emptied shard removed
    ledger = pq.read_table(tmp_path / "many/rejects.parquet").to_pylist()
    assert sorted((r["task"], r["stage"]) for r in ledger) == [(1, "dedup_job"), (2, "dedup_job"), (3, "dedup_job")]
    images = [s["png"] for shard in find_shards(tmp_path / "many/shards") for s in iter_samples(shard)]
    assert len(images) == len(set(images)) == 4
    index_rows = [r for p in sorted((tmp_path / "many/shards").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert sorted(r["key"] for r in index_rows) == kept_keys(tmp_path / "many")


def test_a_pass_cut_off_after_its_record_is_finished_by_the_next_run(tmp_path):
    shared, a = png_bytes(64, 48, 1), png_bytes(64, 48, 2)
    (tmp_path / "in").mkdir()
    write_notebook(tmp_path / "in/n0.ipynb", [shared])
    write_notebook(tmp_path / "in/n1.ipynb", [a, shared])
    args = ("tasks.max_files=1",)
    run_job("notebooks", [str(tmp_path / "in")], str(tmp_path / "reference"), quiet=True, assignments=args)
    out = tmp_path / "out"
    run_job("notebooks", [str(tmp_path / "in")], str(out), quiet=True, assignments=args + ("filters.dedup.images=false",))
    # Re-create the state of a pass killed after writing its record, before rewriting shards.
    record = json.loads((tmp_path / "reference/_tasks/_dedup.json").read_text())
    job = json.loads((out / "job.json").read_text())
    (out / "job.json").write_text(json.dumps({**job, "fingerprint": json.loads(
        (tmp_path / "reference/job.json").read_text())["fingerprint"]}))
    (out / "_tasks/_dedup.json").write_text(json.dumps(record))
    stats = run_job("notebooks", [str(tmp_path / "in")], str(out), quiet=True, assignments=args)
    assert stats["tasks_skipped"] == 2 and stats["rejected_by_reason"] == {"duplicate_image": 1}
    assert kept_keys(out) == kept_keys(tmp_path / "reference")
    for name in ("shards/notebooks-000001-0000.tar", "shards/notebooks-000001-0000.parquet", "rejects.parquet"):
        assert (out / name).read_bytes() == (tmp_path / "reference" / name).read_bytes()
    assert load_stats(out)["accepted"] == 2


@pytest.fixture(scope="module")
def cross_task_duplicates(tmp_path_factory):
    """Three notebooks, one task each; two of their images repeat another task's."""
    inputs = tmp_path_factory.mktemp("dup-inputs")
    shared, a, b = (png_bytes(64, 48, seed) for seed in (1, 2, 3))
    write_notebook(inputs / "n0.ipynb", [shared, a])
    write_notebook(inputs / "n1.ipynb", [b, shared, a])
    write_notebook(inputs / "n2.ipynb", [shared])
    out = tmp_path_factory.mktemp("dup-local")
    run_job("notebooks", [str(inputs)], str(out), "local", 2, quiet=True, assignments=("tasks.max_files=1",))
    return inputs, job_files(out)


@pytest.mark.parametrize("engine", ["local", "ray", "beam"])
def test_progress_never_shows_more_than_the_final_counts_and_ends_on_them(engine, cross_task_duplicates,
                                                                         tmp_path, monkeypatch):
    """Cross-task duplicates: the pass drops them only at the end, the progress never
    counted them as accepted, and its last line is stats.json's. Every engine writes the
    files the local one does (a rerun, for local)."""
    from vlforge.engines import runner

    inputs, reference = cross_task_duplicates
    shown, stream = [], io.StringIO()

    class Recording(runner.Monitor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "stream": stream, "every_s": 0, "quiet": False})

        def _maybe_print(self, force=False):
            shown.append(self._totals())
            super()._maybe_print(force)

    monkeypatch.setattr(runner, "Monitor", Recording)
    stats = run_job("notebooks", [str(inputs)], str(tmp_path / "out"), engine, 2, quiet=True,
                    assignments=("tasks.max_files=1",))
    assert (stats["accepted"], stats["rejected"], stats["tasks"]) == (3, 3, 3)
    assert len(shown) >= 3  # at least one look per task
    assert all(accepted <= 3 and rejected <= 3 for accepted, rejected in shown)
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("[notebooks] tasks")]
    last = re.search(r"tasks (\d+)/3  accepted (\d+)  rejected (\d+)  \d", lines[-1])
    assert last.groups() == ("3", "3", "3")
    assert job_files(tmp_path / "out") == reference and "_tasks/_dedup.json" in reference
