"""The request log and feedback store: one interface, an embedded SQLite default.

Readers (adaptation, off-policy evaluation, labelling from the log) need only
`open_store`, `LogStore.iter_requests`, `LogStore.feedback_for` and `load_labeled`.
The serving path writes through a `LogWriter`, which never blocks a request.
"""

from __future__ import annotations

from prefroute.gateway.store.base import (
    FeedbackRecord,
    LogStore,
    RequestRecord,
    feedback_score,
    load_labeled,
    new_request_id,
    open_store,
    prompt_hash,
)
from prefroute.gateway.store.sqlite import SQLiteLogStore
from prefroute.gateway.store.writer import LogWriter, LogWriterStats

__all__ = [
    "FeedbackRecord",
    "LogStore",
    "LogWriter",
    "LogWriterStats",
    "RequestRecord",
    "SQLiteLogStore",
    "feedback_score",
    "load_labeled",
    "new_request_id",
    "open_store",
    "prompt_hash",
]
