"""Reading line-oriented files (JSONL) by byte range, as tasks slice them."""

from __future__ import annotations

from collections.abc import Iterator

from vlforge.contract import Part


def iter_lines(part: Part) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) for every line that starts inside the part's byte range.

    A range that starts mid-line skips to the next line: that line belongs to the range in
    which it starts, so adjacent ranges neither lose nor repeat a line.
    """
    with open(part.path, "rb") as f:
        offset = part.start
        if offset > 0:
            f.seek(offset - 1)
            offset += len(f.readline()) - 1
        while part.end is None or offset < part.end:
            line = f.readline()
            if not line:
                return
            yield offset, line
            offset += len(line)
