"""The embedded request log: one SQLite file in WAL mode.

WAL lets readers (an `eval --log` in another process, the feedback endpoint)
read while the log writer appends, and a killed process leaves every committed
transaction readable: with `synchronous=NORMAL` a commit reaches the OS before
`write_requests` returns, so only a power loss (not `kill -9`) can drop the
last few. Each thread gets its own connection; writes take the write lock up
front (`BEGIN IMMEDIATE`) and wait up to `busy_timeout_s` for another writer.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from prefroute._sqlite import set_wal
from prefroute.errors import ConfigError, PrefrouteError
from prefroute.gateway.store.base import (
    REQUEST_COLUMNS,
    FeedbackRecord,
    RequestRecord,
    put_when_stored,
    record_values,
)

__all__ = ["SQLiteLogStore"]

_SCHEMA_VERSION = 1
_FETCH_ROWS = 512
# SQLite's default limit on bound parameters is 999 in older builds
_MAX_PARAMS = 500

_COLUMNS = REQUEST_COLUMNS
_SCORES_AT = _COLUMNS.index("scores")
_CANDIDATES_AT = _COLUMNS.index("candidates")
_FALLBACK_AT = _COLUMNS.index("is_fallback")
_EXPLORATION_AT = _COLUMNS.index("is_exploration")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    router TEXT,
    threshold REAL,
    strong_share REAL,
    budget REAL,
    knob REAL,
    score REAL,
    scores TEXT,
    candidates TEXT NOT NULL,
    routed_model TEXT NOT NULL,
    policy_model TEXT NOT NULL,
    is_fallback INTEGER NOT NULL,
    is_exploration INTEGER NOT NULL,
    propensity REAL NOT NULL,
    status INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    prompt_hash TEXT NOT NULL,
    prompt TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL,
    source TEXT NOT NULL,
    score REAL NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (request_id, source)
);
"""

