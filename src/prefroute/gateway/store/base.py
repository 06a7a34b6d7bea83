"""Records of the request log, the `LogStore` interface, and `open_store`.

One `RequestRecord` per routed (or passed-through) request, written once when the
request ends; any number of `FeedbackRecord`s per request, one per feedback source
(a later score from the same source replaces the earlier one). The routing fields
(`policy_model`, `propensity`, `candidates`) are what off-policy evaluation needs:
the model the policy picked, and the probability that the logging policy sent the
request where it went.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import operator
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from prefroute.errors import ConfigError

__all__ = [
    "REQUEST_COLUMNS",
    "FeedbackRecord",
    "LogStore",
    "RequestRecord",
    "feedback_score",
    "load_labeled",
    "new_request_id",
    "open_store",
    "prompt_hash",
    "record_values",
]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SCHEME = "sqlite:///"


# not frozen: a frozen dataclass of this size takes ~10x longer to build, and
# one is built per request; treat records as read-only
@dataclass(slots=True)
class RequestRecord:
    """One request as the gateway routed and answered it (treat as read-only).

    Attributes:
        request_id: uuid4 hex; also the `x-prefroute-request-id` response header.
        ts: Unix seconds at request start.
        router: Router name; None when a model id was sent unrouted.
        threshold: Score threshold of a pair router.
        strong_share: The share asked for with `router-X@share`, if any.
        budget: N-model budget (USD per request), if asked.
        knob: N-model cost-quality trade-off (lambda), if used.
        score: Pair routers: P(strong needed).
        scores: N-model routers: predicted quality per candidate model.
        candidates: Models the policy chose among (pair: `[strong, weak]`).
        routed_model: The model that answered (after exploration and fallback).
        policy_model: The model the policy picked (before exploration and fallback).
        is_fallback: Whether a fallback model answered.
        is_exploration: Whether exploration overrode the policy's pick.
        propensity: P(the logging policy sends this request to `routed_model`'s
            decision), in (0, 1]; 1.0 without exploration.
        status: HTTP status returned to the client.
        latency_ms: Wall time from request start to the end of the response.
        prompt_tokens: Upstream usage, when reported.
        completion_tokens: Upstream usage, when reported.
        cost_usd: Cost of the upstream call, when the model has a price.
        prompt_hash: sha256 hex of the routed (scored) prompt text.
        prompt: The prompt text; only when prompts are logged.
        error: Error message returned to the client, if any.
    """

    request_id: str
    ts: float
    router: str | None
    threshold: float | None
    strong_share: float | None
    budget: float | None
    knob: float | None
    score: float | None
    scores: dict[str, float] | None
    candidates: list[str]
    routed_model: str
    policy_model: str
    is_fallback: bool
    is_exploration: bool
    propensity: float
    status: int
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    prompt_hash: str
    prompt: str | None
    error: str | None = None

    def __post_init__(self) -> None:
        """Reject a propensity outside (0, 1], which would break importance weights.

        Raises:
            ConfigError: If `propensity` is not in (0, 1].
        """
        if not 0.0 < self.propensity <= 1.0:
            raise ConfigError(f"propensity must be in (0, 1], got {self.propensity!r}")


#: The stores' request columns, in `RequestRecord` field order (rows map back with
#: ``RequestRecord(*row)``).
REQUEST_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RequestRecord))
_RECORD_VALUES = operator.attrgetter(*REQUEST_COLUMNS)


def record_values(record: RequestRecord) -> list[Any]:
    """A record's field values in `REQUEST_COLUMNS` order (a store encodes the
    ones its database cannot hold as they are: the JSON fields, the flags)."""
    return list(_RECORD_VALUES(record))


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """A quality score for one logged request from one source.

    Attributes:
        request_id: The request it rates (`x-prefroute-request-id`).
        score: In [0, 1]; a boolean `true` is 1.0 and `false` is 0.0.
        source: Who rated it (a user, a judge, a test); "" when not given.
        ts: Unix seconds when the feedback arrived.
    """

    request_id: str
    score: float
    source: str
    ts: float

    def __post_init__(self) -> None:
        """Check the score range.

        Raises:
            ConfigError: If `score` is not a finite number in [0, 1].
        """
        if not (math.isfinite(self.score) and 0.0 <= self.score <= 1.0):
            raise ConfigError(f"feedback score must be in [0, 1], got {self.score!r}")


def feedback_score(value: object) -> float:
    """Normalise a feedback value as sent over HTTP or Python into [0, 1].

    Args:
        value: A boolean, or a number in [0, 1].

    Returns:
        The score as a float (true -> 1.0, false -> 0.0).

    Raises:
        ConfigError: If `value` is neither a boolean nor a finite number in [0, 1].
    """
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        score = float(value)
        if math.isfinite(score) and 0.0 <= score <= 1.0:
            return score
    raise ConfigError(
        f"feedback score must be a number in [0, 1] or true/false, got {value!r}"
    )


def new_request_id() -> str:
    """A fresh request id: a random (version 4) UUID as 32 hex digits."""
    # os.urandom with the version and variant digits set: a few times cheaper
    # than uuid.uuid4().hex, and this runs once per request
    digits = os.urandom(16).hex()
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:12]}4{digits[13:16]}{variant}{digits[17:]}"


def prompt_hash(text: str) -> str:
    """sha256 hex digest of a prompt's UTF-8 text (surrogates replaced)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@runtime_checkable
