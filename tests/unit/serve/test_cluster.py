"""Metrics summed across workers, and the shared router generation."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from prefroute.gateway.reload_sync import FileReloadSignal, ReloadFollower
from prefroute.serve.cluster import MetricsShare, merge_metrics

WORKER_A = """# HELP prefroute_requests_total HTTP requests by path and status.
# TYPE prefroute_requests_total counter
prefroute_requests_total{path="/v1/chat/completions",status="200"} 3
# HELP prefroute_spend_usd_total USD spent per upstream model (usage-priced).
# TYPE prefroute_spend_usd_total counter
prefroute_spend_usd_total{model="a b"} 0.25
# HELP prefroute_routing_latency_seconds Time to parse and score a request.
# TYPE prefroute_routing_latency_seconds histogram
prefroute_routing_latency_seconds_bucket{router="mf",le="0.001"} 2
prefroute_routing_latency_seconds_bucket{router="mf",le="+Inf"} 3
prefroute_routing_latency_seconds_sum{router="mf"} 0.004
prefroute_routing_latency_seconds_count{router="mf"} 3
# HELP prefroute_log_queue Records waiting for the log writer.
# TYPE prefroute_log_queue gauge
prefroute_log_queue 4
# HELP prefroute_router_version Routers in service.
# TYPE prefroute_router_version gauge
prefroute_router_version 3
"""

WORKER_B = """# TYPE prefroute_requests_total counter
prefroute_requests_total{path="/v1/chat/completions",status="200"} 5
prefroute_requests_total{path="/health",status="200"} 1
# TYPE prefroute_spend_usd_total counter
prefroute_spend_usd_total{model="a b"} 0.5
# TYPE prefroute_routing_latency_seconds histogram
prefroute_routing_latency_seconds_bucket{router="mf",le="0.001"} 1
prefroute_routing_latency_seconds_bucket{router="mf",le="+Inf"} 1
prefroute_routing_latency_seconds_sum{router="mf"} 0.0005
prefroute_routing_latency_seconds_count{router="mf"} 1
# TYPE prefroute_log_queue gauge
prefroute_log_queue 1
# TYPE prefroute_router_version gauge
prefroute_router_version 2
"""


def lines(text: str) -> set[str]:
    return {line for line in text.splitlines() if not line.startswith("#")}


def test_counters_and_histograms_add_up_across_workers() -> None:
    merged = lines(merge_metrics([WORKER_A, WORKER_B]))
    assert 'prefroute_requests_total{path="/v1/chat/completions",status="200"} 8' in (
        merged
    )
    assert 'prefroute_requests_total{path="/health",status="200"} 1' in merged
    assert 'prefroute_spend_usd_total{model="a b"} 0.75' in merged
    assert 'prefroute_routing_latency_seconds_bucket{router="mf",le="+Inf"} 4' in (
        merged
    )
    assert 'prefroute_routing_latency_seconds_sum{router="mf"} 0.0045' in merged
    assert 'prefroute_routing_latency_seconds_count{router="mf"} 4' in merged


def test_gauges_sum_except_router_version_which_is_the_oldest() -> None:
    merged = lines(merge_metrics([WORKER_A, WORKER_B]))
    assert "prefroute_log_queue 5" in merged
    assert "prefroute_router_version 2" in merged


def test_retired_workers_keep_their_counters_but_not_their_gauges() -> None:
    merged = lines(merge_metrics([WORKER_B], [WORKER_A]))
    assert 'prefroute_requests_total{path="/v1/chat/completions",status="200"} 8' in (
        merged
    )
    assert "prefroute_log_queue 1" in merged
    assert "prefroute_router_version 2" in merged


def test_merged_text_keeps_help_and_type_lines() -> None:
    text = merge_metrics([WORKER_B, WORKER_A])
    assert "# TYPE prefroute_routing_latency_seconds histogram" in text
    assert "# HELP prefroute_requests_total HTTP requests by path and status." in text


def test_share_sums_published_workers_and_retired_ones(tmp_path: Path) -> None:
    a, b = MetricsShare(tmp_path, pid=101), MetricsShare(tmp_path, pid=202)
    a.publish(WORKER_A)
    b.publish(WORKER_B)
    seen_by_b = b.aggregate(WORKER_B)
    assert 'prefroute_worker_requests_total{pid="101"} 3' in seen_by_b
    assert 'prefroute_worker_requests_total{pid="202"} 6' in seen_by_b
    assert "prefroute_workers 2" in seen_by_b
    MetricsShare(tmp_path).retire(101)  # the supervisor, after worker 101 exited
    after = lines(b.aggregate(WORKER_B))
    assert "prefroute_workers 1" in after
    assert (
        'prefroute_requests_total{path="/v1/chat/completions",status="200"} 8' in after
    )
    assert "prefroute_log_queue 1" in after


def test_file_signal_bumps_are_not_lost_between_threads(tmp_path: Path) -> None:
    signal = FileReloadSignal(tmp_path / "generation")
    assert signal.reload_generation() == 0

    def bump() -> None:
        for _ in range(50):
            FileReloadSignal(tmp_path / "generation").bump_reload_generation()

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert signal.reload_generation() == 200


class _CountingCore:
    """Stands in for RoutingCore.reload: counts calls."""

    def __init__(self) -> None:
        self.n_reloads = 0

    def reload(self) -> Any:
        self.n_reloads += 1
        from types import SimpleNamespace

        return SimpleNamespace(version=self.n_reloads + 1, seconds=0.0)


def test_follower_reloads_once_per_bump_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "generation"
    here_core, there_core = _CountingCore(), _CountingCore()
    here = ReloadFollower(here_core, FileReloadSignal(path))  # type: ignore[arg-type]
    there = ReloadFollower(there_core, FileReloadSignal(path))  # type: ignore[arg-type]
    assert there.check() is None
    here_core.reload()  # POST /admin/reload here ...
    assert here.announce() == 1  # ... then tell the others
    assert here.check() is None  # not twice here
    assert there.check() is not None
    assert there.check() is None
    assert (here_core.n_reloads, there_core.n_reloads) == (1, 1)


class _Counting:
    """The app of one worker: its live counter, rendered on every scrape."""

    def __init__(self) -> None:
        self.count = 0
        self.router = type("R", (), {"lifespan_context": None})()
        self.state = type("S", (), {"render_metrics": self.render})()

    def render(self) -> str:
        return (
            "# TYPE prefroute_routed_total counter\n"
            f'prefroute_routed_total{{tier="strong"}} {self.count}\n'
        )


def _scrape(app: Any) -> float:
    import asyncio

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "path": "/metrics", "method": "GET"}
    asyncio.run(app(scope, receive, send))
    body = sent[-1]["body"].decode()
    return float(body.split('prefroute_routed_total{tier="strong"} ')[1].split()[0])


def test_summed_counters_never_go_back_whichever_worker_answers(
    tmp_path: Path,
) -> None:
    from prefroute.serve.cluster import ClusterApp

    # no publish loop runs here: only what scrapes themselves publish
    a, b = _Counting(), _Counting()
    app_a = ClusterApp(a, share=MetricsShare(tmp_path, pid=101))
    app_b = ClusterApp(b, share=MetricsShare(tmp_path, pid=202))
    a.count, b.count = 5, 2
    seen = [_scrape(app_a), _scrape(app_b), _scrape(app_a)]
    a.count += 3
    seen += [_scrape(app_a), _scrape(app_b)]
    assert seen == [5.0, 7.0, 7.0, 10.0, 10.0]
