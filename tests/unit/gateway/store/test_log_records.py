"""Records, feedback values and `open_store` targets."""

from __future__ import annotations

import importlib.util
import math
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from prefroute.errors import ConfigError
from prefroute.gateway.store import (
    FeedbackRecord,
    RequestRecord,
    SQLiteLogStore,
    feedback_score,
    new_request_id,
    open_store,
    prompt_hash,
)

MakeRecord = Callable[..., RequestRecord]


@pytest.mark.parametrize(
    ("value", "expected"), [(True, 1.0), (False, 0.0), (0, 0.0), (1, 1.0), (0.25, 0.25)]
)
def test_feedback_score_accepts_booleans_and_unit_numbers(
    value: object, expected: float
) -> None:
    assert feedback_score(value) == expected


@pytest.mark.parametrize("value", [1.5, -0.1, math.nan, math.inf, "1", None, [1]])
def test_feedback_score_rejects_other_values(value: object) -> None:
    with pytest.raises(ConfigError, match="feedback score"):
        feedback_score(value)


def test_feedback_record_rejects_out_of_range_score() -> None:
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        FeedbackRecord("r", 2.0, "", 0.0)


@pytest.mark.parametrize("propensity", [0.0, -0.5, 1.01])
def test_request_record_rejects_impossible_propensity(
    make_record: MakeRecord, propensity: float
) -> None:
    with pytest.raises(ConfigError, match="propensity"):
        make_record(1, propensity=propensity)


def test_request_ids_are_unique_version_4_uuids() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    for request_id in ids:
        parsed = uuid.UUID(hex=request_id)
        assert (parsed.hex, parsed.version, parsed.variant) == (
            request_id,
            4,
            uuid.RFC_4122,
        )


def test_prompt_hash_is_sha256_hex_and_tolerates_lone_surrogates() -> None:
    assert prompt_hash("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert len(prompt_hash("bad \ud800 text")) == 64


def test_open_store_takes_a_path_and_creates_its_folder(tmp_path: Path) -> None:
    store = open_store(tmp_path / "a" / "b" / "log.db")
    try:
        assert isinstance(store, SQLiteLogStore)
        assert (tmp_path / "a" / "b" / "log.db").is_file()
    finally:
        store.close()


def test_open_store_takes_a_sqlite_url(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/log.db")
    try:
        assert isinstance(store, SQLiteLogStore)
        assert store.path == tmp_path / "log.db"
    finally:
        store.close()


def test_open_store_rejects_unknown_url_scheme() -> None:
    with pytest.raises(ConfigError, match="postgresql://"):
        open_store("mysql://localhost/log")


@pytest.mark.skipif(
    importlib.util.find_spec("prefroute.gateway.store.postgres") is not None,
    reason="the PostgreSQL backend is installed",
)
def test_open_store_names_missing_postgres_backend() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL"):
        open_store("postgresql://localhost/log")


def test_sqlite_store_rejects_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="not a usable request log"):
        SQLiteLogStore(path)


def test_sqlite_store_rejects_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    SQLiteLogStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ConfigError, match="schema version 99"):
        SQLiteLogStore(path)


def test_sqlite_store_uses_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    SQLiteLogStore(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()
