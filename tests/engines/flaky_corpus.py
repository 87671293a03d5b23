"""A test corpus whose first attempt at every task raises: proves tasks are retried.

Each line of an input .txt file is one sample; a stage raises (a task-level failure, not a
per-sample one) the first time it sees a task, remembering that in a file under the output.
A file named `poison.txt` makes the stage fail on every attempt.
"""

from pathlib import Path

from vlforge.contract import Corpus
from vlforge.schemas import Provenance, Sample, make_key


def read(part, ctx):
    for number, line in enumerate(Path(part.path).read_text().splitlines()):
        yield Sample(make_key("flaky", part.path, number), "flaky", line, "plain", Provenance(part.path))


def fail_first_attempt(outcomes, ctx):
    seen = Path(ctx.output_dir) / f"attempted-{ctx.task.index}"
    first_attempt = not seen.exists()
    seen.touch()
    for outcome in outcomes:
        if first_attempt or outcome.provenance.source.endswith("poison.txt"):
            raise RuntimeError(f"injected failure in task {ctx.task.index}")
        yield outcome


CORPUS = Corpus("flaky", "test corpus that fails once per task", read, (fail_first_attempt,),
                suffixes=(".txt",))


def die_first_attempt(outcomes, ctx):
    """Kills the worker process itself (no exception to catch) on a task's first attempt."""
    import os

    seen = Path(ctx.output_dir) / f"died-{ctx.task.index}"
    if not seen.exists():
        seen.touch()
        os._exit(17)
    yield from outcomes


DYING = Corpus("dying", "test corpus whose worker dies once per task", read, (die_first_attempt,),
               suffixes=(".txt",))


def raise_then_die(outcomes, ctx):
    """Raises on a task's first attempt and kills its worker on the second: both attempts
    come out of the one retry budget."""
    import os

    marker = Path(ctx.output_dir) / f"attempts-{ctx.task.index}"
    attempt = len(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text("x" * attempt)
    if attempt == 1:
        raise RuntimeError(f"injected failure in task {ctx.task.index}")
    if attempt == 2:
        os._exit(17)
    yield from outcomes


MIXED = Corpus("mixed", "test corpus: a raise, then a dead worker, per task", read, (raise_then_die,),
               suffixes=(".txt",))
