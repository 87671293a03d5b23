"""Progress lines while a job runs and the summary table at its end (to stderr)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Monitor:
    """Collects increments from tasks in flight and finished tasks; prints at most every `every_s`."""

    def __init__(self, corpus: str, total_tasks: int, stream: TextIO | None = None,
                 every_s: float | None = None, quiet: bool = False):
        self.corpus = corpus
        self.total_tasks = total_tasks
        self.stream = stream or sys.stderr
        interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every_s = every_s if every_s is not None else (0.5 if interactive else 5.0)
        self.quiet = quiet
        self.started = time.perf_counter()
        self.last_print = 0.0
        self.accepted = self.rejected = 0
        self.done_tasks = self.skipped_tasks = self.failed_tasks = 0
        self.in_flight: dict[int, tuple[int, int]] = {}  # task -> increments not yet final

    def progress(self, task: int, accepted: int, rejected: int) -> None:
        a, r = self.in_flight.get(task, (0, 0))
        self.in_flight[task] = (a + accepted, r + rejected)
        self._maybe_print()

    def task_done(self, task: int, stats: dict | None) -> None:
        """A task finished (stats) or failed for good (None): its final counts replace increments."""
        self.in_flight.pop(task, None)
        if stats is None:
            self.failed_tasks += 1
        else:
            self.done_tasks += 1
            self.skipped_tasks += bool(stats.get("skipped"))
            self.accepted += stats["accepted"]
            self.rejected += stats["rejected"]
        self._maybe_print()

    def _totals(self) -> tuple[int, int]:
        accepted = self.accepted + sum(a for a, _ in self.in_flight.values())
        rejected = self.rejected + sum(r for _, r in self.in_flight.values())
        return accepted, rejected

    def _maybe_print(self) -> None:
        now = time.perf_counter()
        if self.quiet or now - self.last_print < self.every_s:
            return
        self.last_print = now
        accepted, rejected = self._totals()
        rate = (accepted + rejected) / max(now - self.started, 1e-9)
        print(f"[{self.corpus}] tasks {self.done_tasks}/{self.total_tasks}  accepted {accepted}  "
              f"rejected {rejected}  {rate:,.0f} items/s", file=self.stream, flush=True)

    def summary(self, stats: dict) -> None:
        if self.quiet:
            return
        print(format_summary(stats), file=self.stream, flush=True)


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
