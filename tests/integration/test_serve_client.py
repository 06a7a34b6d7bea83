"""The in-process Controller / AsyncController against the fake upstream HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fake_upstream import FakeUpstream, KeywordRouter, closed_port
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from prefroute import Controller
from prefroute.client import AsyncController
from prefroute.gateway.errors import InvalidRequestError

HARD = "Prove the Pythagorean theorem."
EASY = "Say hi."


_OPEN: list[Controller] = []


@pytest.fixture(autouse=True)
def _close_controllers() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _controller(**kwargs: Any) -> Controller:
    client = Controller(**kwargs)
    _OPEN.append(client)
    return client


def _endpoints(upstream: FakeUpstream) -> dict[str, Any]:
    return {
        "strong": {
            "model": "strong-model",
            "base_url": upstream.base_url,
            "max_retries": 0,
        },
        "weak": {
            "model": "weak-model",
            "base_url": upstream.base_url,
            "max_retries": 0,
        },
    }


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_controller_returns_official_types_and_routes(upstream: FakeUpstream) -> None:
    client = _controller(**_endpoints(upstream), routers={"keyword": KeywordRouter()})
    hard = client.chat.completions.create(
        model="router-keyword-0.5", messages=_user(HARD)
    )
    easy = client.chat.completions.create(
        model="router-keyword-0.5", messages=_user(EASY)
    )
    assert isinstance(hard, ChatCompletion)
    assert (hard.model, easy.model) == ("strong-model", "weak-model")
    assert easy.choices[0].message.content == f"echo: {EASY}"
    assert client.model_counts == {"strong-model": 1, "weak-model": 1}
    assert client.last_decision is not None and client.last_decision.tier == "weak"
    client.close()


def test_controller_route_names_the_model(upstream: FakeUpstream) -> None:
    client = _controller(**_endpoints(upstream), routers=["random"])
    assert client.route("anything", "random", 0.0) == "strong-model"
    assert client.route("anything", "random", 1.0) == "weak-model"


def test_controller_streams_chunks(upstream: FakeUpstream) -> None:
    with Controller(**_endpoints(upstream), routers=["random"]) as client:
        stream = client.chat.completions.create(
            model="router-random-1", messages=_user("a b c"), stream=True
        )
        chunks = list(stream)
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: a b c"
    assert chunks[0].model == "weak-model"


def test_controller_passes_extra_arguments(upstream: FakeUpstream) -> None:
    client = _controller(**_endpoints(upstream), routers=["random"])
    client.chat.completions.create(
        model="router-random-0", messages=_user("x"), temperature=0.1, max_tokens=7
    )
    assert upstream.requests[-1]["temperature"] == 0.1
    assert upstream.requests[-1]["max_tokens"] == 7
    assert upstream.requests[-1]["model"] == "strong-model"


def test_controller_falls_back_when_strong_is_down(upstream: FakeUpstream) -> None:
    endpoints = _endpoints(upstream)
    endpoints["strong"] = {
        "model": "strong-model",
        "max_retries": 0,
        "base_url": f"http://127.0.0.1:{closed_port()}/v1",
    }
    client = _controller(**endpoints, routers=["random"])
    reply = client.chat.completions.create(model="router-random-0", messages=_user("x"))
    assert reply.model == "weak-model"
    assert client.model_counts == {"strong-model": 1, "weak-model": 1}
    strict = _controller(**endpoints, routers=["random"], fallback=False)
    with pytest.raises(openai.APIConnectionError):
        strict.chat.completions.create(model="router-random-0", messages=_user("x"))


def test_controller_rejects_bad_model_strings(upstream: FakeUpstream) -> None:
    client = _controller(**_endpoints(upstream), routers=["random"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        client.chat.completions.create(model="router-random-7", messages=_user("x"))


def test_controller_refuses_a_lone_surrogate_with_a_clear_error(
    upstream: FakeUpstream,
) -> None:
    # the SDK writes UTF-8 JSON, which cannot carry "\ud800": it raised
    # UnicodeEncodeError from deep inside the SDK, after counting a call
    client = _controller(**_endpoints(upstream), routers=["random"])
    for model in ("router-random-0", "strong-model"):
        with pytest.raises(InvalidRequestError, match="lone surrogate"):
            client.chat.completions.create(model=model, messages=_user("a\ud800b"))
    assert client.model_counts == {"strong-model": 0, "weak-model": 0}
    reply = client.chat.completions.create(
        model="router-random-0", messages=_user("ok")
    )
    assert reply.model == "strong-model"


def test_async_controller_routes_concurrently(upstream: FakeUpstream) -> None:
    async def run() -> list[Any]:
        async with AsyncController(
            **_endpoints(upstream), routers={"keyword": KeywordRouter()}
        ) as client:
            replies = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="router-keyword-0.5",
                        messages=_user(HARD if i % 2 else EASY),
                    )
                    for i in range(8)
                )
            )
            stream = await client.chat.completions.create(
                model="router-keyword-0.5", messages=_user(HARD), stream=True
            )
            chunks = [chunk async for chunk in stream]
            return [replies, chunks, client.model_counts]

    replies, chunks, counts = asyncio.run(run())
    assert [r.model for r in replies] == ["weak-model", "strong-model"] * 4
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert counts == {"strong-model": 5, "weak-model": 4}
