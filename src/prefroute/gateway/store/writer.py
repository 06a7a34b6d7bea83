"""Writes request records off the request path: a bounded queue and one thread.

`LogWriter.submit` is all a request pays: a non-blocking put on a bounded queue.
When the queue is full (the disk or database cannot keep up) the record is
dropped and counted, so logging never slows or fails a request. The writer
thread drains the queue in batches (one transaction each) and, when retention
limits are set, prunes the store periodically.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from prefroute.errors import ConfigError
from prefroute.gateway.store.base import FeedbackRecord, LogStore, RequestRecord

__all__ = ["LogWriter", "LogWriterStats"]

logger = logging.getLogger(__name__)

# how often an idle writer thread wakes to check prune deadlines and stop requests
_TICK_S = 0.5


class _Stop:
    """Queue item telling the thread to finish: everything before it is written."""


@dataclass(frozen=True, slots=True)
class LogWriterStats:
    """Counters of a `LogWriter` since it started.

    Attributes:
        n_written: Records committed to the store.
        n_dropped: Records not logged because the queue was full or the writer
            was closed.
        n_failed: Records lost because the store raised while writing them.
        n_pruned: Records deleted by retention.
        n_queued: Records waiting in the queue now.
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
        max_rows: int | None = None,
        max_age_s: float | None = None,
        prune_interval_s: float = 60.0,
    ) -> None:
        """Start the writer thread.

        Args:
            store: Where records go.
            max_queue: Records that may wait; beyond it `submit` drops.
            batch_size: Most records per write transaction.
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
        if prune_interval_s <= 0:
            raise ConfigError(f"prune_interval_s must be > 0, got {prune_interval_s!r}")
        self.store = store
        self.batch_size = batch_size
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self.prune_interval_s = prune_interval_s
        self._queue: queue.Queue[RequestRecord | threading.Event | _Stop] = queue.Queue(
            max_queue
        )
        # ids submitted but not yet committed: feedback for them waits for a flush
        self._pending: set[str] = set()
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
        if not self._is_closed:
            self._pending.add(record.request_id)
            try:
                self._queue.put_nowait(record)
                return True
            except queue.Full:
                self._pending.discard(record.request_id)
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
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return done.wait(left)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread (the store stays open).

        Args:
            timeout: Most seconds to wait for the queue to drain.
        """
        if self._is_closed:
            return
        self._is_closed = True
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(_Stop(), timeout=timeout)
        except queue.Full:
            logger.warning("request log: queue did not drain within %.1fs", timeout)
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def stats(self) -> LogWriterStats:
        """The counters now."""
        with self._lock:
            return LogWriterStats(
                n_written=self._n_written,
                n_dropped=self._n_dropped,
                n_failed=self._n_failed,
                n_pruned=self._n_pruned,
                n_queued=self._queue.qsize(),
            )

    def _run(self) -> None:
        next_prune = time.monotonic()
        is_stopping = False
        while not is_stopping:
            if time.monotonic() >= next_prune:
                self._prune()
                next_prune = time.monotonic() + self.prune_interval_s
            try:
                item = self._queue.get(timeout=_TICK_S)
            except queue.Empty:
                continue
            batch: list[RequestRecord] = []
            flushes: list[threading.Event] = []
            while True:
                if isinstance(item, RequestRecord):
                    batch.append(item)
                elif isinstance(item, threading.Event):
                    flushes.append(item)
                else:
                    is_stopping = True
                    break
                if len(batch) >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._write(batch)
            # every record queued before a flush marker is in this batch or earlier
            for done in flushes:
                done.set()

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
