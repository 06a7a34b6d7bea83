"""Controller / AsyncController with a request log, feedback and exploration, against
the fake upstream HTTP server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest
from fake_upstream import FakeUpstream, KeywordRouter

from prefroute import Controller
from prefroute.client import AsyncController
from prefroute.client.controller import UnknownRequestIdError
from prefroute.gateway.errors import InvalidRequestError
from prefroute.gateway.request_log import RequestLogOffError
from prefroute.gateway.store import open_store

HARD = "Prove the Pythagorean theorem."
EASY = "Say hi."


def _endpoints(upstream: FakeUpstream) -> dict[str, Any]:
    return {
        tier: {
            "model": f"{tier}-model",
            "base_url": upstream.base_url,
            "max_retries": 0,
        }
        for tier in ("strong", "weak")
    }


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_controller_logs_requests_and_takes_feedback(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    log = tmp_path / "log.db"
    with Controller(
        **_endpoints(upstream),
        routers={"keyword": KeywordRouter()},
        log=log,
        log_prompts=True,
    ) as client:
        reply = client.chat.completions.create(
            model="router-keyword-0.5", messages=_user(HARD)
        )
        request_id = reply.prefroute_request_id
        assert request_id == client.last_request_id
        client.feedback(request_id, 0.5, source="user")
        client.feedback(request_id, False, source="user")
        with pytest.raises(UnknownRequestIdError):
            client.feedback("0" * 32, 1.0)
        with pytest.raises(InvalidRequestError, match="score"):
            client.feedback(request_id, 3)
        upstream.behaviour["weak-model"] = "400"
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model="router-keyword-0.5", messages=_user(EASY)
            )
        failed_id = client.last_request_id
    store = open_store(log)  # closing the Controller wrote the queue
    try:
        records = {r.request_id: r for r in store.iter_requests()}
        feedback = store.feedback_for()
    finally:
        store.close()
    ok = records[request_id]
    assert (ok.routed_model, ok.status, ok.prompt, ok.router) == (
        "strong-model",
        200,
        HARD,
        "keyword",
    )
    assert ok.completion_tokens is not None
    assert [(f.source, f.score) for f in feedback[request_id]] == [("user", 0.0)]
    assert records[failed_id].status == 400


def test_controller_without_log_refuses_feedback(upstream: FakeUpstream) -> None:
    with Controller(**_endpoints(upstream), routers={"keyword": KeywordRouter()}) as c:
        c.chat.completions.create(model="router-keyword-0.5", messages=_user(EASY))
        assert c.last_request_id is not None
        with pytest.raises(RequestLogOffError):
            c.feedback(c.last_request_id, 1.0)


def test_async_controller_explores_and_logs_propensities(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    log = tmp_path / "log.db"

    async def run() -> list[tuple[str, str]]:
        async with AsyncController(
            **_endpoints(upstream),
            routers={"keyword": KeywordRouter()},
            log=log,
            explore=0.5,
            explore_seed=0,
        ) as client:
            replies = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="router-keyword-0.5", messages=_user(f"{EASY} {i}")
                    )
                    for i in range(40)
                )
            )
            await client.feedback(replies[0].prefroute_request_id, True)
            return [(r.prefroute_request_id, r.model) for r in replies]

    answered = dict(asyncio.run(run()))
    store = open_store(log)
    try:
        records = list(store.iter_requests())
        assert store.counts()["feedback"] == 1
    finally:
        store.close()
    assert len(records) == 40
    explored = [r for r in records if r.is_exploration]
    assert 8 <= len(explored) <= 32
    for record in records:
        assert record.policy_model == "weak-model"
        assert record.routed_model == answered[record.request_id]
        assert record.propensity == 0.5
