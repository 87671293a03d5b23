"""Errors: the bottom of vlforge, imported by everything and importing only the Reject record.

    VlforgeError     a job could not run; the CLI shows it as one line (exit 2)
    Rejected         one item could not become a sample; becomes one reject-ledger row
    run_handler      runs a command so that both of the above never end in a traceback
"""

from __future__ import annotations

import re
import sys
import traceback

from vlforge.schemas.sample import Reject

EXIT_USAGE = 2  # the job could not run: a VlforgeError
EXIT_INTERRUPTED = 130  # Ctrl-C


class VlforgeError(Exception):
    """A job could not run: bad arguments, missing inputs, an output dir of another job.

    The message is shown to the user as is, so it says what is wrong and how to fix it.
    """


# `<_io.BytesIO object at 0x7f3a...>` in an exception's text: different on every run, so a
# detail that kept it would make two runs of one job write different reject ledgers.
_MEMORY_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def stable_text(text: str) -> str:
    """Text with the memory addresses of object reprs taken out."""
    return _MEMORY_ADDRESS.sub("", text)


class Rejected(Exception):
    """One item (a book, a page, a record, a sample) is dropped with a stable reason.

    `reason` is snake_case and counted in stats.json; `detail` says what exactly was wrong.
    Whoever knows the item's source, position and stage turns it into a ledger row with
    `reject()`.
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = stable_text(detail)

    def reject(self, source: str, item: str, stage: str) -> Reject:
        return Reject(source, item, stage, self.reason, self.detail)


def exception_detail(exc: BaseException) -> str:
    """`ValueError: bad thing (at module.py:42)`: enough to find the bug, one line."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return stable_text(f"{type(exc).__name__}: {exc}{where}")


def run_handler(handler, args) -> int:
    """A command's exit status; errors a user can fix become one line on stderr, exit 2."""
    try:
        return handler(args)
    except VlforgeError as exc:
        print(f"vlforge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vlforge: interrupted; re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
