"""What worker processes that engines start need from the driver's environment."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
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


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def detach_worker_signals() -> None:
    """Run first in every worker process an engine starts on this machine.

    Ctrl-C is the driver's alone: the terminal sends SIGINT to every process of the job, and
    each worker would print its own traceback; the driver stops the workers itself. A driver
    killed outright (SIGKILL, an OOM kill) cannot, so on Linux the worker asks the kernel for
    SIGTERM when its parent dies: no orphan keeps a browser and a half-written task going.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
