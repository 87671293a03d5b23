"""Progress while a job runs and the summary table at its end (to stderr).

On a terminal, a progress bar over the job's tasks with rate and ETA (tqdm); otherwise, a
plain line every few seconds, and one more when the last task ends.

"accepted" and "rejected" never exceed the job's final counts, on any engine:

- they count committed tasks only. What attempts in flight have read is shown apart
  ("+N read by running tasks"): an attempt's counts are absolute and replace its earlier
  attempts' (a retried task is never counted twice), but a task that fails for good is
  not in the final counts at all.
- where the corpus has a job-level dedup, a committed task's samples count as accepted
  only if the pass will keep them (dedup.KeptCounter: content digests new to the job so
  far). The others are duplicates that neither count holds until the job's end decides
  them: rejected if every task committed (the pass runs), accepted if a task failed (it
  does not). So the last line equals stats.json.

The monitor hears of a task in two ways, on every engine: `watch_progress` polls the
progress files that attempts in flight rewrite (executor), and the engine calls `task_done`
with each task's result.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TextIO

from vlforge.engines.executor import OutputLayout, read_progress

if TYPE_CHECKING:
    from vlforge.engines.base import TaskResult

POLL_S = 0.5  # seconds between two looks at the progress files


class Monitor:
    """Collects counts of tasks in flight and finished tasks; shows them at most every `every_s`.

    `kept`: task index -> how many of its accepted samples the job-level dedup will keep
    (None: the job has no such pass, every accepted sample is kept).
    """

    def __init__(self, corpus: str, total_tasks: int, stream: TextIO | None = None,
                 every_s: float | None = None, quiet: bool = False,
                 kept: Callable[[int], int] | None = None):
        self.corpus = corpus
        self.total_tasks = total_tasks
        self.stream = stream or sys.stderr
        interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every_s = every_s if every_s is not None else (0.5 if interactive else 5.0)
        self.quiet = quiet
        self.kept = kept
        self.bar = _progress_bar(corpus, total_tasks, self.stream) if interactive and not quiet else None
        self.started = time.perf_counter()
        self.last_print = 0.0
        self.read = self.accepted = self.rejected = 0  # of committed tasks
        self.undecided = 0  # duplicates the job-level dedup drops only if every task commits
        self.done_tasks = self.skipped_tasks = self.failed_tasks = 0
        # task -> (attempt, items read) of its attempt in flight
        self.in_flight: dict[int, tuple[int, int]] = {}
        self.ended: set[int] = set()
        self.lock = threading.Lock()  # the polling thread and the engine both report

    def progress(self, task: int, attempt: int, accepted: int, rejected: int) -> None:
        """Counts so far of one attempt; a later attempt's replace an earlier one's."""
        with self.lock:
            if task in self.ended or attempt < self.in_flight.get(task, (0, 0))[0]:
                return  # a late look at a file the task has already left behind
            self.in_flight[task] = (attempt, accepted + rejected)
            self._maybe_print()

    def task_done(self, result: TaskResult) -> None:
        """A task committed or failed for good: its final counts replace its attempt's."""
        with self.lock:
            self.ended.add(result.index)
            self.in_flight.pop(result.index, None)
            if result.stats is None:
                self.failed_tasks += 1
            else:
                self._add_committed(result)
            self._maybe_print(force=len(self.ended) == self.total_tasks)

    def _add_committed(self, result: TaskResult) -> None:
        stats = result.stats
        kept = stats["accepted"] if self.kept is None else self.kept(result.index)
        self.done_tasks += 1
        self.skipped_tasks += result.skipped
        self.read += stats["read"]
        self.accepted += kept
        self.rejected += stats["rejected"]
        self.undecided += stats["accepted"] - kept

    def _totals(self) -> tuple[int, int]:
        """(accepted, rejected) so far, neither above the job's final count."""
        if len(self.ended) < self.total_tasks:
            return self.accepted, self.rejected
        if self.failed_tasks:  # the job-level dedup does not run on a job with failed tasks
            return self.accepted + self.undecided, self.rejected
        return self.accepted, self.rejected + self.undecided

    def _running(self) -> int:
        return sum(read for _, read in self.in_flight.values())

    def status(self) -> str:
        accepted, rejected = self._totals()
        running = self._running()
        return f"accepted {accepted}  rejected {rejected}" + (
            f"  +{running} read by running tasks" if running else "")

    def _maybe_print(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self.quiet or (now - self.last_print < self.every_s and not force):
            return
        self.last_print = now
        if self.bar is not None:
            self._update_bar()
            return
        elapsed = now - self.started
        rate = (self.read + self._running()) / max(elapsed, 1e-9)
        print(f"[{self.corpus}] tasks {self.done_tasks}/{self.total_tasks}  {self.status()}  "
              f"{rate:,.0f} items/s{_eta(elapsed, len(self.ended), self.total_tasks)}",
              file=self.stream, flush=True)

    def close(self) -> None:
        """Ends the progress bar (the job ended, or was interrupted)."""
        if self.bar is not None:
            self._update_bar()
            self.bar.close()
            self.bar = None

    def _update_bar(self) -> None:
        self.bar.set_postfix_str(self.status(), refresh=False)
        self.bar.update(len(self.ended) - self.bar.n)  # tqdm: rate and ETA
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
