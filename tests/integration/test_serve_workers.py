"""`prefroute serve --workers N`: a real multi-process server on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
from _cli_server import CLIServer, samples, serve_cli, wait_for

__all__ = ["serve_cli"]  # the fixture, imported to be found here


def chat(client: httpx.Client, url: str, i: int) -> httpx.Response:
    return client.post(
        url + "/v1/chat/completions",
        json={
            "model": "router-random@0.5",
            "messages": [{"role": "user", "content": f"question {i}"}],
        },
    )


def test_workers_share_port_metrics_calibration_and_reloads(
    serve_cli: Callable[..., CLIServer], tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"calibration prompt {i}" for i in range(50)))
    server = serve_cli(
        "--workers", "2", "--routers", "random", "--calibration-prompts", str(prompts)
    )
    server.wait_ready()
    n_requests = 80
    # a new connection per request: the kernel spreads connections over workers
    with httpx.Client(
        timeout=10, limits=httpx.Limits(max_keepalive_connections=0)
    ) as client:
        statuses = [chat(client, server.url, i).status_code for i in range(n_requests)]
    assert statuses == [200] * n_requests

    def all_counted() -> bool:
        # workers publish their counters on their own schedule: wait until every
        # worker's last snapshot holds its requests, in both counters
        text = server.metrics()
        requests = samples(text, "prefroute_requests_total")
        chats = requests.get('{path="/v1/chat/completions",status="200"}', 0.0)
        routed = sum(samples(text, "prefroute_routed_total").values())
        return chats == n_requests and routed == n_requests

    wait_for(all_counted, 10, "summing", server.proc)
    text = server.metrics()
    assert sum(samples(text, "prefroute_routed_total").values()) == n_requests
    per_worker = samples(text, "prefroute_worker_requests_total")
    assert len(per_worker) == 2
    assert all(n > 0 for n in per_worker.values()), per_worker
    assert samples(text, "prefroute_workers") == {"": 2.0}
    # calibrated once, by the supervisor, not by each worker
    assert server.log().count("calibrating router random on 50 prompts") == 1

    # a killed worker is replaced; the totals keep its requests
    victim = int(re.search(r'pid="(\d+)"', next(iter(per_worker))).group(1))  # type: ignore[union-attr]
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        pids = samples(server.metrics(), "prefroute_worker_requests_total")
        return len(pids) == 2 and f'{{pid="{victim}"}}' not in pids

    wait_for(replaced, 60, "restarting a worker", server.proc)
    assert all_counted()

    # a reload on whichever worker gets it reaches both
    response = httpx.post(
        server.url + "/admin/reload",
        headers={"authorization": "Bearer admin-key"},
        timeout=30,
    )
    assert response.status_code == 200
    wait_for(
        lambda: samples(server.metrics(), "prefroute_router_version") == {"": 2.0},
        30,
        "reloading every worker",
        server.proc,
    )
    # SIGHUP to the supervisor reaches every worker
    server.proc.send_signal(signal.SIGHUP)
    wait_for(
        lambda: samples(server.metrics(), "prefroute_router_version") == {"": 3.0},
        30,
        "reloading on SIGHUP",
        server.proc,
    )
    assert server.stop() == 0


def test_workers_share_one_sqlite_log_and_take_feedback_for_each_others_requests(
    serve_cli: Callable[..., CLIServer], tmp_path: Path
) -> None:
    from prefroute.gateway.store import SQLiteLogStore

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"calibration prompt {i}" for i in range(50)))
    log = tmp_path / "log" / "requests.db"  # new: the workers create it together
    server = serve_cli(
        *("--workers", "3", "--routers", "random"),
        *("--calibration-prompts", str(prompts), "--log", str(log)),
    )
    server.wait_ready()
    n_requests = 60
    feedback = []
    # a new connection per call: the feedback often reaches another worker than
    # the one that answered a moment ago and has not written its record yet
    with httpx.Client(
        timeout=10, limits=httpx.Limits(max_keepalive_connections=0)
    ) as client:
        for i in range(n_requests):
            answer = chat(client, server.url, i)
            assert answer.status_code == 200, answer.text
            request_id = answer.headers["x-prefroute-request-id"]
            response = client.post(
                server.url + "/v1/feedback",
                json={"request_id": request_id, "score": i % 2 == 0},
            )
            feedback.append((response.status_code, response.text))
    assert [f for f in feedback if f[0] != 200] == []
    per_worker = samples(server.metrics(), "prefroute_worker_requests_total")
    assert sum(n > 0 for n in per_worker.values()) >= 2, per_worker
    assert server.stop() == 0
    store = SQLiteLogStore(log)
    try:
        assert store.counts() == {"requests": n_requests, "feedback": n_requests}
        scores = sorted(f[0].score for f in store.feedback_for().values())
        assert scores == [0.0] * (n_requests // 2) + [1.0] * (n_requests // 2)
    finally:
        store.close()
