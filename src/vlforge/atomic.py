"""Write-to-a-temporary-name-then-rename: a reader never sees half a file.

Every file that marks progress or is read by another process (task markers, ledgers,
shards, stats, checkpoints) is written through one of these, so a killed writer leaves only
a `.tmp` file, which the next attempt removes, never a truncated final file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_path(path: str | os.PathLike) -> Path:
    """Where `path` is written before the rename: beside it, so the rename stays atomic."""
    path = Path(path)
    return path.with_name(path.name + ".tmp")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path to write; renames it onto `path` when the block succeeds.

    A block that raises leaves `path` as it was and removes the temporary file.
    """
    tmp = temporary_path(path)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)  # the final file, if any, is untouched
        raise
    os.replace(tmp, path)


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
