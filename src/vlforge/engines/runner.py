"""A whole job: plan tasks, guard the output dir, hand tasks to an engine, write the totals.

    prepare_job  inputs + options -> JobSpec + tasks; job.json claims the output dir
    engine.run   runs every task (committed ones are skipped) -> TaskResults; the monitor
                 follows the tasks in flight through their progress files
    finalize     per-task markers -> stats.json, per-task ledgers -> rejects.parquet
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import vlforge
from vlforge.atomic import atomic_path, write_atomic
from vlforge.config import get_option, resolve_options
from vlforge.contract import Task, corpus_module, load_corpus
from vlforge.engines.base import Engine, TaskResult
from vlforge.engines.dedup import KeptCounter, run_job_dedup
from vlforge.engines.executor import JobSpec, OutputLayout, forget_attempts, read_marker
from vlforge.engines.monitor import Monitor, watch_progress
from vlforge.engines.planning import plan_tasks
from vlforge.errors import VlforgeError, exception_detail
from vlforge.inputs import InputFile, expand_inputs
from vlforge.schemas import REJECT_SCHEMA, SCHEMA_VERSION, Reject
from vlforge.shards.writer import table_from_rows

# Options that change where or how fast a job runs, never what it writes.
RUNTIME_SECTIONS = ("engine",)


def job_fingerprint(corpus: str, options: dict, files: list[InputFile]) -> str:
    content = {
        "corpus": corpus,
        "schema_version": SCHEMA_VERSION,
        "options": {k: v for k, v in options.items() if k not in RUNTIME_SECTIONS},
        "inputs": [[f.path, f.size] for f in files],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def prepare_job(corpus_name: str, inputs: list[str], output_dir: str,
                config_file: str | None = None, assignments: tuple[str, ...] = ()) -> tuple[JobSpec, list[Task]]:
    module = corpus_module(corpus_name)
    corpus = load_corpus(module)
    options = resolve_options(corpus.defaults, config_file, assignments)
    if corpus.check_options is not None:
        corpus.check_options(options)
    files = expand_inputs(inputs)
    tasks = plan_tasks(files, corpus.splittable_suffixes, options)
    job = JobSpec(corpus_name, module, options, str(Path(output_dir).absolute()),
                  job_fingerprint(corpus_name, options, files))
    claim_output_dir(job, len(files), len(tasks))
    forget_attempts(OutputLayout(job.output_dir, job.corpus))
    return job, tasks


def claim_output_dir(job: JobSpec, n_inputs: int, n_tasks: int) -> None:
    """Writes job.json, or checks that the one there is ours (then this run resumes it)."""
    layout = OutputLayout(job.output_dir, job.corpus)
    if layout.root.exists() and not layout.root.is_dir():
        raise VlforgeError(f"output {layout.root} exists and is not a directory")
    if layout.job_file.exists():
        theirs = _load_job_file(layout.job_file)
        if theirs.get("fingerprint") != job.fingerprint:
            raise VlforgeError(
                f"output {layout.root} holds a different job ({theirs.get('corpus')} on "
                f"{theirs.get('inputs')} inputs with other inputs or options); "
                "choose another --output, or delete that directory to start over")
        return
    if layout.root.exists() and any(layout.root.rglob("*.tar")):
        raise VlforgeError(f"output {layout.root} already holds shards that no job.json describes; "
                           "choose an empty or new --output directory")
    layout.root.mkdir(parents=True, exist_ok=True)
    record = {"fingerprint": job.fingerprint, "corpus": job.corpus, "inputs": n_inputs,
              "tasks": n_tasks, "options": job.options, "vlforge": vlforge.__version__,
              "schema_version": SCHEMA_VERSION}
    write_atomic(layout.job_file, json.dumps(record, indent=1, sort_keys=True).encode())


def _load_job_file(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise VlforgeError(f"{path} is unreadable ({exc}); delete the output directory to start over") from None


ENGINES = ("local", "ray", "beam")


def make_engine(name: str, workers: int = 2, address: str | None = None,
                beam_args: str | None = None) -> Engine:
    """The engine object; ray and beam are imported only when asked for.
    `address` is where a Ray cluster runs, `beam_args` Beam's pipeline options."""
    if name == "local":
        from vlforge.engines.local import LocalEngine
        return LocalEngine(workers)
    if name == "ray":
        from vlforge.engines.ray_engine import RayEngine
        return RayEngine(workers, address)
    if name == "beam":
        from vlforge.engines.beam_engine import BeamEngine
        return BeamEngine(workers, beam_args)
    raise VlforgeError(f"unknown engine {name!r}; available: {', '.join(ENGINES)}")


