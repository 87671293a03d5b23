"""A test corpus that runs on Ray actors (as browser and model corpora do), one line a sample;
each task notes the process that ran it, so a test can count the actors that did the work."""

import os
from pathlib import Path

from flaky_corpus import read

from vlforge.contract import Corpus


def note_worker(outcomes, ctx):
    (Path(ctx.output_dir) / f"ran-{ctx.task.index}").write_text(str(os.getpid()))
    yield from outcomes


CORPUS = Corpus("actors", "test corpus run on long-lived Ray actors", read, (note_worker,),
                suffixes=(".txt",), actor_resources={})
