"""From the user's INPUT arguments to a sorted list of files.

inputs (files, directories, globs) -> sorted, de-duplicated files. Used by every job
(engines.planning slices the files into tasks) and by the taxonomy commands.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from vlforge.errors import VlforgeError


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute, resolved
    size: int


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _files_under(directory: Path) -> list[Path]:
    # Hidden files and folders (.git, .ipynb_checkpoints) are not inputs.
    return [p for p in directory.rglob("*") if (p.is_file() or p.is_symlink())
            and not p.is_dir() and not _is_hidden(p, directory)]


def expand_inputs(inputs: list[str]) -> list[InputFile]:
    """Every file the INPUT arguments name, sorted by path, each once.

    A path that does not exist and matches no glob is an error: a typo must not turn into a
    job that silently reads nothing. Broken links inside a directory are kept: the reader
    turns them into reject rows.
    """
    if not inputs:
        raise VlforgeError("no INPUT given: name files, directories or globs to read")
    found: dict[str, InputFile] = {}
    for raw in inputs:
        paths = _paths_for(raw)
        for path in paths:
            resolved = str(Path(os.path.abspath(path)))
            size = path.stat().st_size if path.exists() else 0
            found.setdefault(resolved, InputFile(resolved, size))
    if not found:
        raise VlforgeError(f"no input files found in: {' '.join(inputs)}")
    return [found[p] for p in sorted(found)]


def _paths_for(raw: str) -> list[Path]:
    path = Path(raw)
    if path.is_dir():
        return _files_under(path)
    if path.exists() or path.is_symlink():
        return [path]
    if glob.has_magic(raw):
        matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True))]
        if matches:
            return [f for m in matches for f in (_files_under(m) if m.is_dir() else [m])]
    raise VlforgeError(f"input {raw!r} does not exist (no such file, directory or matching glob)")
