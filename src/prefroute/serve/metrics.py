"""Prometheus text-format metrics for the server, without a client library."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import TYPE_CHECKING

from prefroute.gateway.decision import Decision

if TYPE_CHECKING:
    from prefroute.gateway.core import RoutingCore

__all__ = ["Histogram", "ServeMetrics", "learning_lines"]

_ROUTING_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_UPSTREAM_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    escaped = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs
    )
    return "{" + ",".join(escaped) + "}"


class Histogram:
    """A cumulative-bucket histogram per label set."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        """Create with upper bucket bounds (sorted)."""
        self.buckets = buckets
        self._counts: dict[tuple[tuple[str, str], ...], list[int]] = {}
        self._sums: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)

    def observe(self, value: float, labels: tuple[tuple[str, str], ...] = ()) -> None:
        """Add one observation."""
        counts = self._counts.setdefault(labels, [0] * (len(self.buckets) + 1))
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self._sums[labels] += value

    def render(self, name: str) -> list[str]:
        """Prometheus lines for this histogram."""
        lines = []
        for labels, counts in sorted(self._counts.items()):
            running = 0
            for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f"{name}_bucket{_labels((*labels, ('le', le)))} {running}")
            lines.append(f"{name}_sum{_labels(labels)} {self._sums[labels]:.6f}")
            lines.append(f"{name}_count{_labels(labels)} {running}")
        return lines


# the server's own endpoints: the only values of the `path` label
_KNOWN_PATHS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/models",
        "/health",
        "/metrics",
        "/v1/feedback",
        "/admin/reload",
    }
)


class ServeMetrics:
    """Counters and histograms of the server; also the core's `RoutingObserver`."""

    def __init__(self) -> None:
        """Start every series at zero."""
        self._lock = threading.Lock()
        self.requests: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.routed: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.upstream_errors: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.fallbacks: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.spend: dict[str, float] = {}
        self.routing_latency = Histogram(_ROUTING_BUCKETS)
        self.upstream_latency = Histogram(_UPSTREAM_BUCKETS)

    def on_request(self, path: str, status: int) -> None:
        """A request finished with `status`; paths the server does not serve count
        as "other", so a client probing random URLs cannot grow /metrics."""
        if path not in _KNOWN_PATHS:
            path = "other"
        with self._lock:
            self.requests[(("path", path), ("status", str(status)))] += 1

    def on_route(self, decision: Decision) -> None:
        """A request was routed."""
        with self._lock:
            key = (
                ("model", decision.model),
                ("router", decision.router or "direct"),
                ("tier", decision.tier),
            )
            self.routed[key] += 1
            self.routing_latency.observe(
                decision.routing_seconds, (("router", decision.router or "direct"),)
            )

    def on_upstream(self, model: str, seconds: float, error: str | None) -> None:
        """An upstream call ended."""
        with self._lock:
            self.upstream_latency.observe(seconds, (("model", model),))
            if error is not None:
                self.upstream_errors[(("kind", error), ("model", model))] += 1

    def on_spend(self, model: str, usd: float) -> None:
        """An answered call cost `usd`."""
        with self._lock:
            self.spend[model] = self.spend.get(model, 0.0) + usd

    def on_fallback(self, from_model: str, to_model: str) -> None:
        """A failed call went to the other model."""
        with self._lock:
            self.fallbacks[(("from_model", from_model), ("to_model", to_model))] += 1

    def render(self) -> str:
        """All metrics in the Prometheus text exposition format (version 0.0.4)."""
        out: list[str] = []

        def counter(
            name: str, help_text: str, series: dict[tuple[tuple[str, str], ...], int]
        ) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} counter")
            out.extend(f"{name}{_labels(k)} {v}" for k, v in sorted(series.items()))

        with self._lock:
            counter(
                "prefroute_requests_total",
                "HTTP requests by path and status.",
                self.requests,
            )
            counter(
                "prefroute_routed_total",
                "Requests routed, by upstream model.",
                self.routed,
            )
            counter(
                "prefroute_upstream_errors_total",
                "Failed upstream calls by kind.",
                self.upstream_errors,
            )
            counter(
                "prefroute_fallbacks_total",
                "Calls retried on the other model.",
                self.fallbacks,
            )
            name = "prefroute_spend_usd_total"
            out += [
                f"# HELP {name} USD spent per upstream model (usage-priced).",
                f"# TYPE {name} counter",
                *(
                    f"{name}{_labels((('model', m),))} {v:.9g}"
                    for m, v in sorted(self.spend.items())
                ),
            ]
            name = "prefroute_routing_latency_seconds"
            out += [
                f"# HELP {name} Time to parse and score a request.",
                f"# TYPE {name} histogram",
                *self.routing_latency.render(name),
            ]
            name = "prefroute_upstream_latency_seconds"
            out += [
                f"# HELP {name} Upstream call time (to the end of the stream).",
                f"# TYPE {name} histogram",
                *self.upstream_latency.render(name),
            ]
        return "\n".join(out) + "\n"


def learning_lines(core: RoutingCore, n_feedback_log_off: int = 0) -> str:
    """Metrics of the learning loop: request log, feedback, exploration, reloads.

    Args:
        core: The gateway.
        n_feedback_log_off: Feedback calls refused because the log is off.

    Returns:
        Prometheus text lines (log series only when the log is on).
    """
    out: list[str] = []

    def series(
        name: str, kind: str, help_text: str, rows: list[tuple[str, float]]
    ) -> None:
        out.extend((f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"))
        out.extend(f"{name}{labels} {value:g}" for labels, value in rows)

    log = core.request_log
    feedback = dict(log.feedback_counts()) if log is not None else {}
    if n_feedback_log_off:
        feedback["log_disabled"] = n_feedback_log_off
    if log is not None:
        stats = log.stats()
        for name, help_text, value in (
            ("written", "Request records written to the log.", stats.n_written),
            ("dropped", "Records dropped: the write queue was full.", stats.n_dropped),
            ("failed", "Records lost to log storage errors.", stats.n_failed),
            ("pruned", "Records deleted by retention.", stats.n_pruned),
        ):
            series(f"prefroute_log_{name}_total", "counter", help_text, [("", value)])
        series(
            "prefroute_log_queue",
            "gauge",
            "Records waiting for the log writer.",
            [("", stats.n_queued)],
        )
    series(
        "prefroute_feedback_total",
        "counter",
        "Feedback calls by result.",
        [(_labels((("result", r),)), n) for r, n in sorted(feedback.items())],
    )
    series(
        "prefroute_explored_total",
        "counter",
        "Routed requests sent to a model the policy did not pick.",
        [
            (_labels((("router", r), ("from_model", f), ("to_model", t))), n)
            for (r, f, t), n in sorted(core.n_explored.items())
        ],
    )
    series(
        "prefroute_router_version",
        "gauge",
        "Routers in service: 1 at start, +1 per reload.",
        [("", core.router_version)],
    )
    series(
        "prefroute_reloads_total",
        "counter",
        "Router reloads by result.",
        [(_labels((("result", r),)), n) for r, n in sorted(core.n_reloads.items())],
    )
    return "\n".join(out) + "\n"
