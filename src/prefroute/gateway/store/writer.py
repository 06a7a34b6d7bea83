"""Writes request records off the request path: a bounded queue and one thread.

`LogWriter.submit` is all a request pays: an append to a bounded in-memory queue
(a `deque`; no lock, no thread wake-up). When the queue is full (the disk or
database cannot keep up) the record is dropped and counted, so logging never
slows or fails a request. `submit_deferred` queues a function that builds the
record, so even building it (hashing the prompt, filling two dozen fields)
happens in the writer thread. The thread wakes every `batch_delay_s` (at once
on `flush` or `close`), writes what is queued in batches (one transaction
each) and, when retention limits are set, prunes the store periodically.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from prefroute.errors import ConfigError
from prefroute.gateway.store.base import FeedbackRecord, LogStore, RequestRecord

__all__ = ["LogWriter", "LogWriterStats"]

logger = logging.getLogger(__name__)


class _Stop:
    """Queue item telling the thread to finish: everything before it is written."""


# a record, (request id, function building it), a flush marker, or stop
_Item = (
    RequestRecord | tuple[str, Callable[[], RequestRecord]] | threading.Event | _Stop
)


@dataclass(frozen=True, slots=True)
class LogWriterStats:
    """Counters of a `LogWriter` since it started.

    Attributes:
        n_written: Records committed to the store.
        n_dropped: Records not logged because the queue was full or the writer
            was closed.
        n_failed: Records lost because the store raised while writing them (or
            their deferred build raised).
        n_pruned: Records deleted by retention.
        n_queued: Items waiting in the queue now (records, and any flush marker).
    """

    n_written: int
    n_dropped: int
    n_failed: int
    n_pruned: int
    n_queued: int


class LogWriter:
    """Background writer of `RequestRecord`s into a `LogStore`.

    The store stays owned by the caller: `close` stops the thread, not the store.
    """

    def __init__(
        self,
        store: LogStore,
        *,
        max_queue: int = 10_000,
        batch_size: int = 256,
        batch_delay_s: float = 0.05,
        max_rows: int | None = None,
        max_age_s: float | None = None,
        prune_interval_s: float = 60.0,
    ) -> None:
        """Start the writer thread.

        Args:
            store: Where records go.
            max_queue: Records that may wait; beyond it `submit` drops.
            batch_size: Most records per write transaction.
            batch_delay_s: How often the thread wakes to write what is queued
                (a flush or close wakes it at once).
            max_rows: Retention: keep at most this many requests (None: no limit).
            max_age_s: Retention: delete requests older than this (None: keep).
            prune_interval_s: Seconds between retention passes (the first runs at
                start).

        Raises:
            ConfigError: If a size or interval is not positive.
        """
        if max_queue < 1 or batch_size < 1:
            raise ConfigError(
                f"max_queue and batch_size must be >= 1, got {max_queue}, {batch_size}"
            )
        if prune_interval_s <= 0 or batch_delay_s <= 0:
            raise ConfigError(
                "prune_interval_s and batch_delay_s must be > 0, got "
                f"{prune_interval_s!r}, {batch_delay_s!r}"
            )
        self.store = store
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.batch_delay_s = batch_delay_s
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self.prune_interval_s = prune_interval_s
        # appends and pops of a deque are atomic: submit takes no lock; the
        # length check may let a few more than max_queue in under a race
        self._items: deque[_Item] = deque()
        # ids submitted but not yet committed: feedback for them waits for a flush
        self._pending: set[str] = set()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._n_written = 0
        self._n_dropped = 0
        self._n_failed = 0
        self._n_pruned = 0
        self._is_closed = False
        self._thread = threading.Thread(
            target=self._run, name="prefroute-log-writer", daemon=True
        )
        self._thread.start()

    def submit(self, record: RequestRecord) -> bool:
        """Queue a record without blocking.

        Args:
            record: The finished request.

        Returns:
            False when the record was dropped (queue full, or writer closed).
        """
        return self._enqueue(record.request_id, record)

    def submit_deferred(
        self, request_id: str, build: Callable[[], RequestRecord]
    ) -> bool:
        """Queue a function that builds the record; it runs in the writer thread.

        Args:
            request_id: The id of the record `build` returns (for `is_pending`).
            build: Makes the record; if it raises, the record counts as failed.

        Returns:
            False when the record was dropped (queue full, or writer closed).
        """
        return self._enqueue(request_id, (request_id, build))

    def _enqueue(self, request_id: str, item: _Item) -> bool:
        if not self._is_closed and len(self._items) < self.max_queue:
            self._pending.add(request_id)
            self._items.append(item)
            return True
        with self._lock:
            self._n_dropped += 1
        return False

    def is_pending(self, request_id: str) -> bool:
        """Whether a record with this id is queued but not yet committed."""
        return request_id in self._pending

    def put_feedback(self, feedback: FeedbackRecord, *, timeout: float = 5.0) -> bool:
        """Store feedback, first flushing the queue if its request is still in it.

        Args:
            feedback: The feedback.
            timeout: Most seconds to wait for a flush.

        Returns:
            False when the request id is unknown (also after the flush).
        """
        if self.is_pending(feedback.request_id):
            self.flush(timeout=timeout)
        return self.store.put_feedback(feedback)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record submitted so far has been written (or failed).

        Args:
            timeout: Most seconds to wait (None: no limit).

        Returns:
            False on timeout. Once closed: whether the thread has finished.
        """
        if self._is_closed or not self._thread.is_alive():
            self._thread.join(timeout)
            return not self._thread.is_alive()
        done = threading.Event()
        self._items.append(done)
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread (the store stays open).

        Args:
            timeout: Most seconds to wait for the queue to drain.
        """
        if self._is_closed:
            return
        self._is_closed = True
        self._items.append(_Stop())
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("request log: queue did not drain within %.1fs", timeout)

    def stats(self) -> LogWriterStats:
        """The counters now."""
        with self._lock:
            return LogWriterStats(
                n_written=self._n_written,
                n_dropped=self._n_dropped,
                n_failed=self._n_failed,
                n_pruned=self._n_pruned,
                n_queued=len(self._items),
            )

    def _run(self) -> None:
        next_prune = time.monotonic()
        is_stopping = False
        while not is_stopping:
            if time.monotonic() >= next_prune:
                self._prune()
                next_prune = time.monotonic() + self.prune_interval_s
            self._wake.wait(self.batch_delay_s)
            self._wake.clear()
            batch: list[RequestRecord] = []
            while self._items:
                item = self._items.popleft()
                if isinstance(item, threading.Event):
                    # everything queued before the marker is written first
                    self._write(batch)
                    batch = []
                    item.set()
                    continue
                if isinstance(item, _Stop):
                    is_stopping = True
                    break
                if isinstance(item, RequestRecord):
                    batch.append(item)
                else:
                    self._build(*item, batch)
                if len(batch) >= self.batch_size:
                    self._write(batch)
                    batch = []
            self._write(batch)

    def _build(
        self,
        request_id: str,
        build: Callable[[], RequestRecord],
        batch: list[RequestRecord],
    ) -> None:
        try:
            batch.append(build())
        # a bug in a builder must not stop the writer: count it, name it once
        except Exception:
            self._pending.discard(request_id)
            with self._lock:
                is_first = self._n_failed == 0
                self._n_failed += 1
            logger.warning("request log: a record failed to build", exc_info=is_first)

    def _write(self, batch: list[RequestRecord]) -> None:
        if not batch:
            return
        try:
            self.store.write_requests(batch)
        # the log must never take the server down: any backend error (disk
        # full, lock timeout, lost connection) costs this batch, counted
        except Exception:
            with self._lock:
                is_first = self._n_failed == 0
                self._n_failed += len(batch)
            logger.warning(
                "request log: lost %d records", len(batch), exc_info=is_first
            )
        else:
            with self._lock:
                self._n_written += len(batch)
        finally:
            for record in batch:
                self._pending.discard(record.request_id)

    def _prune(self) -> None:
        if self.max_rows is None and self.max_age_s is None:
            return
        try:
            n = self.store.prune(max_rows=self.max_rows, max_age_s=self.max_age_s)
        except Exception:  # as in _write: retention failing must not stop logging
            logger.warning("request log: prune failed", exc_info=True)
            return
        with self._lock:
            self._n_pruned += n
