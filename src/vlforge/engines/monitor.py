"""Progress while a job runs and the summary table at its end (to stderr).

On a terminal, a progress bar over the job's tasks with rate and ETA (tqdm); otherwise, a
plain line every few seconds. Counts shown are those of committed tasks plus the attempts
in flight, so they never exceed the task totals; a corpus's job-level dedup runs after
every task, so while it is pending "accepted" says "before job dedup".

The monitor hears of a task in two ways, on every engine: `watch_progress` polls the
progress files that attempts in flight rewrite (executor), and the engine calls `task_done`
with each task's result. An attempt's counts are absolute and replace what the task's
earlier attempts showed, so a retried task is never counted twice.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from vlforge.engines.executor import OutputLayout, read_progress

if TYPE_CHECKING:
    from vlforge.engines.base import TaskResult

POLL_S = 0.5  # seconds between two looks at the progress files


class Monitor:
    """Collects counts of tasks in flight and finished tasks; shows them at most every `every_s`."""

    def __init__(self, corpus: str, total_tasks: int, stream: TextIO | None = None,
                 every_s: float | None = None, quiet: bool = False, dedup_after: bool = False):
        self.corpus = corpus
        self.total_tasks = total_tasks
        self.stream = stream or sys.stderr
        interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every_s = every_s if every_s is not None else (0.5 if interactive else 5.0)
        self.quiet = quiet
        self.dedup_after = dedup_after
        self.bar = _progress_bar(corpus, total_tasks, self.stream) if interactive and not quiet else None
        self.started = time.perf_counter()
        self.last_print = 0.0
        self.accepted = self.rejected = 0
        self.done_tasks = self.skipped_tasks = self.failed_tasks = 0
        # task -> (attempt, accepted, rejected) of its attempt in flight
        self.in_flight: dict[int, tuple[int, int, int]] = {}
        self.ended: set[int] = set()
        self.lock = threading.Lock()  # the polling thread and the engine both report

    def progress(self, task: int, attempt: int, accepted: int, rejected: int) -> None:
        """Counts so far of one attempt; a later attempt's replace an earlier one's."""
        with self.lock:
            if task in self.ended or attempt < self.in_flight.get(task, (0, 0, 0))[0]:
                return  # a late look at a file the task has already left behind
            self.in_flight[task] = (attempt, accepted, rejected)
            self._maybe_print()

    def task_done(self, result: TaskResult) -> None:
        """A task committed or failed for good: its final counts replace its attempt's."""
        with self.lock:
            self.ended.add(result.index)
            self.in_flight.pop(result.index, None)
            if result.stats is None:
                self.failed_tasks += 1
            else:
                self.done_tasks += 1
                self.skipped_tasks += result.skipped
                self.accepted += result.stats["accepted"]
                self.rejected += result.stats["rejected"]
            self._maybe_print()

    def _totals(self) -> tuple[int, int]:
        accepted = self.accepted + sum(a for _, a, _ in self.in_flight.values())
        rejected = self.rejected + sum(r for _, _, r in self.in_flight.values())
        return accepted, rejected

    def status(self) -> str:
        accepted, rejected = self._totals()
        before = " (before job dedup)" if self.dedup_after else ""
        return f"accepted {accepted}{before}  rejected {rejected}"

    def _maybe_print(self) -> None:
        now = time.perf_counter()
        if self.quiet or now - self.last_print < self.every_s:
            return
        self.last_print = now
        if self.bar is not None:
            self._update_bar()
            return
        elapsed = now - self.started
        rate = sum(self._totals()) / max(elapsed, 1e-9)
        print(f"[{self.corpus}] tasks {self.done_tasks}/{self.total_tasks}  {self.status()}  "
              f"{rate:,.0f} items/s{_eta(elapsed, self.done_tasks + self.failed_tasks, self.total_tasks)}",
              file=self.stream, flush=True)

    def close(self) -> None:
        """Ends the progress bar (the job ended, or was interrupted)."""
        if self.bar is not None:
            self._update_bar()
            self.bar.close()
            self.bar = None

    def _update_bar(self) -> None:
        self.bar.set_postfix_str(self.status(), refresh=False)
        self.bar.update(self.done_tasks + self.failed_tasks - self.bar.n)  # tqdm: rate and ETA
        self.bar.refresh()

    def summary(self, stats: dict) -> None:
        self.close()
        if self.quiet:
            return
        print(format_summary(stats), file=self.stream, flush=True)


def _progress_bar(corpus: str, total_tasks: int, stream: TextIO):
    """A tqdm bar over the job's tasks, or None where tqdm is not installed (plain lines)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total_tasks, desc=f"[{corpus}]", unit="task", file=stream, dynamic_ncols=True,
                mininterval=0)


def _eta(elapsed: float, ended: int, total: int) -> str:
    if not ended or ended >= total:
        return ""
    return f"  about {elapsed / ended * (total - ended):,.0f} s left"


def _poll(layout: OutputLayout, monitor: Monitor) -> None:
    for path in layout.progress_files():
        record = read_progress(path)
        if record is not None and "error" not in record:
            monitor.progress(record["task"], record["attempt"], record["accepted"], record["rejected"])


@contextlib.contextmanager
def watch_progress(layout: OutputLayout, monitor: Monitor, poll_s: float = POLL_S) -> Iterator[None]:
    """Feeds `monitor` from the progress files in a thread while the block runs."""
    stop = threading.Event()

    def poll_until_stopped() -> None:
        while not stop.wait(poll_s):
            _poll(layout, monitor)

    thread = threading.Thread(target=poll_until_stopped, name="vlforge-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def format_summary(stats: dict) -> str:
    rows = [
        ("corpus", stats["corpus"]),
        ("engine", f"{stats['engine']} ({stats['workers']} workers)"),
        ("tasks", f"{stats['tasks']} ({stats['tasks_skipped']} already done, {stats['tasks_failed']} failed)"),
        ("read", stats["read"]),
        ("accepted", stats["accepted"]),
        ("rejected", stats["rejected"]),
    ]
    rows += [(f"  {reason}", count) for reason, count in stats["rejected_by_reason"].items()]
    rows += [
        ("shards", f"{stats['shards']} ({stats['bytes']:,} bytes)"),
        ("elapsed", f"{stats['elapsed_s']:.2f} s ({stats['items_per_s']:,.1f} items/s)"),
        ("output", stats["output"]),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
