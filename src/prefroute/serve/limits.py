"""Admission control of the server: a bound on chat requests in flight, and the drain
that starts when the process is asked to stop.

A request beyond `max_in_flight` is shed at once (HTTP 503, ``Retry-After``, an
OpenAI error envelope) instead of queueing behind the others: the latency of the
admitted requests stays what the machine gives, and a client (or a load balancer)
learns to back off or go elsewhere in milliseconds. ``/health`` and ``/metrics`` are
never counted nor shed.

When the server starts to shut down, `Admission.begin_drain` sheds every new request
and calls the drain hooks with the grace period, so requests still in flight (streams
included) finish, or end with an error, within that grace period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

__all__ = ["BODY_TIMED_OUT", "ON_DISCONNECT", "Admission", "ShedReason"]

logger = logging.getLogger(__name__)

#: ASGI scope key set by the server's protocol on a request whose body did not arrive
#: within the body timeout (the app, which then sees a disconnect, reports a 408).
BODY_TIMED_OUT = "prefroute.body_timed_out"
#: ASGI scope key of a callable the server's protocol calls when the client's
#: connection closes before the response is complete (the app cancels the request,
#: and with it the upstream call, instead of finishing work nobody will read).
ON_DISCONNECT = "prefroute.on_disconnect"

ShedReason = Literal["overloaded", "shutting_down"]


class Admission:
    """Counts chat requests in flight and says when to shed one.

    Not thread-safe: used from the server's event loop only.

    Args:
        max_in_flight: Requests served at once; the next one is shed.
        retry_after: Seconds a shed client is told to wait (``Retry-After``).
    """

    def __init__(self, max_in_flight: int, *, retry_after: int = 1) -> None:
        """Start with nothing in flight."""
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
        self.max_in_flight = max_in_flight
        self.retry_after = retry_after
        self.in_flight = 0
        self.n_shed = 0
        self.is_draining = False
        self._drain_hooks: list[Callable[[float], None]] = []

    def shed_reason(self) -> ShedReason | None:
        """Why a request arriving now must be shed, or None to admit it."""
        if self.is_draining:
            return "shutting_down"
        if self.in_flight >= self.max_in_flight:
            return "overloaded"
        return None

    def on_drain(self, hook: Callable[[float], None]) -> None:
        """Call `hook(grace_seconds)` when the drain begins."""
        self._drain_hooks.append(hook)

    def begin_drain(self, grace_seconds: float) -> None:
        """Shed new requests from now on; give those in flight `grace_seconds`.

        Args:
            grace_seconds: How long requests in flight may still run.
        """
        if self.is_draining:
            return
        self.is_draining = True
        logger.info(
            "draining: %d request(s) in flight get %g s to finish",
            self.in_flight,
            grace_seconds,
        )
        for hook in self._drain_hooks:
            hook(grace_seconds)
