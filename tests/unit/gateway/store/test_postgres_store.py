"""What only the PostgreSQL store does: outages, URLs, the router generation."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from _postgres import PostgresServer, new_server, shared_server
from prefroute.errors import ConfigError
from prefroute.gateway.store import LogWriter, RequestRecord, open_store
from prefroute.gateway.store.postgres import PostgresLogStore, redact_url

MakeRecord = Callable[..., RequestRecord]


@pytest.fixture()
def own_server() -> Iterator[PostgresServer]:
    """A server this test may stop and start."""
    server = new_server()
    yield server
    server.destroy()


def test_open_store_gives_postgres_store_for_both_url_schemes() -> None:
    url = shared_server().new_database()
    for target in (url, "postgres://" + url.removeprefix("postgresql://")):
        store = open_store(target)
        try:
            assert isinstance(store, PostgresLogStore)
            assert store.counts() == {"requests": 0, "feedback": 0}
        finally:
            store.close()


def test_unreachable_database_is_a_config_error_without_the_password() -> None:
    port = shared_server().port + 1 if shared_server().port < 65535 else 1
    url = f"postgresql://app:s3cret@127.0.0.1:{port}/nowhere"
    with pytest.raises(ConfigError, match="cannot open the request log") as info:
        PostgresLogStore(url, connect_timeout_s=2)
    assert "s3cret" not in str(info.value)
    assert "app:***@" in str(info.value)


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgresql://u:p%40ss@h:5432/db?sslmode=require") == (
        "postgresql://u:***@h:5432/db?sslmode=require"
    )
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_reload_generation_is_shared_between_stores() -> None:
    url = shared_server().new_database()
    first, second = PostgresLogStore(url), PostgresLogStore(url)
    try:
        assert first.reload_generation() == 0
        assert first.bump_reload_generation() == 1
        assert second.bump_reload_generation() == 2
        assert first.reload_generation() == 2
    finally:
        first.close()
        second.close()


def test_outage_costs_counted_records_and_writes_resume(
    own_server: PostgresServer, make_record: MakeRecord
) -> None:
    store = PostgresLogStore(own_server.new_database(), connect_timeout_s=2)
    writer = LogWriter(store, batch_size=8)
    try:
        for i in range(20):
            assert writer.submit(make_record(i))
        assert writer.flush(30)
        assert writer.stats().n_written == 20

        own_server.stop("fast")
        for i in range(20, 40):
            writer.submit(make_record(i))  # never blocks, database or not
        assert writer.flush(60)
        down = writer.stats()
        assert down.n_failed == 20
        assert down.n_written == 20

        own_server.start()
        for i in range(40, 60):
            writer.submit(make_record(i))
        assert writer.flush(60)
        up = writer.stats()
        assert up.n_written == 40
        assert up.n_failed == 20
        ids = {r.request_id for r in store.iter_requests()}
        assert ids == {f"req-{i:06d}" for i in (*range(20), *range(40, 60))}
    finally:
        writer.close()
        store.close()


def test_feedback_through_another_store_finds_the_request(
    make_record: MakeRecord,
) -> None:
    # two replicas: one served the request, the other gets its feedback
    url = shared_server().new_database()
    served, other = PostgresLogStore(url), PostgresLogStore(url)
    try:
        served.write_requests([make_record(7)])
        from prefroute.gateway.store import FeedbackRecord

        assert other.put_feedback(FeedbackRecord("req-000007", 1.0, "u", time.time()))
        assert served.feedback_for(["req-000007"])["req-000007"][0].score == 1.0
    finally:
        served.close()
        other.close()
