"""The monitor: a retried task's progress replaces its failed attempt's; typed results."""

import io

from vlforge.engines.base import TaskResult
from vlforge.engines.monitor import Monitor


def monitor():
    return Monitor("text", 2, stream=io.StringIO(), every_s=0)


def test_a_later_attempt_replaces_the_counts_of_a_failed_one():
    m = monitor()
    m.progress(0, 1, 150, 50)
    m.progress(1, 1, 10, 0)
    assert m._totals() == (160, 50)
    m.progress(0, 2, 20, 5)  # attempt 1 failed: its 150/50 are taken back
    assert m._totals() == (30, 5)
    m.progress(0, 1, 150, 50)  # a late look at attempt 1's file changes nothing
    assert m._totals() == (30, 5)


def test_final_counts_replace_progress_and_late_progress_is_ignored():
    m = monitor()
    m.progress(0, 1, 200, 0)
    m.task_done(TaskResult(0, {"accepted": 180, "rejected": 30}))
    m.progress(0, 1, 200, 0)  # the poller read the file just before the task removed it
    m.task_done(TaskResult(1, error="boom"))
    assert m._totals() == (180, 30)
    assert (m.done_tasks, m.failed_tasks) == (1, 1)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_a_bar_with_rate_and_eta():
    stream = Terminal()
    m = Monitor("text", 2, stream=stream, every_s=0)
    m.progress(0, 1, 200, 0)
    m.task_done(TaskResult(0, {"accepted": 210, "rejected": 3}))
    m.close()
    shown = stream.getvalue()
    assert "1/2" in shown and "task/s" in shown and "<" in shown  # done/total, rate, elapsed<ETA
    assert "accepted 210  rejected 3" in shown


def test_elsewhere_plain_lines_with_what_is_left():
    stream = io.StringIO()
    m = Monitor("text", 2, stream=stream, every_s=0, dedup_after=True)
    m.task_done(TaskResult(0, {"accepted": 5, "rejected": 1}))
    line = stream.getvalue().strip()
    assert line.startswith("[text] tasks 1/2  accepted 5 (before job dedup)  rejected 1")
    assert "s left" in line and "\r" not in line
