"""A test corpus that registers an exit handler in every worker process that imports it:
the handler writes a file named by the worker's pid into the directory that the
VLFORGE_TEST_EXIT_DIR environment variable names (workers inherit the driver's environment)."""

import atexit
import os
from pathlib import Path

from flaky_corpus import read

from vlforge.contract import Corpus


def _say_goodbye() -> None:
    directory = os.environ.get("VLFORGE_TEST_EXIT_DIR")
    if directory:
        (Path(directory) / f"exited-{os.getpid()}").write_text("bye")


atexit.register(_say_goodbye)

CORPUS = Corpus("exit_hook", "test corpus with an exit handler per worker", read, (), suffixes=(".txt",))
