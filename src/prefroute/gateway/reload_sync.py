"""Router reloads that reach every worker and replica: a shared generation number.

One process reloads (``POST /admin/reload``), then bumps the generation; every
other process polls it and reloads when it moves. The generation lives where the
processes already meet: a file in the run directory of ``prefroute serve
--workers N`` (`FileReloadSignal`), or a row of the PostgreSQL request log that
replicas share (`PostgresLogStore.reload_generation`).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from prefroute.gateway.core import ReloadReport, RoutingCore

__all__ = ["FileReloadSignal", "ReloadFollower", "ReloadSignal"]

logger = logging.getLogger(__name__)


@runtime_checkable
class ReloadSignal(Protocol):
    """A generation number shared by the processes that serve one fleet."""

    def reload_generation(self) -> int:
        """The generation now (0 before the first bump)."""
        ...

    def bump_reload_generation(self) -> int:
        """Add one and return the new generation."""
        ...


class FileReloadSignal:
    """The generation in a small file; bumps are serialised with `flock`."""

    def __init__(self, path: str | Path) -> None:
        """Use (and create, at 0) the file at `path`."""
        self.path = Path(path)
        with self._locked():
            pass

    def _locked(self) -> _LockedFile:
        return _LockedFile(self.path)

    def reload_generation(self) -> int:
        """The generation now."""
        with self._locked() as f:
            return f.read()

    def bump_reload_generation(self) -> int:
        """Add one and return the new generation."""
        with self._locked() as f:
            value = f.read() + 1
            f.write(value)
            return value


class _LockedFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> _LockedFile:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # releases the lock

    def read(self) -> int:
        os.lseek(self.fd, 0, os.SEEK_SET)
        text = os.read(self.fd, 64).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else 0

    def write(self, value: int) -> None:
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{value}\n".encode("ascii"))


class ReloadFollower:
    """Keeps one gateway's routers at the fleet's generation.

    Args:
        core: The gateway whose routers to reload.
        signal: The shared generation.
        poll_s: Seconds between looks at the generation.
        on_reload: Called after each reload this follower announces or follows.

    Attributes:
        generation: The generation this process serves (as far as it knows).
        n_followed: Reloads done because another process bumped the generation.
    """

    def __init__(
        self,
        core: RoutingCore,
        signal: ReloadSignal,
        *,
        poll_s: float = 2.0,
        on_reload: Callable[[], object] | None = None,
    ) -> None:
        """Start at the generation now (the routers just loaded are its routers)."""
        self.core = core
        self.signal = signal
        self.poll_s = poll_s
        self.on_reload = on_reload
        self._lock = threading.Lock()
        self.generation = self._current(default=0)
        self.n_followed = 0

    def _current(self, default: int) -> int:
        try:
            return self.signal.reload_generation()
        except Exception as exc:  # a database outage: look again next time
            logger.warning("router generation unavailable: %s", exc)
            return default

    def announce(self) -> int:
        """After this process reloaded by itself: bump the generation for the others.

        Blocking (a file or database write).

        Returns:
            The new generation.
        """
        with self._lock:
            self.generation = self.signal.bump_reload_generation()
        if self.on_reload is not None:
            self.on_reload()
        return self.generation

    def check(self) -> ReloadReport | None:
        """Reload if another process bumped the generation (blocking).

        Returns:
            The reload's report, or None when the generation has not moved.

        Raises:
            PrefrouteError: The reload failed (the old routers keep serving; the
                generation counts as seen, so the next bump tries again).
        """
        with self._lock:
            now = self._current(default=self.generation)
            if now <= self.generation:
                return None
            self.generation = now
        report = self.core.reload()
        self.n_followed += 1
        if self.on_reload is not None:
            self.on_reload()
        logger.info(
            "routers reloaded to follow generation %d: version %d in %.2fs",
            now,
            report.version,
            report.seconds,
        )
        return report

    async def run(self) -> None:
        """Poll until cancelled (run it as a task on the server's event loop)."""
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await asyncio.to_thread(self.check)
            except Exception as exc:
                logger.error("router reload (following the fleet) failed: %r", exc)
