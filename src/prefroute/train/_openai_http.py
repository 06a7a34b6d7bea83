"""Async calls to OpenAI-compatible /chat/completions endpoints for label generation:
a concurrency limit, retries with backoff, a request budget and token accounting."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefroute.config import env_value
from prefroute.errors import ConfigError, UpstreamError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "AsyncChatClient",
    "ChatResult",
    "RequestBudgetExhaustedError",
    "auth_headers",
]

_RETRY_AFTER_CAP_S = 60.0


class RequestBudgetExhaustedError(Exception):
    """The run reached its `max_requests` budget (the run stops cleanly)."""


@dataclass(frozen=True, slots=True)
class ChatResult:
    """One completion: its text and token usage (0 when the endpoint sent none)."""

    text: str | None
    prompt_tokens: int
    completion_tokens: int
    has_usage: bool


def auth_headers(api_key_env: str | None, who: str) -> dict[str, str]:
    """Authorization header from the environment variable named `api_key_env`.

    Args:
        api_key_env: Variable name, or None for endpoints without keys.
        who: Role named in the error message ("strong", "weak", "judge").

    Returns:
        Headers to send.

    Raises:
        ConfigError: The variable is unset or empty.
    """
    if api_key_env is None:
        return {}
    key = env_value(api_key_env)
    if key is None:
        raise ConfigError(
            f"the {who} endpoint's api_key_env={api_key_env!r} is unset or empty; "
            "export the key there or omit api_key_env for an endpoint without keys"
        )
    return {"Authorization": f"Bearer {key}"}


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and value >= 0 else 0


class AsyncChatClient:
    """Sends chat requests through one `httpx.AsyncClient` under shared limits."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        concurrency: int,
        max_retries: int,
        backoff: float,
        max_requests: int | None = None,
    ) -> None:
        """Create the client.

        Args:
            client: The HTTP client (timeouts configured by the caller).
            concurrency: Requests in flight at once.
            max_retries: Retries after connection errors, timeouts, 429 and 5xx.
            backoff: First retry delay in seconds (doubles each retry).
            max_requests: HTTP requests (attempts) allowed in total; None = no limit.
        """
        self._client = client
        self._semaphore = asyncio.Semaphore(concurrency)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_requests = max_requests
        self.n_requests = 0

    def _take_budget(self) -> None:
        if self.max_requests is not None and self.n_requests >= self.max_requests:
            raise RequestBudgetExhaustedError
        self.n_requests += 1

    async def chat(
        self,
        url: str,
        headers: Mapping[str, str],
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        temperature: float,
        max_tokens: int,
    ) -> ChatResult:
        """One chat completion, retried on transient failures.

        Args:
            url: Base URL of the endpoint (".../v1").
            headers: Extra headers (authorization).
            model: Model name.
            messages: OpenAI chat messages.
            temperature: Sampling temperature.
            max_tokens: Completion token limit.

        Returns:
            The first choice's text and the usage.

        Raises:
            UpstreamError: A non-retryable status or failures after all retries.
            RequestBudgetExhaustedError: `max_requests` was reached.
        """
        import httpx

        endpoint = url.rstrip("/") + "/chat/completions"
        body = {
            "model": model,
            "messages": list(messages),
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        last = ""
        for attempt in range(self.max_retries + 1):
            response: httpx.Response | None = None
            async with self._semaphore:
                self._take_budget()
                try:
                    response = await self._client.post(
                        endpoint, json=body, headers=headers
                    )
                except httpx.TransportError as exc:
                    last = f"{type(exc).__name__}: {exc}"
            if response is not None:
                status = response.status_code
                if status == 200:
                    try:
                        return _parse(response.json())
                    except (ValueError, TypeError) as exc:
                        last = f"HTTP 200 with an unusable body: {exc}"
                elif status == 429 or status >= 500:
                    last = f"HTTP {status}: {response.text[:200]}"
                else:
                    raise UpstreamError(
                        f"{endpoint} (model {model!r}) answered HTTP {status} "
                        f"(not retried): {response.text[:300]}"
                    )
            if attempt < self.max_retries:
                await asyncio.sleep(_delay(response, attempt, self.backoff))
        raise UpstreamError(
            f"{endpoint} (model {model!r}) failed after {self.max_retries + 1} "
            f"attempts; last error: {last}"
        )


def _delay(response: httpx.Response | None, attempt: int, backoff: float) -> float:
    delay = backoff * (2.0**attempt)
    header = response.headers.get("retry-after") if response is not None else None
    if header:
        with contextlib.suppress(ValueError):
            delay = max(delay, min(float(header), _RETRY_AFTER_CAP_S))
    return delay


def _parse(payload: Any) -> ChatResult:
    if not isinstance(payload, dict):
        raise TypeError(f"expected a JSON object, got {type(payload).__name__}")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("no choices in the response")
    message = choices[0].get("message")
    text = message.get("content") if isinstance(message, dict) else None
    usage = payload.get("usage")
    has_usage = isinstance(usage, dict)
    usage = usage if isinstance(usage, dict) else {}
    return ChatResult(
        text=text if isinstance(text, str) else None,
        prompt_tokens=_int(usage.get("prompt_tokens")),
        completion_tokens=_int(usage.get("completion_tokens")),
        has_usage=has_usage,
    )
