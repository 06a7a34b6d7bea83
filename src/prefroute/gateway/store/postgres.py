"""The shared request log: PostgreSQL, for many workers or replicas.

Every `prefroute serve` process (worker or replica) writes its own requests and
reads everyone's, so feedback reaching any replica finds the request another one
served, and `prefroute adapt` / `prefroute eval --log` read the whole fleet's
traffic. Tables are prefixed ``prefroute_`` and created on first use (under an
advisory lock, so replicas starting together do not race).

Connections come from a small pool (`max_connections`, created on demand); one
that breaks (the server restarted, the network dropped) is discarded and the
next call connects again, so writes resume by themselves after an outage. Errors
while the database is away propagate to the caller: the `LogWriter` counts them
as failed records and the request path never waits for the database.

The ``prefroute_meta`` table also holds the router generation that replicas
follow (`reload_generation`, `bump_reload_generation`): ``POST /admin/reload``
on one replica bumps it and every other replica reloads its routers.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from prefroute.errors import ConfigError, MissingDependencyError, PrefrouteError
from prefroute.gateway.store.base import (
    REQUEST_COLUMNS,
    FeedbackRecord,
    RequestRecord,
    put_when_stored,
    record_values,
)

__all__ = ["PostgresLogStore", "StoreUnavailableError", "redact_url"]

_T = TypeVar("_T")

_SCHEMA_VERSION = 1
_PAGE_ROWS = 512
# any constant: the advisory lock that serialises schema creation across replicas
_SCHEMA_LOCK_ID = 0x7072_6566_726F_7574 & 0x7FFF_FFFF_FFFF_FFFF

_COLUMNS = REQUEST_COLUMNS
_SCORES_AT = _COLUMNS.index("scores")
_CANDIDATES_AT = _COLUMNS.index("candidates")

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS prefroute_meta (
        key TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    )""",
    """
    CREATE TABLE IF NOT EXISTS prefroute_requests (
        seq BIGSERIAL UNIQUE,
        request_id TEXT PRIMARY KEY,
        ts DOUBLE PRECISION NOT NULL,
        router TEXT,
        threshold DOUBLE PRECISION,
        strong_share DOUBLE PRECISION,
        budget DOUBLE PRECISION,
        knob DOUBLE PRECISION,
        score DOUBLE PRECISION,
        scores JSONB,
        candidates JSONB NOT NULL,
        routed_model TEXT NOT NULL,
        policy_model TEXT NOT NULL,
        is_fallback BOOLEAN NOT NULL,
        is_exploration BOOLEAN NOT NULL,
        propensity DOUBLE PRECISION NOT NULL,
        status INTEGER NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        prompt_tokens BIGINT,
        completion_tokens BIGINT,
        cost_usd DOUBLE PRECISION,
        prompt_hash TEXT NOT NULL,
        prompt TEXT,
        error TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS prefroute_requests_ts ON prefroute_requests (ts, seq)",
    """
    CREATE TABLE IF NOT EXISTS prefroute_feedback (
        request_id TEXT NOT NULL
            REFERENCES prefroute_requests (request_id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (request_id, source)
    )""",
)

_INSERT = (
    f"INSERT INTO prefroute_requests ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "
    "ON CONFLICT (request_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
)
_SELECT = f"SELECT seq, {', '.join(_COLUMNS)} FROM prefroute_requests"
_UPSERT_FEEDBACK = (
    "INSERT INTO prefroute_feedback (request_id, source, score, ts) "
    "SELECT %s, %s, %s, %s WHERE EXISTS "
    "(SELECT 1 FROM prefroute_requests WHERE request_id = %s) "
    "ON CONFLICT (request_id, source) DO UPDATE "
    "SET score = excluded.score, ts = excluded.ts"
)
_BUMP_GENERATION = (
    "INSERT INTO prefroute_meta (key, value) VALUES ('router_generation', 1) "
    "ON CONFLICT (key) DO UPDATE SET value = prefroute_meta.value + 1 "
    "RETURNING value"
)


class StoreUnavailableError(PrefrouteError, ConnectionError):
    """The database could not be reached or failed mid-call."""


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise MissingDependencyError(
            "psycopg", "postgres", "a postgresql:// request log"
        ) from exc
    return psycopg


def _to_row(record: RequestRecord, jsonb: Any) -> list[Any]:
    values = record_values(record)
    scores = values[_SCORES_AT]
    values[_SCORES_AT] = None if scores is None else jsonb(scores)
    values[_CANDIDATES_AT] = jsonb(values[_CANDIDATES_AT])
    return values


def _from_row(row: Sequence[Any]) -> RequestRecord:
    values = list(row)
    for at in (_SCORES_AT, _CANDIDATES_AT):
        if isinstance(values[at], str):  # a JSONB loader other than psycopg's
            values[at] = json.loads(values[at])
    return RequestRecord(*values)


class PostgresLogStore:
    """A `LogStore` in a PostgreSQL database, shared by any number of processes.

    Thread-safe: each call borrows a pooled connection for one transaction.
    """

    def __init__(
        self,
        url: str,
        *,
        max_connections: int = 4,
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = 30.0,
        feedback_wait_s: float = 0.5,
    ) -> None:
        """Connect once (checking the URL) and create the tables if missing.

        Args:
            url: ``postgresql://user:password@host:port/database`` (libpq's
                URL form: query parameters such as ``sslmode`` are honoured).
            max_connections: Most connections this store holds at once; more
                concurrent calls wait for one.
            connect_timeout_s: Most seconds to wait for a connection.
            statement_timeout_s: Most seconds one statement may run on the server.
            feedback_wait_s: How long feedback for an unknown request waits for
                it to appear: another replica may have answered it a moment ago
                and not written it yet (its writer commits every ~50 ms).

        Raises:
            MissingDependencyError: psycopg is not installed (extra ``postgres``).
            ConfigError: The database cannot be reached or holds a request log
                of a newer schema version.
        """
        if max_connections < 1:
            raise ConfigError(f"max_connections must be >= 1, got {max_connections}")
        self._psycopg = _import_psycopg()
        from psycopg.types.json import Jsonb

        self._jsonb = Jsonb
        self.url = url
        self.max_connections = max_connections
        self.connect_timeout_s = connect_timeout_s
        self.statement_timeout_s = statement_timeout_s
        self.feedback_wait_s = feedback_wait_s
        self._idle: list[Any] = []
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._is_closed = False
        try:
            self._call(self._create_schema)
        except StoreUnavailableError as exc:
            self.close()
            raise ConfigError(
                f"cannot open the request log at {redact_url(url)}: {exc}"
            ) from exc
        except ConfigError:
            self.close()
            raise

    def __repr__(self) -> str:
        """The store with its URL's password hidden."""
        return f"PostgresLogStore({redact_url(self.url)!r})"

    # -- connections --

    def _connect(self) -> Any:
        psycopg = self._psycopg
        try:
            return psycopg.connect(
                self.url,
                connect_timeout=max(1, round(self.connect_timeout_s)),
                options=f"-c statement_timeout={int(self.statement_timeout_s * 1000)}",
                application_name="prefroute",
            )
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"cannot connect to {redact_url(self.url)}: {_first_line(exc)}"
            ) from exc

    def _call(self, work: Callable[[Any], _T]) -> _T:
        """Run `work(conn)` in one transaction on a pooled connection.

        A pooled connection found dead (the server restarted since it was last
        used) is discarded and `work` runs once more on a fresh one; every call
        here is an idempotent statement, so the retry cannot apply it twice.

        Raises:
            StoreUnavailableError: The database could not be reached.
        """
        if self._is_closed:
            raise PrefrouteError(f"the request log {redact_url(self.url)} is closed")
        if not self._slots.acquire(timeout=self.connect_timeout_s + 30.0):
            raise StoreUnavailableError("no free database connection within 35s")
        try:
            for attempt in range(2):
                with self._lock:
                    conn = self._idle.pop() if self._idle else None
                is_reused = conn is not None
                if conn is None:
                    conn = self._connect()
                try:
                    with conn.transaction():
                        result = work(conn)
                except self._psycopg.OperationalError as exc:
                    conn.close()  # the connection (or the server) is gone
                    if is_reused and attempt == 0:
                        continue
                    raise StoreUnavailableError(
                        f"request log {redact_url(self.url)}: {_first_line(exc)}"
                    ) from exc
                except BaseException:
                    if conn.broken:
                        conn.close()
                    else:
                        self._give_back(conn)
                    raise
                self._give_back(conn)
                return result
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._slots.release()

    def _give_back(self, conn: Any) -> None:
        with self._lock:
            if not self._is_closed and not conn.closed:
                self._idle.append(conn)
                return
        conn.close()

    def _create_schema(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))
        for statement in _SCHEMA:
            conn.execute(statement)
        row = conn.execute(
            "SELECT value FROM prefroute_meta WHERE key = 'schema_version'"
        ).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO prefroute_meta (key, value) VALUES ('schema_version', %s)",
                (_SCHEMA_VERSION,),
            )
        elif row[0] > _SCHEMA_VERSION:
            raise ConfigError(
                f"{redact_url(self.url)} holds a request log of schema version "
                f"{row[0]}; this prefroute reads up to {_SCHEMA_VERSION}"
            )

    # -- the LogStore interface --

    def write_requests(self, records: Sequence[RequestRecord]) -> None:
        """Insert records in one transaction; a repeated request id replaces its row.

        Args:
            records: Records to write.

        Raises:
            StoreUnavailableError: The database could not be reached.
        """
        if not records:
            return
        rows = [_to_row(r, self._jsonb) for r in records]

        def write(conn: Any) -> None:
            with conn.cursor() as cursor:
                cursor.executemany(_INSERT, rows)

        self._call(write)

    def has_request(self, request_id: str) -> bool:
        """Whether a request with this id is stored."""
        row = self._call(
            lambda conn: conn.execute(
                "SELECT 1 FROM prefroute_requests WHERE request_id = %s",
                (request_id,),
            ).fetchone()
        )
        return row is not None

    def put_feedback(self, feedback: FeedbackRecord) -> bool:
        """Store feedback, replacing an earlier one from the same source.

        Works for a request any process wrote (another worker or replica); an
        unknown request is looked for again for up to `feedback_wait_s`.

        Args:
            feedback: The feedback; upserted per (request_id, source).

        Returns:
            False (and nothing stored) when the request id is unknown.
        """
        f = feedback
        params = (f.request_id, f.source, f.score, f.ts, f.request_id)

        def put() -> bool:
            try:
                n_changed: int = self._call(
                    lambda conn: conn.execute(_UPSERT_FEEDBACK, params).rowcount
                )
            except self._psycopg.errors.ForeignKeyViolation:
                return False  # the request was pruned between check and insert
            return n_changed > 0

        return put_when_stored(put, self.feedback_wait_s)

    def iter_requests(
        self, *, since: float | None = None, labeled_only: bool = False
    ) -> Iterator[RequestRecord]:
        """Stored requests, oldest first, read in pages (no long transaction).

        Args:
            since: Only requests with `ts >= since`.
            labeled_only: Only requests with at least one feedback.

        Yields:
            Request records in order of `ts` (then insertion).
        """
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("ts >= %s")
            params.append(since)
        if labeled_only:
            where.append(
                "EXISTS (SELECT 1 FROM prefroute_feedback f "
                "WHERE f.request_id = prefroute_requests.request_id)"
            )
        after: tuple[float, int] | None = None
        while True:
            page_where = list(where)
            page_params = list(params)
            if after is not None:
                page_where.append("(ts, seq) > (%s, %s)")
                page_params += list(after)
            sql = _SELECT
            if page_where:
                sql += " WHERE " + " AND ".join(page_where)
            sql += f" ORDER BY ts, seq LIMIT {_PAGE_ROWS}"
            rows = self._call(functools.partial(_fetch_all, sql, page_params))
            for row in rows:
                yield _from_row(row[1:])
            if len(rows) < _PAGE_ROWS:
                return
            last = rows[-1]
            after = (last[2], last[0])  # (ts, seq)

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
        sql = "SELECT request_id, score, source, ts FROM prefroute_feedback"
        if request_ids is None:
            sql += " ORDER BY request_id, source"
            params: tuple[Any, ...] = ()
        else:
            sql += " WHERE request_id = ANY(%s) ORDER BY request_id, source"
            params = (list(dict.fromkeys(request_ids)),)
        rows = self._call(lambda conn: conn.execute(sql, params).fetchall())
        out: dict[str, list[FeedbackRecord]] = {}
        for request_id, score, source, ts in rows:
            out.setdefault(request_id, []).append(
                FeedbackRecord(request_id, score, source, ts)
            )
        return out

    def prune(
        self, *, max_rows: int | None = None, max_age_s: float | None = None
    ) -> int:
        """Delete the oldest requests beyond `max_rows` and those past `max_age_s`.

        The feedback of deleted requests goes with them (foreign key cascade).

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
        if max_rows is None and max_age_s is None:
            return 0

        def delete(conn: Any) -> int:
            n_deleted = 0
            if max_age_s is not None:
                n_deleted += conn.execute(
                    "DELETE FROM prefroute_requests WHERE ts < %s",
                    (time.time() - max_age_s,),
                ).rowcount
            if max_rows is not None:
                n_deleted += conn.execute(
                    "DELETE FROM prefroute_requests WHERE seq IN (SELECT seq FROM "
                    "prefroute_requests ORDER BY ts DESC, seq DESC OFFSET %s)",
                    (max_rows,),
                ).rowcount
            return n_deleted

        return self._call(delete)

    def counts(self) -> dict[str, int]:
        """`{"requests": n, "feedback": m}`."""
        row = self._call(
            lambda conn: conn.execute(
                "SELECT (SELECT count(*) FROM prefroute_requests), "
                "(SELECT count(*) FROM prefroute_feedback)"
            ).fetchone()
        )
        return {"requests": int(row[0]), "feedback": int(row[1])}

    def close(self) -> None:
        """Close the pooled connections; the store is unusable afterwards."""
        with self._lock:
            self._is_closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- the router generation replicas follow --

    def reload_generation(self) -> int:
        """The router generation now (0 before the first bump).

        Raises:
            StoreUnavailableError: The database could not be reached.
        """
        row = self._call(
            lambda conn: conn.execute(
                "SELECT value FROM prefroute_meta WHERE key = 'router_generation'"
            ).fetchone()
        )
        return 0 if row is None else int(row[0])

    def bump_reload_generation(self) -> int:
        """Add one to the router generation (every follower reloads); returns it.

        Raises:
            StoreUnavailableError: The database could not be reached.
        """
        row = self._call(lambda conn: conn.execute(_BUMP_GENERATION).fetchone())
        return int(row[0])


def _fetch_all(sql: str, params: Sequence[Any], conn: Any) -> list[Any]:
    rows: list[Any] = conn.execute(sql, params).fetchall()
    return rows


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
