"""Upstreams with ``provider: litellm``: calls through the optional `litellm` package.

`model` is then a LiteLLM model string and LiteLLM speaks the provider's own API; the
answer comes back as an OpenAI chat completion (or its SSE chunks).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from prefroute.errors import MissingDependencyError, UpstreamError
from prefroute.gateway.config import EndpointConfig
from prefroute.gateway.errors import sse_error_event

__all__ = ["import_litellm", "litellm_complete", "litellm_stream"]


def import_litellm() -> Any:
    """The `litellm` module.

    Raises:
        MissingDependencyError: Not installed (the `litellm` extra).
    """
    try:
        import litellm
    except ImportError as exc:
        raise MissingDependencyError("litellm", "litellm", "provider: litellm") from exc
    return litellm


def _kwargs(endpoint: EndpointConfig, body: dict[str, Any]) -> dict[str, Any]:
    kwargs = {**body, "model": endpoint.model, "timeout": endpoint.timeout}
    if endpoint.base_url:
        kwargs["base_url"] = endpoint.base_url
    secret = endpoint.resolved_api_key()
    if secret is not None:
        kwargs["api_key"] = secret.get_secret_value()
    return kwargs


async def litellm_complete(
    endpoint: EndpointConfig, body: dict[str, Any]
) -> dict[str, Any]:
    """A non-streaming chat completion through LiteLLM.

    Args:
        endpoint: The upstream (``provider: litellm``).
        body: The client's request body (its "model" is replaced).

    Returns:
        The answer as an OpenAI chat completion dict.

    Raises:
        MissingDependencyError: `litellm` is not installed.
        UpstreamError: The call failed.
    """
    litellm = import_litellm()
    try:
        response = await litellm.acompletion(**_kwargs(endpoint, body))
    except Exception as exc:  # litellm raises many provider-specific types
        raise UpstreamError(
            f"litellm call to {endpoint.model!r} failed: {exc}"
        ) from exc
    data: dict[str, Any] = response.model_dump()
    return data


async def litellm_stream(
    endpoint: EndpointConfig, body: dict[str, Any]
) -> AsyncIterator[bytes]:
    """A streaming chat completion through LiteLLM, as OpenAI SSE bytes.

    Args:
        endpoint: The upstream (``provider: litellm``).
        body: The client's request body (its "model" is replaced).

    Yields:
        ``data: {chunk}`` events, then ``data: [DONE]``; a failure ends the stream
        with an error event instead.
    """
    litellm = import_litellm()
    try:
        response = await litellm.acompletion(**_kwargs(endpoint, body))
        async for chunk in response:
            yield b"data: " + json.dumps(chunk.model_dump()).encode() + b"\n\n"
    except Exception as exc:  # litellm raises many provider-specific types
        yield sse_error_event(
            f"litellm stream from {endpoint.model!r} failed: {exc}", "upstream_error"
        )
        return
    yield b"data: [DONE]\n\n"
