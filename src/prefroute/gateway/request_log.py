"""The gateway's request log: a trace per request, one record when it ends, feedback.

Every chat request gets a `RequestTrace` when it starts (its id is the
``x-prefroute-request-id`` header); the gateway fills it in as the request is
routed and answered, and `RequestLog.finish` turns it into one `RequestRecord`
for the `LogWriter`. Only requests that reached a routing decision are logged:
malformed or unauthenticated requests leave no record (they are counted in the
server's metrics), so a client cannot fill the log without using the router.
Feedback (`RequestLog.feedback`) rates a logged request, once per source.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Literal

from prefroute.errors import ConfigError, PrefrouteError
from prefroute.gateway.errors import InvalidRequestError
from prefroute.gateway.store.base import (
    FeedbackRecord,
    LogStore,
    RequestRecord,
    feedback_score,
    new_request_id,
    open_store,
    prompt_hash,
)
from prefroute.gateway.store.writer import LogWriter, LogWriterStats

if TYPE_CHECKING:
    from prefroute.gateway.config import RoutingConfig
    from prefroute.gateway.decision import Decision

__all__ = [
    "FeedbackResult",
    "RequestLog",
    "RequestLogOffError",
    "RequestTrace",
    "UnknownRequestIdError",
]

_MAX_SOURCE_CHARS = 200
_MAX_ID_CHARS = 200
_SECONDS_PER_DAY = 86_400.0


class RequestLogOffError(PrefrouteError, LookupError):
    """Feedback was sent to a gateway that keeps no request log."""


class UnknownRequestIdError(PrefrouteError, LookupError):
    """Feedback named a request id the log does not hold."""


FeedbackResult = Literal["ok", "unknown_request"]
"""Outcome of a feedback call."""


class RequestTrace:
    """One request on its way through the gateway: what its log record needs.

    Attributes:
        request_id: uuid4 hex (the ``x-prefroute-request-id`` header).
        ts: Unix seconds at request start.
        started: `time.perf_counter()` at request start.
        prompt: The routed (scored) text, once parsed.
        decision: The routing decision, once made.
        candidates: The models the policy chose among.
        model: The model that answered (after fallback).
        is_fallback: Whether a fallback model answered.
        usage: The answer's OpenAI ``usage`` mapping, when reported.
        cost_usd: USD of the answered call (priced models).
        stream_error: Kind of a mid-stream failure, if any.
        is_finished: Whether the record was handed to the log.
    """

    __slots__ = (
        "candidates",
        "cost_usd",
        "decision",
        "is_fallback",
        "is_finished",
        "model",
        "prompt",
        "request_id",
        "started",
        "stream_error",
        "ts",
        "usage",
    )

    def __init__(self) -> None:
        """Start the clock and draw a request id."""
        self.request_id = new_request_id()
        self.ts = time.time()
        self.started = time.perf_counter()
        self.prompt: str | None = None
        self.decision: Decision | None = None
        self.candidates: list[str] = []
        self.model: str | None = None
        self.is_fallback = False
        self.usage: Any = None
        self.cost_usd: float | None = None
        self.stream_error: str | None = None
        self.is_finished = False


def _tokens(usage: Any, key: str) -> int | None:
    if not isinstance(usage, dict):
        return None
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class RequestLog:
    """Writes a record per finished request and takes feedback on them.

    Thread-safe: `finish` only queues (never blocks); `feedback` writes to the
    store in the calling thread (the server calls it off its event loop).
    """

    def __init__(
        self,
        store: LogStore,
        *,
        log_prompts: bool = False,
        max_queue: int = 10_000,
        max_rows: int | None = None,
        max_age_s: float | None = None,
        prune_interval_s: float = 60.0,
    ) -> None:
        """Start the writer on an open store (the log owns and closes it).

        Args:
            store: Where records go.
            log_prompts: Keep the routed prompt's text (else only its hash).
            max_queue: Records that may wait for the writer.
            max_rows: Retention by rows (None: none).
            max_age_s: Retention by age (None: none).
            prune_interval_s: Seconds between retention passes.
        """
        self.store = store
        self.log_prompts = log_prompts
        self.writer = LogWriter(
            store,
            max_queue=max_queue,
            max_rows=max_rows,
            max_age_s=max_age_s,
            prune_interval_s=prune_interval_s,
        )
        self._lock = threading.Lock()
        self.n_feedback: dict[str, int] = defaultdict(int)

    @classmethod
    def from_config(cls, config: RoutingConfig) -> RequestLog | None:
        """The log a routing config asks for (`log`, `log_*`), or None.

        Raises:
            ConfigError: The log target cannot be opened.
        """
        if config.log is None:
            return None
        max_age_s = (
            None
            if config.log_max_age_days is None
            else config.log_max_age_days * _SECONDS_PER_DAY
        )
        return cls(
            open_store(config.log),
            log_prompts=config.log_prompts,
            max_queue=config.log_queue_size,
            max_rows=config.log_max_rows,
            max_age_s=max_age_s,
        )

    def finish(
        self, trace: RequestTrace, status: int, error: str | None = None
    ) -> None:
        """Queue the record of a request that has ended (once per trace).

        Requests without a decision (rejected before routing) are not logged.

        Args:
            trace: The request's trace.
            status: HTTP status returned to the client.
            error: The error message returned, if any.
        """
        if trace.is_finished or trace.decision is None:
            return
        trace.is_finished = True
        latency_ms = 1000.0 * (time.perf_counter() - trace.started)
        # the record is built (and the prompt hashed) in the writer thread
        self.writer.submit_deferred(
            trace.request_id,
            functools.partial(self._record, trace, status, error, latency_ms),
        )

    def _record(
        self, trace: RequestTrace, status: int, error: str | None, latency_ms: float
    ) -> RequestRecord:
        decision = trace.decision
        assert decision is not None
        prompt = trace.prompt or ""
        is_n_model = decision.router is not None and bool(decision.candidates)
        usage = trace.usage
        if error is None and trace.stream_error is not None:
            error = f"stream failed: {trace.stream_error}"
        return RequestRecord(
            request_id=trace.request_id,
            ts=trace.ts,
            router=decision.router,
            threshold=None if is_n_model else decision.threshold,
            strong_share=decision.strong_share,
            budget=decision.budget,
            knob=decision.threshold if is_n_model else None,
            score=decision.score,
            scores=decision.scores,
            candidates=list(trace.candidates) or [decision.model],
            routed_model=trace.model or decision.model,
            policy_model=decision.explored_from or decision.model,
            is_fallback=trace.is_fallback,
            is_exploration=decision.explored_from is not None,
            propensity=decision.propensity,
            status=status,
            latency_ms=latency_ms,
            prompt_tokens=_tokens(usage, "prompt_tokens"),
            completion_tokens=_tokens(usage, "completion_tokens"),
            cost_usd=trace.cost_usd,
            prompt_hash=prompt_hash(prompt),
            prompt=prompt if self.log_prompts else None,
            error=error,
        )

    def feedback(
        self, request_id: object, score: object, source: object = None
    ) -> FeedbackResult:
        """Store a score for a logged request (upserted per request and source).

        A request still waiting in the write queue is found (the queue is
        flushed first).

        Args:
            request_id: The ``x-prefroute-request-id`` of the request.
            score: A number in [0, 1], or true (1.0) / false (0.0).
            source: Who rates (a string; None or absent: "").

        Returns:
            "ok", or "unknown_request" when no such request is logged.

        Raises:
            InvalidRequestError: A malformed id, score or source (`param` names it).
        """
        if not isinstance(request_id, str) or not 0 < len(request_id) <= _MAX_ID_CHARS:
            self._count("invalid")
            raise InvalidRequestError(
                "'request_id' must be the x-prefroute-request-id of a request "
                f"(a non-empty string), got {request_id!r:.80}",
                param="request_id",
                code="invalid_feedback",
            )
        if source is not None and (
            not isinstance(source, str) or len(source) > _MAX_SOURCE_CHARS
        ):
            self._count("invalid")
            raise InvalidRequestError(
                f"'source' must be a string of at most {_MAX_SOURCE_CHARS} "
                f"characters, got {source!r:.80}",
                param="source",
                code="invalid_feedback",
            )
        try:
            value = feedback_score(score)
        except ConfigError as exc:
            self._count("invalid")
            raise InvalidRequestError(
                str(exc), param="score", code="invalid_feedback"
            ) from exc
        record = FeedbackRecord(request_id, value, source or "", time.time())
        result: FeedbackResult = (
            "ok" if self.writer.put_feedback(record) else "unknown_request"
        )
        self._count(result)
        return result

    def _count(self, result: str) -> None:
        with self._lock:
            self.n_feedback[result] += 1

    def feedback_counts(self) -> dict[str, int]:
        """Feedback calls so far by result ("ok", "unknown_request", "invalid")."""
        with self._lock:
            return dict(self.n_feedback)

    def stats(self) -> LogWriterStats:
        """The writer's counters (written, dropped, failed, pruned, queued)."""
        return self.writer.stats()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every finished request so far is written (see `LogWriter`)."""
        return self.writer.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, stop the writer and close the store."""
        self.writer.close(timeout)
        self.store.close()
