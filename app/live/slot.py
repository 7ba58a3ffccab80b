"""A one-slot handoff between threads: the writer replaces, the reader takes the newest.

Live video must never queue: when a consumer is slower than its producer, a queue grows
and so does latency. A single slot keeps only the newest item; items overwritten before
anyone read them are counted as dropped, which is the honest measure of "too slow".
"""
from __future__ import annotations

import threading
import time
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds the newest item and its sequence number (1, 2, 3, ... in order of ``put``)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._seq = 0
        self._taken_seq = 0  # the newest sequence number any reader has seen
        self.dropped = 0  # items replaced before any reader saw them

    @property
    def seq(self) -> int:
        return self._seq

    def put(self, item: T) -> int:
        """Replace the held item (never blocks); returns its sequence number."""
        with self._cond:
            if self._seq > self._taken_seq:
                self.dropped += 1
            self._item = item
            self._seq += 1
            self._cond.notify_all()
            return self._seq

    def get(self, after: int = 0, timeout: float | None = None) -> tuple[int, T | None]:
        """The newest item if its sequence number is above ``after``, waiting up to ``timeout``.

        Returns ``(seq, item)``; ``(seq, None)`` when nothing newer arrived in time.
        ``timeout=None`` waits indefinitely; ``0`` polls.
        """
        with self._cond:
            if self._seq <= after and timeout != 0:
                deadline = None if timeout is None else time.monotonic() + timeout
                while self._seq <= after:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    self._cond.wait(remaining)
            if self._seq <= after:
                return self._seq, None
            self._taken_seq = max(self._taken_seq, self._seq)
            return self._seq, self._item

    def peek(self) -> T | None:
        """The newest item without marking it as read (for displays that are not consumers)."""
        with self._cond:
            return self._item

    def clear(self) -> None:
        with self._cond:
            self._item = None
            self._taken_seq = self._seq
