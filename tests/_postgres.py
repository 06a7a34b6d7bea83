"""A real PostgreSQL server for tests: initdb in a temp dir, pg_ctl on a free
loopback port, one fresh database per test.

Binaries come from PATH or /usr/lib/postgresql/<version>/bin. initdb refuses to
run as root, so as root the server runs as the ``postgres`` system user (which
the Debian package creates). Tests skip only when PostgreSQL or psycopg is not
installed at all; `.ci/run` installs both.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "find_pg_bin", "shared_server"]


def find_pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is absent."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent

    def version(pg_ctl: Path) -> int:
        name = pg_ctl.parent.parent.name
        return int(name) if name.isdigit() else 0

    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=version)
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL cluster in its own temp dir, listening on 127.0.0.1 only."""

    def __init__(self, bin_dir: Path) -> None:
        """Create the data directory with initdb (the server is not started)."""
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="prefroute-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._is_root = os.geteuid() == 0
        if self._is_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._n_databases = itertools.count()
        self._lock = threading.Lock()
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self._is_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({result.returncode}): {result.stderr or result.stdout}"
            )

    def start(self) -> None:
        """Start (or restart) the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients; ``immediate``: crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        """Stop the server (if running) and delete its files."""
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL of a database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create a fresh, empty database; returns its URL."""
        import psycopg

        with self._lock:
            name = f"test_{os.getpid()}_{next(self._n_databases)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


_shared: PostgresServer | None = None
_shared_lock = threading.Lock()


def skip_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'prefroute[postgres]')"
    if find_pg_bin() is None:
        return (
            "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in "
            "/usr/lib/postgresql/*/bin); .ci/run installs it"
        )
    return None


def new_server() -> PostgresServer:
    """A started server of its own (skips the test when PostgreSQL is absent)."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except BaseException:
        server.destroy()
        raise
    return server


def shared_server() -> PostgresServer:
    """The test session's server, started on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = new_server()
            atexit.register(_shared.destroy)
        return _shared
