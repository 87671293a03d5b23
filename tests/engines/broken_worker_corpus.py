"""A test corpus that imports in the driver but not in a worker process of the local pool:
it needs a module that only the driver has (as when the driver's environment differs from
the one its workers get)."""

import multiprocessing

from flaky_corpus import read

from vlforge.contract import Corpus

if multiprocessing.parent_process() is not None:  # a worker of the local pool
    import vlforge_driver_only_module  # noqa: F401  (no such module here)

CORPUS = Corpus("broken", "test corpus that cannot be imported in a worker", read, suffixes=(".txt",))