_INSERT = (
    f"INSERT OR REPLACE INTO requests ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_COLUMNS))})"
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM requests"
# one statement: the existence check and the upsert cannot be split by a prune
_UPSERT_FEEDBACK = (
    "INSERT INTO feedback (request_id, source, score, ts) "
    "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM requests WHERE request_id = ?) "
    "ON CONFLICT (request_id, source) DO UPDATE "
    "SET score = excluded.score, ts = excluded.ts"
)
_OLDEST_BEYOND = (
    "SELECT rowid FROM requests ORDER BY ts DESC, rowid DESC LIMIT -1 OFFSET ?"
)


# candidate lists repeat (one per router set-up): their JSON is cached
_CANDIDATES_JSON: dict[tuple[str, ...], str] = {}
_MAX_CACHED = 1024


def _candidates_json(candidates: list[str]) -> str:
    key = tuple(candidates)
    text = _CANDIDATES_JSON.get(key)
    if text is None:
        if len(_CANDIDATES_JSON) >= _MAX_CACHED:
            _CANDIDATES_JSON.clear()
        text = _CANDIDATES_JSON[key] = json.dumps(candidates)
    return text


def _to_row(record: RequestRecord) -> list[Any]:
    values = record_values(record)
    scores = values[_SCORES_AT]
    values[_SCORES_AT] = None if scores is None else json.dumps(scores)
    values[_CANDIDATES_AT] = _candidates_json(values[_CANDIDATES_AT])
    values[_FALLBACK_AT] = int(values[_FALLBACK_AT])
    values[_EXPLORATION_AT] = int(values[_EXPLORATION_AT])
    return values


def _from_row(row: Sequence[Any]) -> RequestRecord:
    values = list(row)
    scores = values[_SCORES_AT]
    values[_SCORES_AT] = None if scores is None else json.loads(scores)
    values[_CANDIDATES_AT] = json.loads(values[_CANDIDATES_AT])
    values[_FALLBACK_AT] = bool(values[_FALLBACK_AT])
    values[_EXPLORATION_AT] = bool(values[_EXPLORATION_AT])
    return RequestRecord(*values)


class SQLiteLogStore:
    """A `LogStore` in one SQLite file (created, with its folder, if missing).

    Safe to share between threads (one connection per thread) and between
    processes on one machine (SQLite's file locks). Many writer processes on one
    file serialise on its write lock; for many workers or replicas use the
    PostgreSQL store.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_s: float = 10.0,
        feedback_wait_s: float = 0.5,
    ) -> None:
        """Open the file, creating the schema on first use.

        Args:
            path: The database file.
            busy_timeout_s: How long a write waits for another writer's lock.
            feedback_wait_s: How long feedback for an unknown request waits for
                it to appear: another process sharing the file (a worker of
                ``serve --workers``) may have answered it a moment ago and not
                written it yet (its writer commits every ~50 ms).

        Raises:
            ConfigError: If the file is not a prefroute log (or not SQLite), or
                was written by a newer prefroute.
        """
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.feedback_wait_s = feedback_wait_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._is_closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._conn()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise ConfigError(
                    f"{self.path} is a request log of schema version {version}; "
                    f"this prefroute reads up to {_SCHEMA_VERSION}"
                )
            if version < _SCHEMA_VERSION:
                self._create_schema(conn)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise ConfigError(
                f"{self.path} is not a usable request log: {exc}"
            ) from exc
        except ConfigError:
            self.close()
            raise

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._lock:
            if self._is_closed:
                raise PrefrouteError(f"the request log {self.path} is closed")
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            self._connections.append(conn)
        # takes effect only on a new file (before WAL mode writes its header):
        # lets prune give pages back to the file system (incremental_vacuum)
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        set_wal(conn, self.busy_timeout_s)
        conn.execute("PRAGMA synchronous = NORMAL")
        self._local.conn = conn
        return conn

    def _write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            counts = [conn.execute(sql, params).rowcount for sql, params in statements]
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return counts

    def write_requests(self, records: Sequence[RequestRecord]) -> None:
        """Insert records in one transaction; a repeated request id replaces its row.

        Args:
            records: Records to write.
        """
        if not records:
            return
        conn = self._conn()
        rows = [_to_row(r) for r in records]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_INSERT, rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def has_request(self, request_id: str) -> bool:
        """Whether a request with this id is stored."""
        row = (
            self._conn()
            .execute("SELECT 1 FROM requests WHERE request_id = ?", (request_id,))
            .fetchone()
        )
        return row is not None

    def put_feedback(self, feedback: FeedbackRecord) -> bool:
        """Store feedback, replacing an earlier one from the same source.

        Works for a request another process sharing the file wrote; an unknown
        request is looked for again for up to `feedback_wait_s`.

        Args:
            feedback: The feedback; upserted per (request_id, source).

        Returns:
            False (and nothing stored) when the request id is unknown.
        """
        f = feedback
        params = (f.request_id, f.source, f.score, f.ts, f.request_id)

        def put() -> bool:
            (n_changed,) = self._write([(_UPSERT_FEEDBACK, params)])
            return n_changed > 0

        return put_when_stored(put, self.feedback_wait_s)

    def iter_requests(
        self, *, since: float | None = None, labeled_only: bool = False
    ) -> Iterator[RequestRecord]:
        """Stored requests, oldest first.

        Args:
            since: Only requests with `ts >= since`.
            labeled_only: Only requests with at least one feedback.

        Yields:
            Request records in order of `ts`.
        """
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        if labeled_only:
            where.append("request_id IN (SELECT request_id FROM feedback)")
        sql = _SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        cursor = self._conn().execute(sql + " ORDER BY ts, rowid", params)
        try:
            while rows := cursor.fetchmany(_FETCH_ROWS):
                for row in rows:
                    yield _from_row(row)
        finally:
            cursor.close()

    def feedback_for(
        self, request_ids: Sequence[str] | None = None
    ) -> dict[str, list[FeedbackRecord]]:
        """Feedback grouped by request id.

        Args:
            request_ids: Only these requests; None for all.

        Returns:
            Request id -> its feedback (ordered by source); ids without feedback
            are absent.
        """
        conn = self._conn()
        sql = "SELECT request_id, score, source, ts FROM feedback"
        if request_ids is None:
            chunks: list[Sequence[str]] = [[]]
        else:
            ids = list(dict.fromkeys(request_ids))
            chunks = [ids[i : i + _MAX_PARAMS] for i in range(0, len(ids), _MAX_PARAMS)]
        out: dict[str, list[FeedbackRecord]] = {}
        for chunk in chunks:
            if request_ids is None:
                rows = conn.execute(sql + " ORDER BY request_id, source")
            else:
                marks = ", ".join("?" * len(chunk))
                rows = conn.execute(
                    f"{sql} WHERE request_id IN ({marks}) ORDER BY request_id, source",
                    list(chunk),
                )
            for request_id, score, source, ts in rows:
                out.setdefault(request_id, []).append(
                    FeedbackRecord(request_id, score, source, ts)
                )
        return out

    def prune(
        self, *, max_rows: int | None = None, max_age_s: float | None = None
    ) -> int:
        """Delete the oldest requests beyond `max_rows` and those past `max_age_s`.

        The feedback of deleted requests goes with them.

        Args:
            max_rows: Keep at most this many (the newest) requests.
            max_age_s: Delete requests whose `ts` is more than this many seconds ago.

        Returns:
            Number of requests deleted.

        Raises:
            ConfigError: If a limit is negative.
        """
        if max_rows is not None and max_rows < 0:
            raise ConfigError(f"max_rows must be >= 0, got {max_rows!r}")
        if max_age_s is not None and max_age_s < 0:
            raise ConfigError(f"max_age_s must be >= 0, got {max_age_s!r}")
        statements: list[tuple[str, Sequence[Any]]] = []
        if max_age_s is not None:
            cutoff = time.time() - max_age_s
            statements += [
                (
                    "DELETE FROM feedback WHERE request_id IN "
                    "(SELECT request_id FROM requests WHERE ts < ?)",
                    (cutoff,),
                ),
                ("DELETE FROM requests WHERE ts < ?", (cutoff,)),
            ]
        if max_rows is not None:
            statements += [
                (
                    "DELETE FROM feedback WHERE request_id IN (SELECT request_id "
                    "FROM requests WHERE rowid IN (" + _OLDEST_BEYOND + "))",
                    (max_rows,),
                ),
                (
                    f"DELETE FROM requests WHERE rowid IN ({_OLDEST_BEYOND})",
                    (max_rows,),
                ),
            ]
        if not statements:
            return 0
        counts = self._write(statements)
        n_deleted = sum(counts[1::2])
        if n_deleted:
            self._conn().execute("PRAGMA incremental_vacuum")
        return n_deleted

    def counts(self) -> dict[str, int]:
        """`{"requests": n, "feedback": m}`."""
        conn = self._conn()
        (n_requests,) = conn.execute("SELECT count(*) FROM requests").fetchone()
        (n_feedback,) = conn.execute("SELECT count(*) FROM feedback").fetchone()
        return {"requests": int(n_requests), "feedback": int(n_feedback)}

    def close(self) -> None:
        """Close every thread's connection; the store is unusable afterwards."""
        with self._lock:
            self._is_closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
