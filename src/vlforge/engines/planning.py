"""From the user's INPUT arguments to a deterministic list of tasks.

inputs (files, directories, globs) -> sorted, de-duplicated files -> parts (a whole file or
a byte range of a large line-oriented file) -> tasks (consecutive parts up to a byte and a
file budget). Nothing here depends on the clock or the filesystem's listing order, so the
same inputs and options always give the same tasks, numbered the same way.
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


@dataclass(frozen=True)
class Part:
    """A whole file (start=0, end=None) or the lines starting in [start, end) of one."""

    path: str
    start: int = 0
    end: int | None = None

    @property
    def label(self) -> str:
        return self.path if self.end is None else f"{self.path}@{self.start}-{self.end}"


@dataclass(frozen=True)
class Task:
    index: int
    parts: tuple[Part, ...]


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


def split_into_parts(files: list[InputFile], splittable_suffixes: tuple[str, ...],
                     target_bytes: int) -> list[Part]:
    """Whole files, except line-oriented files larger than target_bytes: byte ranges of them."""
    parts: list[Part] = []
    for f in files:
        if f.size > target_bytes and f.path.endswith(splittable_suffixes):
            parts += [Part(f.path, start, min(start + target_bytes, f.size))
                      for start in range(0, f.size, target_bytes)]
        else:
            parts.append(Part(f.path))
    return parts


def group_into_tasks(parts: list[Part], sizes: dict[str, int], target_bytes: int,
                     max_files: int) -> list[Task]:
    """Consecutive parts packed into tasks until the byte or file budget is reached."""
    tasks: list[Task] = []
    current: list[Part] = []
    current_bytes = 0
    for part in parts:
        part_bytes = (part.end - part.start) if part.end is not None else sizes[part.path]
        if current and (len(current) >= max_files or current_bytes + part_bytes > target_bytes):
            tasks.append(Task(len(tasks), tuple(current)))
            current, current_bytes = [], 0
        current.append(part)
        current_bytes += part_bytes
    if current:
        tasks.append(Task(len(tasks), tuple(current)))
    return tasks


def plan_tasks(files: list[InputFile], splittable_suffixes: tuple[str, ...], options: dict) -> list[Task]:
    target_bytes = options["tasks"]["target_bytes"]
    max_files = options["tasks"]["max_files"]
    if target_bytes < 1 or max_files < 1:
        raise VlforgeError("tasks.target_bytes and tasks.max_files must be positive")
    parts = split_into_parts(files, splittable_suffixes, target_bytes)
    return group_into_tasks(parts, {f.path: f.size for f in files}, target_bytes, max_files)