class LogStore(Protocol):
    """Storage of request records and their feedback.

    Implementations are safe to share between threads; a reader in another
    process (or replica) sees every committed write.
    """

    def write_requests(self, records: Sequence[RequestRecord]) -> None:
        """Insert records in one transaction; a repeated request id replaces its row.

        Args:
            records: Records to write.
        """
        ...

    def has_request(self, request_id: str) -> bool:
        """Whether a request with this id is stored."""
        ...

    def put_feedback(self, feedback: FeedbackRecord) -> bool:
        """Store feedback, replacing an earlier one from the same source.

        Args:
            feedback: The feedback; upserted per (request_id, source).

        Returns:
            False (and nothing stored) when the request id is unknown.
        """
        ...

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
        ...

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
        ...

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
        """
        ...

    def counts(self) -> dict[str, int]:
        """`{"requests": n, "feedback": m}`."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


# how often feedback for a request not yet stored looks for it again
FEEDBACK_POLL_S = 0.05


def put_when_stored(put: Callable[[], bool], wait_s: float) -> bool:
    """Call `put` until it stores the feedback or `wait_s` seconds have passed.

    Feedback may reach a process (worker or replica) other than the one that
    answered the request a moment earlier, whose log writer has not committed the
    request yet (it writes every ~50 ms): an unknown request is looked for again.

    Args:
        put: Stores the feedback; False when its request is unknown.
        wait_s: Most seconds to keep looking.

    Returns:
        Whether the feedback was stored.
    """
    deadline = time.monotonic() + wait_s
    while not put():
        if time.monotonic() >= deadline:
            return False
        time.sleep(FEEDBACK_POLL_S)
    return True


def open_store(target: str | Path) -> LogStore:
    """Open (creating if needed) the store at `target`.

    Args:
        target: A `postgresql://` (or `postgres://`) URL for a shared PostgreSQL
            store; a file path, or a SQLAlchemy-style `sqlite:///relative.db` /
            `sqlite:////absolute.db` URL, for the embedded SQLite store.

    Returns:
        The opened store.

    Raises:
        ConfigError: If the target names an unsupported URL scheme, or the
            PostgreSQL backend is not part of this installation.
    """
    text = str(target)
    if text.startswith(_POSTGRES_SCHEMES):
        try:
            postgres = importlib.import_module("prefroute.gateway.store.postgres")
        except ModuleNotFoundError as exc:
            if exc.name != "prefroute.gateway.store.postgres":
                raise
            raise ConfigError(
                "a PostgreSQL log store is not available in this installation"
            ) from exc
        store: LogStore = postgres.PostgresLogStore(text)
        return store
    if text.startswith(_SQLITE_SCHEME):
        text = text[len(_SQLITE_SCHEME) :]
    elif "://" in text:
        # the URL may hold a password: name its scheme only
        raise ConfigError(
            "log store must be a file path, a sqlite:/// or a postgresql:// URL, "
            f"got a {text.split('://')[0]}:// URL"
        )
    from prefroute.gateway.store.sqlite import SQLiteLogStore

    return SQLiteLogStore(Path(text).expanduser())


def load_labeled(store: LogStore) -> list[tuple[RequestRecord, float]]:
    """Labelled requests with their mean feedback score across sources.

    Args:
        store: An open store.

    Returns:
        `(record, mean score)` per request with feedback, oldest first.
    """
    feedback = store.feedback_for(None)
    labeled = []
    for record in store.iter_requests(labeled_only=True):
        scores = [f.score for f in feedback.get(record.request_id, ())]
        if scores:
            labeled.append((record, sum(scores) / len(scores)))
    return labeled
