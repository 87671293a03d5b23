"""A test corpus whose tasks stop half-way until the driver's monitor has seen their progress.

Each task reads PROGRESS_EVERY + 5 lines of its .txt file; after PROGRESS_EVERY samples (one
progress file written) the stage waits for `release` in the output directory, which the
test's monitor creates when it hears of progress. A task that is never released goes on
after WAIT_S, and the test fails on what its monitor saw, instead of hanging.
"""

import time
from pathlib import Path

from flaky_corpus import read

from vlforge.contract import Corpus
from vlforge.engines.executor import PROGRESS_EVERY

WAIT_S = 60


def wait_for_release(outcomes, ctx):
    release = Path(ctx.output_dir) / "release"
    for number, outcome in enumerate(outcomes):
        if number == PROGRESS_EVERY:
            deadline = time.monotonic() + WAIT_S
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        yield outcome


CORPUS = Corpus("waiting", "test corpus that waits for its progress to be seen", read,
                (wait_for_release,), suffixes=(".txt",))
