"""Calls to the OpenAI-compatible upstreams: send with safe retries, answers, SSE
relay.

One HTTP client per endpoint, created on first use: the lean keep-alive HTTP/1.1
client (`prefroute.gateway._http`, needs `httptools` from the `serve` extra), or
httpx when the endpoint asks for it or an HTTP proxy from the environment applies.
The base URL's query string goes with every request; its ``user:password`` becomes
``Authorization: Basic`` (unless an API key is set) and is never sent or printed
otherwise.

Retries (`EndpointConfig.max_retries`) never make an upstream generate an answer
twice: a request is sent again only when it certainly did not reach the upstream (no
connection could be made; short exponential back-off), or when the upstream asked
for it (429 or 503 with a ``Retry-After`` ending before the request's deadline). A
response that breaks off (timeout, connection cut, garbage) is not sent again: the
caller (`RoutingCore`) may fall back to another model, which is a routing decision,
counted and logged. Failures are described by the model's name, never its host.

Streams are relayed event by event and checked (`prefroute.gateway.sse`): garbage,
a failure or the request's deadline ends the stream with an OpenAI error event.
``provider: litellm`` endpoints go through `prefroute.gateway.litellm`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefroute.errors import UpstreamError
from prefroute.gateway.config import EndpointConfig
from prefroute.gateway.deadline import Deadline
from prefroute.gateway.errors import (
    UpstreamStatusError,
    UpstreamTimeoutError,
    sse_error_event,
)
from prefroute.gateway.litellm import import_litellm, litellm_complete, litellm_stream
from prefroute.gateway.sse import SSEChecker, StreamFormatError

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


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date).

    Args:
        value: The header's value, or None.

    Returns:
        Seconds >= 0, or None when absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _reason(exc: BaseException, host: str) -> str:
    """A failure's short reason for a client: never the upstream's host or port."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return f"{type(exc).__name__}: {cause.strerror}"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if not text or (host and host in text) or "@" in text or "://" in text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class Upstream:
    """The HTTP clients of the upstream endpoints and single calls through them.

    Attributes:
        on_retry: Called as ``on_retry(model, reason)`` ("connect", "429", "503")
            each time a request is sent again (None: not called).
    """

    def __init__(self) -> None:
        """No clients yet: each is created on its endpoint's first call."""
        self._http: dict[str, httpx.AsyncClient | LeanClient] = {}
        self._paths: dict[str, str] = {}
        self.on_retry: Callable[[str, str], None] | None = None

    @staticmethod
    def _key(endpoint: EndpointConfig) -> str:
        return f"{endpoint.base_url}|{endpoint.model}"

    def client(self, endpoint: EndpointConfig) -> httpx.AsyncClient | LeanClient:
        """The HTTP client of an endpoint (one per base URL and model, created once).

        The lean HTTP/1.1 client unless the endpoint asks for httpx or an HTTP proxy
        from the environment applies to it (httpx honours proxies).
        """
        key = self._key(endpoint)
        known = self._http.get(key)
        if known is not None:
            return known
        client: httpx.AsyncClient | LeanClient | None = None
        base = endpoint.parsed_base_url()
        headers = {"content-type": "application/json", **endpoint.headers}
        secret = endpoint.resolved_api_key()
        if secret is not None:
            headers["authorization"] = f"Bearer {secret.get_secret_value()}"
        elif base.basic_auth is not None and not any(
            name.lower() == "authorization" for name in endpoint.headers
        ):
            headers["authorization"] = base.basic_auth
        query = f"?{base.query}" if base.query else ""
        try:
            from prefroute.gateway._http import LeanClient, proxy_applies
        except ImportError:  # httptools (the `serve` extra) missing: use httpx
            fast = False
        else:
            fast = endpoint.http_client == "fast" and not proxy_applies(base.url)
        if fast:
            try:
                client = LeanClient(base.url + query, headers, endpoint.timeout)
            except ValueError:  # not an http(s) URL: httpx reports it as a 502
                client = None
        if client is None:
            import httpx

            client = httpx.AsyncClient(
                base_url=base.url,
                headers=headers,
                timeout=httpx.Timeout(endpoint.timeout),
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
            )
            self._paths[key] = "/chat/completions" + query
        self._http[key] = client
        return client

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        for client in self._http.values():
            await client.aclose()
        self._http.clear()

    def _retried(self, endpoint: EndpointConfig, reason: str) -> None:
        if self.on_retry is not None:
            self.on_retry(endpoint.model, reason)

    async def send(
        self,
        endpoint: EndpointConfig,
        body: dict[str, Any],
        stream: bool,
        deadline: Deadline | None = None,
    ) -> Any:
        """POST to /chat/completions; check the status; retry only when safe.

        Args:
            endpoint: The upstream.
            body: The client's request body (its "model" is replaced).
            stream: Return before reading the body (for SSE).
            deadline: The request's deadline: a ``Retry-After`` ending after it is
                not waited for (None: waits of up to `endpoint.timeout`).

        Returns:
            The response (status < 400).

        Raises:
            UpstreamStatusError: A 4xx other than 429.
            UpstreamTimeoutError: No answer within the endpoint's timeout.
            UpstreamError: Unreachable after the retries, 429 or 5xx, or the
                connection failed once the request was sent.
        """
        import httpx

        client = self.client(endpoint)
        payload = json.dumps({**body, "model": endpoint.model}).encode()
        host = getattr(client, "host", "") or str(getattr(client, "base_url", ""))
        attempt = 0
        while True:
            try:
                response: Any
                if isinstance(client, httpx.AsyncClient):
                    request = client.build_request(
                        "POST", self._paths[self._key(endpoint)], content=payload
                    )
                    response = await client.send(request, stream=stream)
                else:
                    response = await client.post(
                        "/chat/completions", payload, stream=stream
                    )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # the request never left: sending it again cannot duplicate work
                if attempt >= endpoint.max_retries:
                    raise UpstreamError(
                        f"cannot reach upstream {endpoint.model!r} after "
                        f"{attempt + 1} attempt(s) ({_reason(exc, host)})"
                    ) from exc
                attempt += 1
                self._retried(endpoint, "connect")
                await asyncio.sleep(min(1.0, 0.05 * 2 ** (attempt - 1)))
                continue
            except httpx.TimeoutException as exc:
                raise UpstreamTimeoutError(
                    f"upstream {endpoint.model!r} timed out after "
                    f"{endpoint.timeout:g} s"
                ) from exc
            except httpx.HTTPError as exc:
                # sent, maybe generating: not sent again (a fallback may follow)
                raise UpstreamError(
                    f"upstream {endpoint.model!r} failed ({_reason(exc, host)})"
                ) from exc
            if response.status_code < 400:
                return response
            try:
                await response.aread()
            except httpx.HTTPError:
                pass
            finally:
                await response.aclose()
            status = response.status_code
            if status in (429, 503) and attempt < endpoint.max_retries:
                wait = retry_after_seconds(response.headers.get("retry-after"))
                left = endpoint.timeout if deadline is None else deadline.remaining()
                if wait is not None and wait < left:
                    attempt += 1
                    self._retried(endpoint, str(status))
                    await asyncio.sleep(wait)
                    continue
            try:
                detail: Any = response.json()
            except (ValueError, RecursionError):
                detail = None
            snippet = (
                response.text[:200] if detail is None else json.dumps(detail)[:200]
            )
            message = f"upstream {endpoint.model!r} returned HTTP {status}: {snippet}"
            if status < 500 and status != 429:
                raise UpstreamStatusError(message, status, detail)
            raise UpstreamError(message)

    async def complete(
        self,
        endpoint: EndpointConfig,
        body: dict[str, Any],
        deadline: Deadline | None = None,
    ) -> dict[str, Any]:
        """One non-streaming chat completion from one endpoint.

        Args:
            endpoint: The upstream.
            body: The client's request body (its "model" is replaced).
            deadline: The request's deadline (see `send`).

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
        response = await self.send(endpoint, body, stream=False, deadline=deadline)
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
        deadline: Deadline | None = None,
    ) -> tuple[AsyncIterator[bytes], Callable[[], Any] | None]:
        """Open one streaming chat completion from one endpoint.

        Args:
            endpoint: The upstream.
            body: The client's request body (its "model" is replaced).
            on_end: Called once when an HTTP stream ends, with None, "timeout",
                "stream" (a failure or garbage mid-stream), "deadline" or
                "shutdown" (the request's deadline ended it).
            deadline: The request's deadline: the stream ends with an error event
                when it passes (None: only the endpoint's timeout applies).

        Returns:
            The SSE bytes (whole, checked events; a mid-stream failure ends them
            with an error event) and the function that closes the connection (None
            for LiteLLM).

        Raises:
            UpstreamStatusError: The upstream rejected the request (4xx).
            UpstreamTimeoutError: Timed out before streaming.
            UpstreamError: Unreachable, 5xx or not SSE.
        """
        if endpoint.provider == "litellm":
            import_litellm()  # fail before the response starts
            return litellm_stream(endpoint, body), None
        response = await self.send(endpoint, body, stream=True, deadline=deadline)
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            await response.aclose()
            raise UpstreamError(
                f"upstream {endpoint.model!r} answered a streaming request with "
                f"content-type {content_type!r}, expected 'text/event-stream'"
            )
        return self._relay(response, endpoint, on_end, deadline), response.aclose

    async def _relay(
        self,
        response: Any,
        endpoint: EndpointConfig,
        on_end: Callable[[str | None], None],
        deadline: Deadline | None,
    ) -> AsyncIterator[bytes]:
        import httpx

        from prefroute.gateway._http import DeadlineReached

        error: str | None = None
        checker = SSEChecker()
        lean = hasattr(response, "set_deadline")
        if deadline is not None and lean:  # checked by the response's own timer
            response.set_deadline(deadline.at)
            deadline.listen(response.set_deadline)
        try:
            chunks = response.aiter_bytes()
            if deadline is not None and not lean:
                chunks = _within(chunks, deadline)
            async for chunk in chunks:
                events = checker.feed(chunk)
                if events:
                    yield events
            tail = checker.close()
            if tail:
                yield tail
            if checker.has_error:  # the upstream reported an error in-band
                error = "stream"
        except (DeadlineReached, TimeoutError) as exc:
            if deadline is None or (
                isinstance(exc, TimeoutError) and deadline.remaining() > 0
            ):
                raise
            failure = deadline.error()
            error = failure.reason
            yield sse_error_event(str(failure), "upstream_timeout", failure.code)
        except httpx.TimeoutException:
            error = "timeout"
            yield sse_error_event(
                f"upstream {endpoint.model!r} timed out mid-stream after "
                f"{endpoint.timeout:g} s",
                "upstream_timeout",
                "upstream_timeout",
            )
        except StreamFormatError as exc:
            error = "stream"
            yield sse_error_event(
                f"upstream {endpoint.model!r} sent a malformed stream ({exc}); "
                "it ends here",
                "upstream_error",
                "upstream_bad_stream",
            )
        except httpx.HTTPError as exc:
            error = "stream"
            yield sse_error_event(
                f"upstream {endpoint.model!r} failed mid-stream "
                f"({_reason(exc, getattr(response, 'host', ''))})",
                "upstream_error",
                "upstream_error",
            )
        finally:
            if deadline is not None and lean:
                deadline.unlisten(response.set_deadline)
            await response.aclose()
            on_end(error)


async def _within(
    chunks: AsyncIterator[bytes], deadline: Deadline
) -> AsyncIterator[bytes]:
    """`chunks` until the deadline (httpx responses; raises TimeoutError)."""
    iterator = aiter(chunks)
    while True:
        try:
            async with asyncio.timeout_at(deadline.at) as scope:
                deadline.listen(scope.reschedule)
                try:
                    chunk = await anext(iterator)
                finally:
                    deadline.unlisten(scope.reschedule)
        except StopAsyncIteration:
            return
        yield chunk
