"""Concurrent callers' queries encoded together: one forward pass for every query waiting, not one each.

`serve` answers requests from a thread pool. A lock around the query encoder made 50 concurrent
clients queue for 50 forward passes one after another; batching the queries that arrive while a pass
runs costs one pass for all of them (a batch of short queries costs little more than one on a CPU).
No thread of its own: the first caller to find the encoder idle runs the pass for everyone waiting
(leader/followers), so a lone query (`pagefit search`) is encoded at once, alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["QueryBatcher"]


class _Slot:
    __slots__ = ("done", "error", "query", "result")

    def __init__(self, query: str) -> None:
        self.query = query
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False


class QueryBatcher:
    """``batcher(query)`` -> ``encode([query, ...])[i]``, queries waiting at the same time encoded together.

    Args:
        encode: encodes a list of queries into a sequence (array) of one result per query.
        max_batch: the most queries one pass takes.
    """

    def __init__(self, encode: Callable[[list[str]], Sequence[Any]], max_batch: int = 64) -> None:
        self._encode = encode
        self._max_batch = max_batch
        self._pending: list[_Slot] = []
        self._busy = False
        self._changed = threading.Condition()

    def __call__(self, query: str) -> Any:
        slot = _Slot(query)
        with self._changed:
            self._pending.append(slot)
            while not slot.done:
                if self._busy:  # a pass is running: it may be encoding this query, or the next one will
                    self._changed.wait()
                    continue
                self._busy = True  # lead: encode every query waiting (this one among them, unless too many)
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                self._changed.release()
                try:
                    self._run(batch)
                finally:
                    self._changed.acquire()
        return self._result(slot)

    def _run(self, batch: list[_Slot]) -> None:
        try:
            results = self._encode([slot.query for slot in batch])
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
        except BaseException as e:  # every caller of this pass sees the error
            for slot in batch:
                slot.error = e
        finally:
            with self._changed:
                for slot in batch:
                    slot.done = True
                self._busy = False
                self._changed.notify_all()

    @staticmethod
    def _result(slot: _Slot) -> Any:
        if slot.error is not None:
            raise slot.error
        return slot.result
