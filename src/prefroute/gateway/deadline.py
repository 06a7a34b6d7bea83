"""One deadline per request, covering its routing, retries, fallback and stream.

An endpoint's ``timeout`` bounds the wait for each byte; it cannot bound a request
whose upstream sends one byte every few seconds, nor one that waits behind retries
and a fallback. `RoutingConfig.request_timeout` does: the server starts a `Deadline`
when a request arrives (`Deadlines.start`), runs routing and the upstream call under
`Deadline.guard` (an `asyncio.timeout` at the deadline) and hands the deadline to the
stream relay, which ends the stream with an error event when it passes. Nothing is
waited for past it: a ``Retry-After`` that ends later is not honoured.

When the server shuts down, `Deadlines.shorten_all` moves every deadline in flight
(and of requests still to start) to the end of the grace period; the requests then
end with `DeadlineExceededError` whose `reason` is "shutdown".
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from prefroute.errors import PrefrouteError

__all__ = ["Deadline", "DeadlineExceededError", "DeadlineReason", "Deadlines"]

DeadlineReason = Literal["deadline", "shutdown"]


class DeadlineExceededError(PrefrouteError, TimeoutError):
    """A request ran past its deadline (HTTP 504), or past the grace period of a
    shutting-down server (HTTP 503).

    Attributes:
        reason: "deadline" or "shutdown".
        code: Machine-readable code: "deadline_exceeded" or "server_shutting_down".
    """

    def __init__(self, message: str, reason: DeadlineReason) -> None:
        """Keep the message and the reason.

        Args:
            message: What ran out.
            reason: "deadline" or "shutdown".
        """
        super().__init__(message)
        self.reason = reason
        self.code = (
            "deadline_exceeded" if reason == "deadline" else "server_shutting_down"
        )


class Deadline:
    """When one request must be done, in event-loop time.

    Args:
        seconds: Time the request gets from now.
        loop: Its event loop (default: the running one).

    Attributes:
        seconds: The request's time limit as configured.
        at: The deadline (``loop.time()`` scale); only ever moves earlier.
        reason: "deadline", or "shutdown" once a drain shortened it.
    """

    __slots__ = ("__weakref__", "_listeners", "_loop", "at", "reason", "seconds")

    def __init__(
        self, seconds: float, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """Start the clock."""
        self._loop = loop or asyncio.get_running_loop()
        self.seconds = seconds
        self.at = self._loop.time() + seconds
        self.reason: DeadlineReason = "deadline"
        self._listeners: list[Callable[[float], None]] = []

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - self._loop.time()

    def listen(self, listener: Callable[[float], None]) -> None:
        """Call `listener(new_at)` whenever the deadline moves earlier."""
        self._listeners.append(listener)

    def unlisten(self, listener: Callable[[float], None]) -> None:
        """Stop calling `listener` (no error when it is not registered)."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def shorten(self, at: float, reason: DeadlineReason) -> None:
        """Move the deadline to `at` if that is earlier.

        Args:
            at: New deadline (event-loop time).
            reason: Why ("shutdown" for a drain).
        """
        if at >= self.at:
            return
        self.at = at
        self.reason = reason
        for listener in list(self._listeners):
            listener(at)

    def error(self) -> DeadlineExceededError:
        """The error a request past this deadline ends with."""
        if self.reason == "shutdown":
            return DeadlineExceededError(
                "the server is shutting down and the request did not finish within "
                "its shutdown timeout",
                "shutdown",
            )
        return DeadlineExceededError(
            f"the request did not finish within its deadline of {self.seconds:g} s "
            "(request_timeout)",
            "deadline",
        )

    def guard(self) -> _Guard:
        """An async context manager cancelling its body at the deadline, which then
        raises `DeadlineExceededError` (it follows `shorten`)."""
        return _Guard(self)


class _Guard:
    """``async with deadline.guard():`` (`asyncio.timeout_at`, kept on the deadline)."""

    __slots__ = ("_deadline", "_timeout")

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._timeout: asyncio.Timeout | None = None

    async def __aenter__(self) -> None:
        timeout = asyncio.timeout_at(self._deadline.at)
        await timeout.__aenter__()
        self._timeout = timeout
        self._deadline.listen(timeout.reschedule)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        timeout = self._timeout
        assert timeout is not None
        self._deadline.unlisten(timeout.reschedule)
        try:
            await timeout.__aexit__(exc_type, exc, tb)
        except TimeoutError as timed_out:
            if timeout.expired():
                raise self._deadline.error() from timed_out
            raise


class Deadlines:
    """The deadlines of the requests in flight, so that a drain can shorten them.

    Args:
        seconds: Each request's time limit (`RoutingConfig.request_timeout`).
    """

    def __init__(self, seconds: float) -> None:
        """No request in flight yet."""
        self.seconds = seconds
        # weak: a request dropped without `end` (e.g. a stream never iterated)
        # does not stay here
        self._active: weakref.WeakSet[Deadline] = weakref.WeakSet()
        self._drain_at: float | None = None

    def __len__(self) -> int:
        """Requests in flight."""
        return len(self._active)

    def start(self) -> Deadline:
        """The deadline of a request starting now (call `end` when it ends)."""
        deadline = Deadline(self.seconds)
        if self._drain_at is not None:
            deadline.shorten(self._drain_at, "shutdown")
        self._active.add(deadline)
        return deadline

    def end(self, deadline: Deadline) -> None:
        """Forget a finished request's deadline (idempotent)."""
        self._active.discard(deadline)

    def shorten_all(self, grace_seconds: float) -> None:
        """Give every request in flight, and every later one, at most `grace_seconds`.

        Args:
            grace_seconds: Time left from now.
        """
        at = asyncio.get_running_loop().time() + grace_seconds
        self._drain_at = at if self._drain_at is None else min(self._drain_at, at)
        for deadline in list(self._active):
            deadline.shorten(self._drain_at, "shutdown")
