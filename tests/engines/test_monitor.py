"""The monitor: counts of committed work only, never above the final ones; typed results."""

import io

from vlforge.engines.base import TaskResult
from vlforge.engines.monitor import Monitor


def stats(accepted, rejected):
    return {"read": accepted + rejected, "accepted": accepted, "rejected": rejected}


def monitor(**kwargs):
    return Monitor("text", 2, stream=io.StringIO(), every_s=0, **kwargs)


def test_attempts_in_flight_are_shown_apart_and_a_later_attempt_replaces_a_failed_one():
    m = monitor()
    m.progress(0, 1, 150, 50)
    m.progress(1, 1, 10, 0)
    assert m._totals() == (0, 0) and m._running() == 210
    m.progress(0, 2, 20, 5)  # attempt 1 failed: its 200 items are taken back
    assert m._running() == 35
    m.progress(0, 1, 150, 50)  # a late look at attempt 1's file changes nothing
    assert m._running() == 35
    assert m.status() == "accepted 0  rejected 0  +35 read by running tasks"


def test_final_counts_replace_progress_and_late_progress_is_ignored():
    m = monitor()
    m.progress(0, 1, 200, 0)
    m.task_done(TaskResult(0, stats(180, 30)))
    m.progress(0, 1, 200, 0)  # the poller read the file just before the task removed it
    m.task_done(TaskResult(1, error="boom"))
    assert m._totals() == (180, 30) and m._running() == 0
    assert (m.done_tasks, m.failed_tasks) == (1, 1)


def test_a_task_that_fails_for_good_was_never_in_the_counts():
    m = monitor()
    m.progress(1, 1, 300, 0)
    m.task_done(TaskResult(0, stats(5, 1)))
    assert m._totals() == (5, 1)
    m.task_done(TaskResult(1, error="boom"))
    assert m._totals() == (5, 1)


def test_duplicates_count_nowhere_until_the_end_decides_them():
    """kept: of each task's 10 accepted samples, the job-level dedup keeps 10, 8 and 7."""
    for second, final in ((TaskResult(1, stats(10, 2)), (25, 9)), (TaskResult(1, error="boom"), (20, 2))):
        m = Monitor("text", 3, stream=io.StringIO(), every_s=0, kept={0: 10, 1: 8, 2: 7}.__getitem__)
        m.task_done(TaskResult(0, stats(10, 2)))
        m.task_done(TaskResult(2, stats(10, 0)))
        assert m._totals() == (17, 2)  # 3 duplicates: rejected if the pass runs, else accepted
        m.task_done(second)  # task 1 commits (the pass runs) or fails (it does not)
        assert m._totals() == final


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_a_bar_with_rate_and_eta():
    stream = Terminal()
    m = Monitor("text", 2, stream=stream, every_s=0)
    m.progress(1, 1, 200, 0)
    m.task_done(TaskResult(0, stats(210, 3)))
    m.close()
    shown = stream.getvalue()
    assert "1/2" in shown and "task/s" in shown and "<" in shown  # done/total, rate, elapsed<ETA
    assert "accepted 210  rejected 3  +200 read by running tasks" in shown


def test_elsewhere_plain_lines_with_what_is_left_and_one_when_the_last_task_ends():
    stream = io.StringIO()
    m = Monitor("text", 2, stream=stream, every_s=3600)
    m.task_done(TaskResult(0, stats(5, 1)))  # the first line: nothing was shown yet
    m.progress(1, 1, 200, 0)  # within every_s: not shown
    m.task_done(TaskResult(1, stats(7, 0)))  # the last task: shown whatever every_s says
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in stream.getvalue()
    assert lines[0].startswith("[text] tasks 1/2  accepted 5  rejected 1  ") and lines[0].endswith(" s left")
    assert lines[1].startswith("[text] tasks 2/2  accepted 12  rejected 1  ") and "left" not in lines[1]
