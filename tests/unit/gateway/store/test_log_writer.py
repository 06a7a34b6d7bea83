"""LogWriter over every store backend: batching, dropping, flushing, retention."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest

from prefroute.errors import ConfigError
from prefroute.gateway.store import FeedbackRecord, LogStore, LogWriter, RequestRecord

MakeRecord = Callable[..., RequestRecord]


class _StalledStore:
    """A real store whose writes wait at a gate: a disk or database that stalls."""

    def __init__(self, store: LogStore, *, n_failures: int = 0) -> None:
        self.store = store
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.n_failures = n_failures

    def write_requests(self, records: Sequence[RequestRecord]) -> None:
        self.entered.set()
        assert self.gate.wait(30)
        if self.n_failures:
            self.n_failures -= 1
            raise sqlite3.OperationalError("disk I/O error")
        self.store.write_requests(records)

    def put_feedback(self, feedback: FeedbackRecord) -> bool:
        return self.store.put_feedback(feedback)

    def prune(
        self, *, max_rows: int | None = None, max_age_s: float | None = None
    ) -> int:
        return self.store.prune(max_rows=max_rows, max_age_s=max_age_s)


@pytest.fixture()
def writers() -> Iterator[list[LogWriter]]:
    """Writers to close at the end of the test."""
    made: list[LogWriter] = []
    yield made
    for writer in made:
        writer.close()


def _feedback(request_id: str) -> FeedbackRecord:
    return FeedbackRecord(request_id, 1.0, "", time.time())


def test_submitted_records_are_written_by_flush(
    store: LogStore, make_record: MakeRecord, writers: list[LogWriter]
) -> None:
    writer = LogWriter(store, batch_size=7)
    writers.append(writer)
    assert all(writer.submit(make_record(i)) for i in range(50))
    assert writer.flush(timeout=30)
    assert store.counts()["requests"] == 50
    stats = writer.stats()
    assert (stats.n_written, stats.n_dropped, stats.n_queued) == (50, 0, 0)


def test_full_queue_drops_and_counts_without_blocking(
    store: LogStore, make_record: MakeRecord, writers: list[LogWriter]
) -> None:
    stalled = _StalledStore(store)
    stalled.gate.clear()
    writer = LogWriter(stalled, max_queue=3)  # type: ignore[arg-type]
    writers.append(writer)
    assert writer.submit(make_record(0))
    assert stalled.entered.wait(30)  # record 0 is held by the stalled write
    start = time.perf_counter()
    accepted = [writer.submit(make_record(i)) for i in range(1, 6)]
    elapsed = time.perf_counter() - start
    assert accepted == [True, True, True, False, False]
    assert elapsed < 0.5
    assert writer.stats().n_dropped == 2
    stalled.gate.set()
    assert writer.flush(timeout=30)
    assert [r.request_id for r in store.iter_requests()] == [
        f"req-{i:06d}" for i in range(4)
    ]
    assert writer.stats().n_written == 4


def test_feedback_finds_a_request_still_in_the_queue(
    store: LogStore, make_record: MakeRecord, writers: list[LogWriter]
) -> None:
    stalled = _StalledStore(store)
    stalled.gate.clear()
    writer = LogWriter(stalled)  # type: ignore[arg-type]
    writers.append(writer)
    writer.submit(make_record(1))
    assert stalled.entered.wait(30)
    assert writer.is_pending("req-000001")
    # straight to the store, the request is unknown until the writer commits it
    assert store.put_feedback(_feedback("req-000001")) is False
    threading.Timer(0.2, stalled.gate.set).start()
    assert writer.put_feedback(_feedback("req-000001")) is True
    assert not writer.is_pending("req-000001")
    assert store.counts() == {"requests": 1, "feedback": 1}


def test_feedback_for_an_unknown_request_is_refused(
    store: LogStore, writers: list[LogWriter]
) -> None:
    writer = LogWriter(store)
    writers.append(writer)
    assert writer.put_feedback(_feedback("never-logged")) is False


def test_store_error_costs_one_batch_and_the_writer_goes_on(
    store: LogStore, make_record: MakeRecord, writers: list[LogWriter]
) -> None:
    stalled = _StalledStore(store, n_failures=1)
    stalled.gate.clear()
    writer = LogWriter(stalled)  # type: ignore[arg-type]
    writers.append(writer)
    writer.submit(make_record(1))
    assert stalled.entered.wait(30)
    stalled.gate.set()  # the batch holding record 1 fails
    assert writer.flush(timeout=30)
    writer.submit(make_record(2))
    assert writer.flush(timeout=30)
    stats = writer.stats()
    assert (stats.n_failed, stats.n_written) == (1, 1)
    assert not writer.is_pending("req-000001")
    assert [r.request_id for r in store.iter_requests()] == ["req-000002"]


def test_retention_prunes_periodically_in_the_writer(
    store: LogStore, make_record: MakeRecord, writers: list[LogWriter]
) -> None:
    writer = LogWriter(store, max_rows=5, prune_interval_s=0.05)
    writers.append(writer)
    for i in range(20):
        writer.submit(make_record(i))
    assert writer.flush(timeout=30)
    deadline = time.monotonic() + 10
    while store.counts()["requests"] > 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [r.request_id for r in store.iter_requests()] == [
        f"req-{i:06d}" for i in range(15, 20)
    ]
    assert writer.stats().n_pruned == 15


def test_retention_by_age_prunes_at_start(
    store: LogStore, make_record: MakeRecord, writers: list[LogWriter]
) -> None:
    store.write_requests(
        [make_record(i, ts=time.time() - 10 * 86400) for i in range(3)]
    )
    writer = LogWriter(store, max_age_s=86400)
    writers.append(writer)
    deadline = time.monotonic() + 10
    while store.counts()["requests"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.counts()["requests"] == 0
    assert writer.stats().n_pruned == 3


def test_close_writes_what_is_queued_then_drops(
    store: LogStore, make_record: MakeRecord
) -> None:
    writer = LogWriter(store, batch_size=10)
    for i in range(100):
        writer.submit(make_record(i))
    writer.close()
    assert store.counts()["requests"] == 100
    assert writer.submit(make_record(100)) is False
    assert writer.stats().n_dropped == 1
    assert writer.flush(timeout=1)


def test_many_threads_submit_concurrently(
    store: LogStore, make_record: MakeRecord, writers: list[LogWriter]
) -> None:
    writer = LogWriter(store, max_queue=100_000)
    writers.append(writer)

    def submit(offset: int) -> None:
        for i in range(offset, offset + 300):
            writer.submit(make_record(i))

    threads = [threading.Thread(target=submit, args=(k * 1000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert writer.flush(timeout=60)
    assert writer.stats().n_written == 2400
    assert store.counts()["requests"] == 2400


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_queue": 0}, "max_queue"),
        ({"batch_size": 0}, "batch_size"),
        ({"prune_interval_s": 0.0}, "prune_interval_s"),
    ],
)
def test_writer_rejects_non_positive_sizes(
    store: LogStore, kwargs: dict[str, float], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        LogWriter(store, **kwargs)  # type: ignore[arg-type]
