"""Calls to the OpenAI-compatible upstreams: send with retries, answers, SSE relay.

One HTTP client per endpoint, created on first use: the lean keep-alive HTTP/1.1
client (`prefroute.gateway._http`, needs `httptools` from the `serve` extra), or
httpx when the endpoint asks for it or an HTTP proxy from the environment applies.
Connection errors are retried (`EndpointConfig.max_retries`, short exponential
back-off); timeouts, 4xx and 5xx are not. ``provider: litellm`` endpoints go through
`prefroute.gateway.litellm`. Which endpoint to try next after a failure, and what
a call is counted as, is the caller's business (`RoutingCore`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefroute.errors import UpstreamError
from prefroute.gateway.config import EndpointConfig
from prefroute.gateway.errors import (
    UpstreamStatusError,
    UpstreamTimeoutError,
    sse_error_event,
)
from prefroute.gateway.litellm import import_litellm, litellm_complete, litellm_stream

if TYPE_CHECKING:
    import httpx

    from prefroute.gateway._http import LeanClient
    from prefroute.gateway.decision import Decision

__all__ = ["StreamResult", "Upstream", "UpstreamResult"]


@dataclass
class UpstreamResult:
    """A non-streaming upstream answer.

    Attributes:
        body: The upstream's JSON response (unchanged except a missing "model").
        decision: The routing decision.
        model: The model that answered (differs from the decision after fallback).
        is_fallback: True when the other model answered after a failure.
    """

    body: dict[str, Any]
    decision: Decision
    model: str
    is_fallback: bool = False


@dataclass
class StreamResult:
    """An open upstream SSE stream.

    Attributes:
        chunks: Raw SSE bytes, in upstream order; on a mid-stream failure it ends
            with a ``data: {"error": ...}`` event.
        decision: The routing decision.
        model: The model that answers.
        is_fallback: True when the other model answers after a failure.
    """

    chunks: AsyncIterator[bytes]
    decision: Decision
    model: str
    is_fallback: bool = False
    _close: Callable[[], Any] | None = field(default=None, repr=False)

    async def aclose(self) -> None:
        """Close the upstream connection (idempotent)."""
        if self._close is not None:
            close, self._close = self._close, None
            result = close()
            if asyncio.iscoroutine(result):
                await result


class Upstream:
    """The HTTP clients of the upstream endpoints and single calls through them."""

    def __init__(self) -> None:
        """No clients yet: each is created on its endpoint's first call."""
        self._http: dict[str, httpx.AsyncClient | LeanClient] = {}

    def client(self, endpoint: EndpointConfig) -> httpx.AsyncClient | LeanClient:
        """The HTTP client of an endpoint (one per base URL and model, created once).

        The lean HTTP/1.1 client unless the endpoint asks for httpx or an HTTP proxy
        from the environment applies to it (httpx honours proxies).
        """
        key = f"{endpoint.base_url}|{endpoint.model}"
        known = self._http.get(key)
        if known is not None:
            return known
        client: httpx.AsyncClient | LeanClient | None = None
        headers = {"content-type": "application/json", **endpoint.headers}
        secret = endpoint.resolved_api_key()
        if secret is not None:
            headers["authorization"] = f"Bearer {secret.get_secret_value()}"
        try:
            from prefroute.gateway._http import LeanClient, proxy_applies
        except ImportError:  # httptools (the `serve` extra) missing: use httpx
            fast = False
        else:
            fast = endpoint.http_client == "fast" and not proxy_applies(
                endpoint.base_url
            )
        if fast:
            try:
                client = LeanClient(endpoint.base_url, headers, endpoint.timeout)
            except ValueError:  # not an http(s) URL: httpx reports it as a 502
                client = None
        if client is None:
            import httpx

            client = httpx.AsyncClient(
                base_url=endpoint.base_url,
                headers=headers,
                timeout=httpx.Timeout(endpoint.timeout),
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
            )
        self._http[key] = client
        return client

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        for client in self._http.values():
            await client.aclose()
        self._http.clear()

    async def send(
        self, endpoint: EndpointConfig, body: dict[str, Any], stream: bool
    ) -> Any:
        """POST to /chat/completions with retries on connection errors; check status.

        Args:
            endpoint: The upstream.
            body: The client's request body (its "model" is replaced).
            stream: Return before reading the body (for SSE).

        Returns:
            The response (status < 400).

        Raises:
            UpstreamStatusError: A 4xx other than 429.
            UpstreamTimeoutError: Timed out.
            UpstreamError: Unreachable after the retries, 429 or 5xx.
        """
        import httpx

        client = self.client(endpoint)
        payload = json.dumps({**body, "model": endpoint.model}).encode()
        last: Exception | None = None
        for attempt in range(endpoint.max_retries + 1):
            if attempt:
                await asyncio.sleep(min(1.0, 0.05 * 2 ** (attempt - 1)))
            try:
                response: Any
                if isinstance(client, httpx.AsyncClient):
                    request = client.build_request(
                        "POST", "/chat/completions", content=payload
                    )
                    response = await client.send(request, stream=stream)
                else:
                    response = await client.post(
                        "/chat/completions", payload, stream=stream
                    )
            except httpx.TimeoutException as exc:
                raise UpstreamTimeoutError(
                    f"upstream {endpoint.model!r} at {endpoint.base_url} "
                    "timed out after "
                    f"{endpoint.timeout:g} s"
                ) from exc
            except (
                httpx.ConnectError,
                httpx.RemoteProtocolError,
                httpx.ReadError,
            ) as exc:
                last = exc
                continue
            except httpx.HTTPError as exc:
                raise UpstreamError(
                    f"upstream {endpoint.model!r} at {endpoint.base_url} "
                    f"failed: {exc!r}"
                ) from exc
            if response.status_code >= 400:
                try:
                    await response.aread()
                except httpx.HTTPError:
                    pass
                finally:
                    await response.aclose()
                try:
                    detail: Any = response.json()
                except (ValueError, RecursionError):
                    detail = None
                snippet = (
                    response.text[:200] if detail is None else json.dumps(detail)[:200]
                )
                message = (
                    f"upstream {endpoint.model!r} returned HTTP "
                    f"{response.status_code}: "
                    f"{snippet}"
                )
                if response.status_code < 500 and response.status_code != 429:
                    raise UpstreamStatusError(message, response.status_code, detail)
                raise UpstreamError(message)
            return response
        raise UpstreamError(
            f"cannot reach upstream {endpoint.model!r} at {endpoint.base_url} after "
            f"{endpoint.max_retries + 1} attempt(s): {last!r}"
        ) from last

    async def complete(
        self, endpoint: EndpointConfig, body: dict[str, Any]
    ) -> dict[str, Any]:
        """One non-streaming chat completion from one endpoint.

        Args:
            endpoint: The upstream.
            body: The client's request body (its "model" is replaced).

        Returns:
            The answer's JSON (its "model" set to the endpoint's when missing).

        Raises:
            UpstreamStatusError: The upstream rejected the request (4xx).
            UpstreamTimeoutError: Timed out.
            UpstreamError: Unreachable, 5xx, or not a chat completion.
        """
        import httpx

        if endpoint.provider == "litellm":
            return await litellm_complete(endpoint, body)
        response = await self.send(endpoint, body, stream=False)
        try:
            data = response.json()
        except (ValueError, RecursionError, httpx.HTTPError) as exc:
            raise UpstreamError(
                f"upstream {endpoint.model!r} returned a body that is not JSON: "
                f"{response.text[:120]!r}"
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamError(
                f"upstream {endpoint.model!r} returned JSON without a 'choices' list: "
                f"{json.dumps(data)[:120]}"
            )
        data.setdefault("model", endpoint.model)
        return data

    async def open_stream(
        self,
        endpoint: EndpointConfig,
        body: dict[str, Any],
        on_end: Callable[[str | None], None],
    ) -> tuple[AsyncIterator[bytes], Callable[[], Any] | None]:
        """Open one streaming chat completion from one endpoint.

        Args:
            endpoint: The upstream.
            body: The client's request body (its "model" is replaced).
            on_end: Called once when an HTTP stream ends, with None, "timeout" or
                "stream" (a failure mid-stream).

        Returns:
            The SSE bytes (a mid-stream failure ends them with an error event) and
            the function that closes the connection (None for LiteLLM).

        Raises:
            UpstreamStatusError: The upstream rejected the request (4xx).
            UpstreamTimeoutError: Timed out before streaming.
            UpstreamError: Unreachable, 5xx or not SSE.
        """
        if endpoint.provider == "litellm":
            import_litellm()  # fail before the response starts
            return litellm_stream(endpoint, body), None
        response = await self.send(endpoint, body, stream=True)
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            await response.aclose()
            raise UpstreamError(
                f"upstream {endpoint.model!r} answered a streaming request with "
                f"content-type {content_type!r}, expected 'text/event-stream'"
            )
        return self._relay(response, endpoint, on_end), response.aclose

    async def _relay(
        self,
        response: Any,
        endpoint: EndpointConfig,
        on_end: Callable[[str | None], None],
    ) -> AsyncIterator[bytes]:
        import httpx

        error: str | None = None
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        except httpx.TimeoutException:
            error = "timeout"
            yield sse_error_event(
                f"upstream {endpoint.model!r} timed out mid-stream after "
                f"{endpoint.timeout:g} s",
                "upstream_timeout",
            )
        except httpx.HTTPError as exc:
            error = "stream"
            yield sse_error_event(
                f"upstream {endpoint.model!r} failed mid-stream: {exc!r}",
                "upstream_error",
            )
        finally:
            await response.aclose()
            on_end(error)
