"""One deadline per request, covering its routing, retries, fallback and stream.

An endpoint's ``timeout`` bounds the wait for each byte; it cannot bound a request
whose upstream sends one byte every few seconds, nor one that waits behind retries
and a fallback. `RoutingConfig.request_timeout` does: the server starts a `Deadline`
when a request arrives (`Deadlines.start`), runs routing and the upstream call under
`Deadline.guard` and hands the deadline to the stream relay, which ends the stream
with an error event when it passes. Nothing is waited for past it: a ``Retry-After``
that ends later is not honoured.

Guards cost no timer per request: one sweep per `Deadlines` (every `Deadlines.tick`
seconds while requests are in flight) cancels the guarded work of requests past their
deadline, which then raises `DeadlineExceededError`. A deadline is thus enforced
within one tick (0.1 s by default).

When the server shuts down, `Deadlines.shorten_all` moves every deadline in flight
(and of requests still to start) to the end of the grace period; the requests then
end with `DeadlineExceededError` whose `reason` is "shutdown".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from prefroute.errors import PrefrouteError

__all__ = ["Deadline", "DeadlineExceededError", "DeadlineReason", "Deadlines"]

DeadlineReason = Literal["deadline", "shutdown"]

# a deadline nobody ended (a stream dropped before its relay started) is forgotten
# this long after it passed
_FORGET_AFTER = 60.0


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

    __slots__ = ("_fired", "_listeners", "_loop", "_task", "at", "reason", "seconds")

    def __init__(
        self, seconds: float, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """Start the clock."""
        self._loop = loop or asyncio.get_running_loop()
        self.seconds = seconds
        self.at = self._loop.time() + seconds
        self.reason: DeadlineReason = "deadline"
        self._listeners: list[Callable[[float], None]] | None = None
        self._task: asyncio.Task[object] | None = None  # guarded, or None
        self._fired = False

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - self._loop.time()

    def listen(self, listener: Callable[[float], None]) -> None:
        """Call `listener(new_at)` whenever the deadline moves earlier."""
        if self._listeners is None:
            self._listeners = []
        self._listeners.append(listener)

    def unlisten(self, listener: Callable[[float], None]) -> None:
        """Stop calling `listener` (no error when it is not registered)."""
        if self._listeners is not None:
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
        for listener in list(self._listeners or ()):
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

    def guard(self) -> Deadline:
        """This deadline as an async context manager: its body is cancelled once the
        deadline has passed (by the sweep of the `Deadlines` that started it) and
        then raises `DeadlineExceededError`. It follows `shorten`."""
        return self

    async def __aenter__(self) -> None:
        """Guard the body (see `guard`)."""
        if self.remaining() <= 0:
            raise self.error()
        self._task = asyncio.current_task()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop guarding; turn the sweep's cancellation into the deadline's error."""
        task, self._task = self._task, None
        if self._fired:
            self._fired = False
            if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
                assert task is not None
                task.uncancel()
                raise self.error() from exc

    def _expire(self) -> None:
        """Cancel the guarded work (called by the sweep once `at` passed)."""
        task = self._task
        if task is not None and not self._fired:
            self._fired = True
            task.cancel()


class Deadlines:
    """The deadlines of the requests in flight: swept for expiry, shortened by a
    drain.

    Args:
        seconds: Each request's time limit (`RoutingConfig.request_timeout`).
        tick: Seconds between sweeps (how late a deadline may be enforced).
    """

    def __init__(self, seconds: float, *, tick: float = 0.1) -> None:
        """No request in flight yet."""
        self.seconds = seconds
        self.tick = tick
        self._active: set[Deadline] = set()
        self._drain_at: float | None = None
        self._sweep_handle: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        """Requests in flight."""
        return len(self._active)

    def start(self) -> Deadline:
        """The deadline of a request starting now (call `end` when it ends)."""
        deadline = Deadline(self.seconds)
        if self._drain_at is not None:
            deadline.shorten(self._drain_at, "shutdown")
        self._active.add(deadline)
        if self._sweep_handle is None:
            self._sweep_handle = deadline._loop.call_later(self.tick, self._sweep)
        return deadline

    def end(self, deadline: Deadline) -> None:
        """Forget a finished request's deadline (idempotent)."""
        self._active.discard(deadline)

    def _sweep(self) -> None:
        self._sweep_handle = None
        if not self._active:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        for deadline in list(self._active):
            if now >= deadline.at:
                deadline._expire()
                if now >= deadline.at + _FORGET_AFTER:
                    self._active.discard(deadline)
        self._sweep_handle = loop.call_later(self.tick, self._sweep)

    def shorten_all(self, grace_seconds: float) -> None:
        """Give every request in flight, and every later one, at most `grace_seconds`.

        Args:
            grace_seconds: Time left from now.
        """
        at = asyncio.get_running_loop().time() + grace_seconds
        self._drain_at = at if self._drain_at is None else min(self._drain_at, at)
        for deadline in list(self._active):
            deadline.shorten(self._drain_at, "shutdown")

    def close(self) -> None:
        """Stop sweeping (requests still in flight are no longer bounded)."""
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_handle = None