def run_job(corpus_name: str, inputs: list[str], output_dir: str, engine: Engine | str = "local",
            workers: int = 2, config_file: str | None = None, assignments: tuple[str, ...] = (),
            quiet: bool = False) -> dict:
    """Runs (or resumes) a job and returns its stats.json content.

    `engine`: an Engine (make_engine), or the name of one to run with `workers` workers.
    """
    started = time.perf_counter()
    job, tasks = prepare_job(corpus_name, inputs, output_dir, config_file, assignments)
    runner = make_engine(engine, workers) if isinstance(engine, str) else engine
    layout = OutputLayout(job.output_dir, job.corpus)
    monitor = Monitor(corpus_name, len(tasks), quiet=quiet, kept=_kept_counter(job, layout))
    _import_report_meanwhile()  # after the engine's own imports: the two threads share none
    try:
        with watch_progress(layout, monitor):
            results = runner.run(job, tasks, monitor)
    finally:
        monitor.close()  # an interrupted job's bar ends before the line that says so
    stats = finalize(job, tasks, results, runner, time.perf_counter() - started)
    monitor.summary(stats)
    _write_report(job.output_dir, quiet)
    return stats


def _import_report_meanwhile() -> None:
    """Imports the report's modules (jinja2, and its template compiled: 35-70 ms here, about
    what drawing the report takes) on a thread while the job runs, when the driver mostly
    waits on its workers; the report, drawn once they finish, then starts at once. Not a
    daemon thread: an import cut short at interpreter exit could crash it. A failing import
    is left for _write_report to say."""
    if "vlforge.report" in sys.modules:
        return

    def load() -> None:
        with contextlib.suppress(Exception):
            importlib.import_module("vlforge.report")

    threading.Thread(target=load, name="vlforge-report-import").start()


def _write_report(output_dir: str, quiet: bool) -> None:
    """OUT/report.html for every job; a report that cannot be drawn is said, and the job's
    own result (its shards, ledger and exit status) stands."""
    from vlforge.report import write_report

    try:
        page = write_report(output_dir)
    except Exception as exc:  # the data is written; a broken report must not hide that
        print(f"vlforge: the report could not be written: {exception_detail(exc)}", file=sys.stderr)
        return
    if not quiet:
        print(f"{'report':<22}{page}", file=sys.stderr)


def _dedup_enabled(job: JobSpec) -> bool:
    dedup = load_corpus(job.corpus_module).job_dedup
    return dedup is not None and bool(get_option(job.options, dedup.enabled_option))


def _kept_counter(job: JobSpec, layout: OutputLayout) -> Callable[[int], int] | None:
    """How the monitor counts a committed task's samples that the job-level dedup keeps."""
    if not _dedup_enabled(job):
        return None
    return KeptCounter(layout, load_corpus(job.corpus_module).job_dedup).kept


def _job_dedup(job: JobSpec, layout: OutputLayout, complete: bool) -> list[tuple[int, Reject]]:
    """The corpus's job-level dedup, once every task has committed (else nothing yet)."""
    if not complete or not _dedup_enabled(job):
        return []
    return run_job_dedup(layout, load_corpus(job.corpus_module).job_dedup)


