"""Batches made ahead in a background thread, with the data position of each one.

Reading shards, tokenising and decoding images then overlap the model's step (PIL and
torch release the GIL for the heavy parts). A prefetched batch has already moved the
sources on, so the loader's own `state_dict` is ahead of training; each batch therefore
travels with the position taken right after it was made, and `state_dict()` returns the
position after the last batch handed out: a checkpoint resumes with the next unused batch.
"""

from __future__ import annotations

import copy
import queue
import threading
from typing import Any

_POLL_S = 0.1


class Prefetcher:
    """Wraps an iterator with `state_dict`; depth 0 makes batches inline, on demand."""

    def __init__(self, batches, depth: int = 2):
        self.batches = batches
        self.depth = depth
        self._state = copy.deepcopy(batches.state_dict())
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._thread = None
        if depth > 0:
            self._thread = threading.Thread(target=self._fill, name="prefetch", daemon=True)
            self._thread.start()

    def _fill(self) -> None:
        while not self._stop.is_set():
            try:
                item = (next(self.batches), copy.deepcopy(self.batches.state_dict()), None)
            except BaseException as exc:  # handed to the consumer, raised there
                item = (None, None, exc)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue
            if item[2] is not None:
                return

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, Any]:
        if self._thread is None:
            batch = next(self.batches)
            self._state = copy.deepcopy(self.batches.state_dict())
            return batch
        batch, state, error = self._queue.get()
        if error is not None:
            raise error
        self._state = state
        return batch

    def state_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._state)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.batches.close()
