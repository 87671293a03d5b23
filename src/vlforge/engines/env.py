"""What worker processes that engines start need from the driver's environment."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


def driver_pythonpath() -> str:
    """The driver's import path as a PYTHONPATH, so workers find the same modules."""
    return os.pathsep.join(p for p in sys.path if p)


@contextlib.contextmanager
def driver_import_path() -> Iterator[None]:
    """PYTHONPATH set to the driver's import path while worker processes are started."""
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = driver_pythonpath()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
