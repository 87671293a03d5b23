"""The tables a task writes (shard index, reject ledger) are built without pandas, and are
the tables pyarrow's from_pylist builds from the same rows, byte for byte once written."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vlforge.engines.executor import OutputLayout
from vlforge.schemas import INDEX_SCHEMA, REJECT_SCHEMA
from vlforge.shards.writer import table_from_rows

REPO = Path(__file__).resolve().parents[2]


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _index_row(key: str, **changes) -> dict:
    row = {"key": key, "shard": "nb-000000-0000.tar", "offset": 1536, "corpus": "notebooks",
           "text_kind": "code", "text_chars": 12, "text_bytes": 14, "image_format": "png",
           "image_bytes": 2048, "width": 640, "height": 480, "source": "/in/a.ipynb",
           "metadata": '{"digest": "ab", "note": "say \\"hi\\"\\n"}',
           "members": [{"ext": "json", "offset": 2048, "size": 90}, {"ext": "png", "offset": 2560, "size": 2048}]}
    return row | changes


def test_index_rows_give_the_table_from_pylist_gives():
    rows = [
        _index_row("a"),
        _index_row("b", width=None, height=None, image_format=None, members=[]),  # a text-only sample
        _index_row("c", source="/in/ünï cödé \U0001F600 \\ \"q\".ipynb", text_chars=2**40),
        _index_row("d", extra="ignored by both"),
    ]
    del rows[3]["metadata"]  # missing: null in both
    ours, theirs = table_from_rows(rows, INDEX_SCHEMA), pa.Table.from_pylist(rows, schema=INDEX_SCHEMA)
    assert ours.schema == INDEX_SCHEMA
    assert ours.to_pylist() == theirs.to_pylist()
    assert _parquet(ours) == _parquet(theirs)


def test_reject_rows_and_no_rows_give_the_same_ledgers():
    rows = [{"task": 3, "source": "/in/x.ipynb", "item": "cell 4", "stage": "read", "reason": "unreadable",
             "detail": "OSError: line\nbreak\ttab"}]
    assert _parquet(table_from_rows(rows, REJECT_SCHEMA)) == _parquet(pa.Table.from_pylist(rows, schema=REJECT_SCHEMA))
    empty = table_from_rows([], REJECT_SCHEMA)
    assert empty.num_rows == 0 and empty.schema == REJECT_SCHEMA
    assert _parquet(empty) == _parquet(pa.Table.from_pylist([], schema=REJECT_SCHEMA))


def test_a_tasks_leftovers_are_its_own_files_only(tmp_path):
    layout = OutputLayout(str(tmp_path), "nb")
    layout.shards_dir.mkdir()
    layout.tasks_dir.mkdir()
    mine = [layout.shards_dir / "nb-000001-0000.tar", layout.shards_dir / "nb-000001-0000.parquet",
            layout.shards_dir / "nb-000001-0001.tar.tmp", layout.tasks_dir / "nb-000001.progress",
            layout.tasks_dir / "nb-000001.rejects.parquet.tmp"]
    others = [layout.shards_dir / "nb-000010-0000.tar", layout.shards_dir / "nb-000011-0000.tar",
              layout.tasks_dir / "nb-000010.json", layout.tasks_dir / "nb-000100.progress"]
    for path in mine + others:
        path.write_bytes(b"x")
    assert sorted(layout.task_leftovers(1)) == sorted(mine)
    assert OutputLayout(str(tmp_path / "absent"), "nb").task_leftovers(1) == []


def test_a_task_and_its_job_end_import_no_pandas(tmp_path):
    """pandas costs every worker ~0.2 s of CPU at its first shard; nothing a task or the
    driver's end of a job writes needs it."""
    script = (
        "import sys\n"
        "from vlforge.engines.executor import run_task\n"
        "from vlforge.engines.runner import finalize, make_engine, prepare_job\n"
        "from vlforge.engines.base import TaskResult\n"
        f"job, tasks = prepare_job('text', [{str(REPO / 'examples' / 'text')!r}], {str(tmp_path / 'out')!r})\n"
        "results = {t.index: TaskResult(t.index, run_task(job, t)) for t in tasks}\n"
        "stats = finalize(job, tasks, results, make_engine('local', 1), 1.0)\n"
        "assert stats['accepted'] > 0, stats\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
