"""From the user's INPUT arguments to a deterministic list of tasks.

inputs (files, directories, globs) -> sorted, de-duplicated files -> parts (a whole file or
a byte range of a large line-oriented file) -> tasks (consecutive parts up to a byte and a
file budget). Nothing here depends on the clock or the filesystem's listing order, so the
same inputs and options always give the same tasks, numbered the same way.
"""

from __future__ import annotations

from vlforge.contract import Part, Task
from vlforge.errors import VlforgeError
from vlforge.inputs import InputFile


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
