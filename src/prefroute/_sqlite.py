"""Open SQLite files that several processes share, in WAL mode."""

from __future__ import annotations

import sqlite3
import time

# first retry after 5 ms, doubling up to 200 ms between tries
_FIRST_WAIT_S = 0.005
_MAX_WAIT_S = 0.2


def set_wal(db: sqlite3.Connection, timeout_s: float) -> None:
    """Put `db` in WAL mode, retrying while another process holds the lock.

    SQLite does not call the busy handler for the lock that changing the journal
    mode takes, so when two processes open a new file at once, one of them gets
    "database is locked" at once, whatever the connection's timeout. This retries
    with backoff until `timeout_s` has passed (then the error is raised).

    Args:
        db: An open connection.
        timeout_s: Seconds to keep retrying.
    """
    deadline = time.monotonic() + timeout_s
    wait = _FIRST_WAIT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            if time.monotonic() + wait > deadline:
                raise
        time.sleep(wait)
        wait = min(wait * 2, _MAX_WAIT_S)