def finalize(job: JobSpec, tasks: list[Task], results: dict[int, TaskResult], engine: Engine,
             elapsed: float) -> dict:
    layout = OutputLayout(job.output_dir, job.corpus)
    done = {t.index: read_marker(layout, t.index) for t in tasks}
    failed = {i: r.error for i, r in results.items() if not r.ok}
    job_rejects = _job_dedup(job, layout, complete=all(done.values()))
    _merge_rejects(layout, [i for i, marker in sorted(done.items()) if marker and marker["rejected"]], job_rejects)
    stats = _sum_stats([m for m in done.values() if m], job_rejects, layout)
    stats.update({
        "corpus": job.corpus,
        "engine": engine.name,
        "workers": engine.workers,
        "tasks": len(tasks),
        "tasks_skipped": sum(r.skipped for r in results.values()),
        "tasks_failed": len(failed),
        "failed": [{"task": i, "error": e} for i, e in sorted(failed.items())],
        "elapsed_s": round(elapsed, 3),
        "items_per_s": round(stats["read"] / elapsed, 1) if elapsed > 0 else 0.0,
        "output": str(layout.root),
        "shards_dir": str(layout.shards_dir),
        "rejects_file": str(layout.rejects_file),
    })
    summary = _corpus_summary(job, layout, tasks, complete=all(done.values()))
    if summary is not None:
        stats["summary"] = summary
    write_atomic(layout.stats_file, json.dumps(stats, indent=1, sort_keys=True).encode())
    return stats


def _corpus_summary(job: JobSpec, layout: OutputLayout, tasks: list[Task], complete: bool) -> dict | None:
    """The corpus's own account of a finished job (only once every task has committed:
    a partial job's summary would mislead)."""
    summarize = load_corpus(job.corpus_module).summarize
    if summarize is None or not complete:
        return None
    facts = [(read_marker(layout, task.index) or {}).get("facts", {}) for task in tasks]
    return summarize(str(layout.root), facts)


def _sum_stats(markers: list[dict], job_rejects: list[tuple[int, Reject]], layout: OutputLayout) -> dict:
    """Task totals, less the samples the job-level pass dropped; shards as they are on disk."""
    by_reason: dict[str, int] = {}
    for reason in [r.reason for _, r in job_rejects]:
        by_reason[reason] = by_reason.get(reason, 0) + 1
    for marker in markers:
        for reason, count in marker["rejected_by_reason"].items():
            by_reason[reason] = by_reason.get(reason, 0) + count
    shards = sorted(layout.shards_dir.glob("*.tar")) if layout.shards_dir.exists() else []
    return {
        "read": sum(m["read"] for m in markers),
        "accepted": sum(m["accepted"] for m in markers) - len(job_rejects),
        "rejected": sum(m["rejected"] for m in markers) + len(job_rejects),
        "rejected_by_reason": dict(sorted(by_reason.items())),
        "shards": len(shards),
        "bytes": sum(s.stat().st_size for s in shards),
    }


def _merge_rejects(layout: OutputLayout, committed: list[int], job_rejects: list[tuple[int, Reject]]) -> None:
    """One ledger for the job: the per-task ledgers in task order, then the job-level rows.
    `committed`: the committed tasks that rejected something (only those write a ledger)."""
    # ParquetFile, not pq.read_table: the latter imports pyarrow.dataset (and pandas with it)
    tables = [pq.ParquetFile(layout.task_rejects(i)).read() for i in committed]
    if job_rejects:
        tables.append(table_from_rows(
            [{"task": task, "source": r.source, "item": r.item, "stage": r.stage, "reason": r.reason,
              "detail": r.detail} for task, r in job_rejects], REJECT_SCHEMA))
    merged = pa.concat_tables(tables) if tables else table_from_rows([], REJECT_SCHEMA)
    with atomic_path(layout.rejects_file) as tmp:
        pq.write_table(merged, tmp)
