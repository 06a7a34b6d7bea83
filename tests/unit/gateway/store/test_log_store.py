"""Every LogStore backend: round trips, feedback, retention, concurrency, crash."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from prefroute.errors import PrefrouteError
from prefroute.gateway.store import (
    FeedbackRecord,
    LogStore,
    RequestRecord,
    load_labeled,
)

MakeRecord = Callable[..., RequestRecord]


def _feedback(request_id: str, score: float, source: str = "") -> FeedbackRecord:
    return FeedbackRecord(request_id, score, source, time.time())


def test_written_pair_record_reads_back_equal(
    store: LogStore, make_record: MakeRecord
) -> None:
    record = make_record(1, prompt="Grüße, 世界 \U0001f600", error="boom")
    store.write_requests([record])
    assert list(store.iter_requests()) == [record]


def test_written_n_model_record_reads_back_equal(
    store: LogStore, make_record: MakeRecord
) -> None:
    record = make_record(
        2,
        router="mf-multi",
        threshold=None,
        score=None,
        budget=0.002,
        knob=0.3,
        scores={"a": 0.9, "b": 0.4, "c": 0.1},
        candidates=["a", "b", "c"],
        routed_model="c",
        policy_model="b",
        is_exploration=True,
        propensity=0.05,
        prompt_tokens=None,
        completion_tokens=None,
        cost_usd=None,
    )
    store.write_requests([record])
    (back,) = store.iter_requests()
    assert back == record
    assert back.scores == {"a": 0.9, "b": 0.4, "c": 0.1}
    assert back.is_exploration is True


def test_repeated_request_id_replaces_its_row(
    store: LogStore, make_record: MakeRecord
) -> None:
    store.write_requests([make_record(1, status=200)])
    store.write_requests([make_record(1, status=502)])
    assert [r.status for r in store.iter_requests()] == [502]


def test_iter_requests_is_oldest_first_and_honours_since(
    store: LogStore, make_record: MakeRecord
) -> None:
    records = [make_record(i) for i in (5, 1, 3, 2, 4)]
    store.write_requests(records)
    assert [r.request_id for r in store.iter_requests()] == [
        f"req-{i:06d}" for i in (1, 2, 3, 4, 5)
    ]
    since = make_record(3).ts
    assert [r.request_id for r in store.iter_requests(since=since)] == [
        f"req-{i:06d}" for i in (3, 4, 5)
    ]


def test_iter_requests_streams_more_rows_than_one_fetch(
    store: LogStore, make_record: MakeRecord
) -> None:
    store.write_requests([make_record(i) for i in range(1500)])
    assert sum(1 for _ in store.iter_requests()) == 1500


def test_labeled_only_yields_requests_with_feedback(
    store: LogStore, make_record: MakeRecord
) -> None:
    store.write_requests([make_record(i) for i in range(4)])
    assert store.put_feedback(_feedback("req-000002", 1.0))
    labeled = [r.request_id for r in store.iter_requests(labeled_only=True)]
    assert labeled == ["req-000002"]


def test_has_request(store: LogStore, make_record: MakeRecord) -> None:
    store.write_requests([make_record(1)])
    assert store.has_request("req-000001")
    assert not store.has_request("req-000002")


def test_feedback_for_unknown_request_is_refused_and_not_stored(
    store: LogStore,
) -> None:
    assert store.put_feedback(_feedback("nope", 1.0)) is False
    assert store.counts() == {"requests": 0, "feedback": 0}
    assert store.feedback_for() == {}


def test_feedback_upserts_per_request_and_source(
    store: LogStore, make_record: MakeRecord
) -> None:
    store.write_requests([make_record(1)])
    assert store.put_feedback(_feedback("req-000001", 0.2, "user"))
    assert store.put_feedback(_feedback("req-000001", 0.2, "user"))
    assert store.put_feedback(_feedback("req-000001", 0.9, "user"))
    assert store.put_feedback(_feedback("req-000001", 0.0, "judge"))
    assert store.put_feedback(_feedback("req-000001", 1.0))
    got = store.feedback_for(["req-000001"])["req-000001"]
    assert [(f.source, f.score) for f in got] == [
        ("", 1.0),
        ("judge", 0.0),
        ("user", 0.9),
    ]
    assert store.counts()["feedback"] == 3


def test_feedback_for_selects_requested_ids_across_chunks(
    store: LogStore, make_record: MakeRecord
) -> None:
    store.write_requests([make_record(i) for i in range(1200)])
    for i in range(0, 1200, 2):
        store.put_feedback(_feedback(f"req-{i:06d}", 1.0))
    wanted = [f"req-{i:06d}" for i in range(1200)] + ["unknown"]
    got = store.feedback_for(wanted)
    assert sorted(got) == [f"req-{i:06d}" for i in range(0, 1200, 2)]
    assert len(store.feedback_for()) == 600


def test_load_labeled_averages_sources(
    store: LogStore, make_record: MakeRecord
) -> None:
    store.write_requests([make_record(i) for i in range(3)])
    store.put_feedback(_feedback("req-000001", 1.0, "user"))
    store.put_feedback(_feedback("req-000001", 0.5, "judge"))
    store.put_feedback(_feedback("req-000002", 0.0))
    labeled = [(r.request_id, s) for r, s in load_labeled(store)]
    assert labeled == [("req-000001", 0.75), ("req-000002", 0.0)]


def test_prune_by_rows_keeps_the_newest_and_their_feedback(
    store: LogStore, make_record: MakeRecord
) -> None:
    store.write_requests([make_record(i) for i in range(10)])
    for i in (1, 8):
        store.put_feedback(_feedback(f"req-{i:06d}", 1.0))
    assert store.prune(max_rows=3) == 7
    assert [r.request_id for r in store.iter_requests()] == [
        "req-000007",
        "req-000008",
        "req-000009",
    ]
    assert store.counts() == {"requests": 3, "feedback": 1}
    assert store.prune(max_rows=3) == 0


def test_prune_by_age_deletes_old_requests_and_their_feedback(
    store: LogStore, make_record: MakeRecord
) -> None:
    now = time.time()
    old = [make_record(i, ts=now - 3 * 86400 - i) for i in range(4)]
    new = [make_record(100 + i, ts=now - 60 + i) for i in range(2)]
    store.write_requests(old + new)
    store.put_feedback(_feedback(old[0].request_id, 1.0))
    store.put_feedback(_feedback(new[0].request_id, 1.0))
    assert store.prune(max_age_s=86400) == 4
    assert [r.request_id for r in store.iter_requests()] == [r.request_id for r in new]
    assert store.counts() == {"requests": 2, "feedback": 1}


def test_prune_without_limits_deletes_nothing(
    store: LogStore, make_record: MakeRecord
) -> None:
    store.write_requests([make_record(i) for i in range(3)])
    assert store.prune() == 0
    assert store.counts()["requests"] == 3


def test_prune_rejects_negative_limits(store: LogStore) -> None:
    with pytest.raises(ValueError, match="max_rows"):
        store.prune(max_rows=-1)
    with pytest.raises(ValueError, match="max_age_s"):
        store.prune(max_age_s=-1.0)


def test_second_store_on_same_target_sees_writes(
    store_factory: Callable[[], LogStore], make_record: MakeRecord
) -> None:
    writer, reader = store_factory(), store_factory()
    writer.write_requests([make_record(1)])
    assert reader.has_request("req-000001")
    assert reader.put_feedback(_feedback("req-000001", 1.0))
    assert writer.counts() == {"requests": 1, "feedback": 1}


def test_feedback_waits_briefly_for_a_request_another_process_is_writing(
    store_factory: Callable[[], LogStore], make_record: MakeRecord
) -> None:
    # another worker or replica answered the request a moment ago and its log
    # writer has not committed it yet
    served, other = store_factory(), store_factory()
    assert getattr(other, "feedback_wait_s", None) == 0.5  # the default
    other.feedback_wait_s = 5.0  # type: ignore[attr-defined]  # slow machines
    late = threading.Timer(0.2, served.write_requests, ([make_record(9)],))
    late.start()
    started = time.monotonic()
    assert other.put_feedback(_feedback("req-000009", 0.5))
    assert time.monotonic() - started < 4.5  # found, not given up at the deadline
    late.join()
    other.feedback_wait_s = 0.3  # type: ignore[attr-defined]
    started = time.monotonic()
    assert not other.put_feedback(_feedback("nope", 0.5))
    assert time.monotonic() - started >= 0.3
    assert served.counts() == {"requests": 1, "feedback": 1}


def test_concurrent_writers_lose_nothing(
    store_factory: Callable[[], LogStore], make_record: MakeRecord
) -> None:
    shared = store_factory()
    own = [store_factory() for _ in range(3)]
    errors: list[BaseException] = []

    def write(store: LogStore, offset: int) -> None:
        try:
            for batch in range(20):
                start = offset + batch * 10
                store.write_requests([make_record(i) for i in range(start, start + 10)])
                store.put_feedback(_feedback(f"req-{start:06d}", 0.5, f"t{offset}"))
        except BaseException as exc:
            errors.append(exc)

    # three threads on one shared store, three with their own connections
    stores = [shared, shared, shared, *own]
    threads = [
        threading.Thread(target=write, args=(s, k * 1000)) for k, s in enumerate(stores)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert shared.counts() == {"requests": 6 * 200, "feedback": 6 * 20}


def test_closed_store_refuses_use(store: LogStore) -> None:
    store.close()
    with pytest.raises(PrefrouteError, match="closed"):
        store.counts()


_CRASH_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from prefroute.gateway.store import LogWriter, RequestRecord, open_store

    store = open_store(sys.argv[1])
    writer = LogWriter(store, batch_size=64)
    i = 0
    while True:
        for _ in range(64):
            writer.submit(RequestRecord(
                request_id=f"req-{i:08d}", ts=time.time(), router="mf",
                threshold=0.5, strong_share=None, budget=None, knob=None,
                score=0.5, scores=None, candidates=["s", "w"], routed_model="w",
                policy_model="w", is_fallback=False, is_exploration=False,
                propensity=1.0, status=200, latency_ms=1.0, prompt_tokens=1,
                completion_tokens=1, cost_usd=None, prompt_hash="0" * 64,
                prompt="x" * 200,
            ))
            i += 1
        if i == 640:
            writer.flush()
            print("ready", flush=True)
        time.sleep(0.001)
    """
)


def test_store_reopens_readable_after_writer_process_is_killed(
    store_target: str, store_backend: str, store_factory: Callable[[], LogStore]
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen(
        [sys.executable, "-c", _CRASH_SCRIPT, store_target],
        stdout=subprocess.PIPE,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == b"ready"
            time.sleep(0.3)  # mid-stream: the writer is committing batches
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
    store = store_factory()
    n = store.counts()["requests"]
    assert n >= 640
    assert sum(1 for _ in store.iter_requests()) == n
    store.write_requests([dataclasses.replace(next(store.iter_requests()), ts=0.0)])
    if store_backend == "sqlite":
        with contextlib.closing(sqlite3.connect(Path(store_target))) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
