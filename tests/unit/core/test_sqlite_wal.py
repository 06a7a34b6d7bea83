"""WAL mode on SQLite files that several processes open at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from prefroute._sqlite import set_wal


class _Busy:
    """Answers "database is locked" to its first `fails` statements."""

    def __init__(self, fails: int, message: str = "database is locked") -> None:
        self.fails = fails
        self.message = message
        self.calls = 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.fails:
            raise sqlite3.OperationalError(self.message)


def test_a_locked_switch_is_retried_until_it_succeeds() -> None:
    db = _Busy(fails=3)
    set_wal(db, timeout_s=5.0)  # type: ignore[arg-type]
    assert db.calls == 4


def test_the_lock_error_is_raised_once_the_timeout_has_passed() -> None:
    db = _Busy(fails=10**6)
    start = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        set_wal(db, timeout_s=0.3)  # type: ignore[arg-type]
    assert 0.1 < time.monotonic() - start < 2.0
    assert db.calls > 2


def test_other_errors_are_not_retried() -> None:
    db = _Busy(fails=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk"):
        set_wal(db, timeout_s=5.0)  # type: ignore[arg-type]
    assert db.calls == 1


def _open(path: str) -> str:
    db = sqlite3.connect(path, timeout=30.0)
    set_wal(db, 30.0)
    db.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)")
    db.commit()
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    return str(mode)


def test_processes_opening_new_files_together_all_get_wal(tmp_path: Path) -> None:
    # without the retry about 1 open in 300 failed at once with "database is locked"
    paths = [str(tmp_path / f"db{i}.sqlite") for i in range(20) for _ in range(3)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        modes = pool.map(_open, paths, chunksize=1)
    assert modes == ["wal"] * len(paths)
