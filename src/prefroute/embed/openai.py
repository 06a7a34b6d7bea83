"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint (over httpx).

Spec: ``"openai:<model>@<base_url>"``, e.g. ``"openai:bge-small@http://127.0.0.1:8080/v1"``;
the API key is read from the environment variable named by ``api_key_env``
(``PREFROUTE_EMBED_API_KEY`` by default), through `prefroute.config.env_value`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from prefroute._unicode import utf8_safe
from prefroute.errors import ConfigError, UpstreamError
from prefroute.types import FloatArray

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_API_KEY_ENV", "OpenAIEmbedder", "parse_openai_spec"]

#: Environment variable holding the embedding API key unless told otherwise.
DEFAULT_API_KEY_ENV = "PREFROUTE_EMBED_API_KEY"
_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def parse_openai_spec(arg: str | None) -> tuple[str, str]:
    """Split the argument of an ``openai:<model>@<base_url>`` spec.

    Args:
        arg: The part after ``"openai:"``.

    Returns:
        ``(model, base_url)``.

    Raises:
        ConfigError: Model or base URL missing, or the URL is not http(s).
    """
    model, sep, base_url = (arg or "").partition("@")
    if not model or not sep or not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            "openai embedder spec must look like 'openai:<model>@<http(s) base_url>', "
            f"got 'openai:{arg or ''}'"
        )
    return model, base_url


class OpenAIEmbedder:
    """Client of an OpenAI-compatible embeddings endpoint.

    Texts are sent in batches of ``batch_size``; connection errors, timeouts and
    HTTP 408/409/429/5xx are retried with exponential backoff; everything else, and
    a reply that is not the expected JSON, raises `UpstreamError`. Rows are
    re-normalised to unit length (not every server normalises). Construction does
    no I/O; the HTTP client is made on first use.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        dim: int | None = None,
        batch_size: int = 128,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        """Create the client.

        Args:
            base_url: API root, e.g. ``"http://127.0.0.1:8080/v1"`` (``/embeddings``
                is appended).
            model: Model name sent in each request.
            api_key_env: Name of the environment variable holding the API key; no
                Authorization header is sent when it is unset.
            dim: Vector size if known; otherwise found by the first request.
            batch_size: Texts per request.
            timeout: Seconds per request.
            max_retries: Retries after the first try of a request.
            backoff: Seconds before the first retry; doubles each retry.

        Raises:
            ConfigError: A bad argument.
        """
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must start with http:// or https://, got {base_url!r}"
            )
        if not model:
            raise ConfigError("model must be a non-empty string, got ''")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size!r}")
        if timeout <= 0:
            raise ConfigError(f"timeout must be > 0, got {timeout!r}")
        if max_retries < 0 or backoff < 0:
            raise ConfigError(
                "max_retries and backoff must be >= 0, "
                f"got {max_retries!r} and {backoff!r}"
            )
        if dim is not None and dim < 1:
            raise ConfigError(f"dim must be >= 1, got {dim!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.batch_size = batch_size
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.spec = f"openai:{model}@{self.base_url}"
        self._dim = dim
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        """Short description (never the key)."""
        return f"OpenAIEmbedder(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def dim(self) -> int:
        """Vector size; when not given, one request embeds a probe text to learn it."""
        if self._dim is None:
            self._dim = int(self._request(["dimension probe"]).shape[1])
        return self._dim

    @dim.setter
    def dim(self, value: int) -> None:
        self._dim = value

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Embed texts through the endpoint.

        Args:
            texts: Texts to embed.

        Returns:
            float32 array of shape (len(texts), dim) with unit L2 rows.

        Raises:
            ConfigError: ``texts`` is a single string.
            UpstreamError: The endpoint failed after retries or replied nonsense.
        """
        if isinstance(texts, str):
            raise ConfigError("embed wants a sequence of texts, got a single str")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self._request(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        out = np.vstack(parts)
        if self._dim is None:
            self._dim = int(out.shape[1])
        elif out.shape[1] != self._dim:
            raise UpstreamError(
                f"{self.spec}: expected vectors of size {self._dim}, got {out.shape[1]}"
            )
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise UpstreamError(
                f"{self.spec}: the endpoint returned an all-zero vector"
            )
        unit: FloatArray = (out / norms).astype(np.float32)
        return unit

    # ------------------------------------------------------------------ HTTP
    def _http(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._client is None:
                from prefroute.config import env_value

                headers = {"Content-Type": "application/json"}
                key = env_value(self.api_key_env)
                if key is not None:
                    headers["Authorization"] = f"Bearer {key}"
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout), headers=headers
                )
            return self._client

    def close(self) -> None:
        """Close the HTTP connection pool (the embedder stays usable)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _request(self, texts: Sequence[str]) -> FloatArray:
        import httpx

        url = f"{self.base_url}/embeddings"
        # OpenAI rejects empty strings; a lone space embeds as "no content".
        payload = {
            "model": self.model,
            "input": [utf8_safe(t) if t else " " for t in texts],
            "encoding_format": "float",
        }
        client = self._http()
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = client.post(url, json=payload)
            except httpx.TransportError as exc:  # connect/read errors and timeouts
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in _RETRY_STATUS:
                problem = f"HTTP {response.status_code}: {response.text[:300]!r}"
                continue
            if response.status_code != 200:
                raise UpstreamError(
                    f"{self.spec}: POST {url} failed with HTTP {response.status_code} "
                    f"(expected 200): {response.text[:300]!r}"
                )
            return self._parse(response, len(texts), url)
        raise UpstreamError(
            f"{self.spec}: POST {url} failed after {self.max_retries + 1} tries; "
            f"last error: {problem}"
        )

    def _parse(self, response: httpx.Response, n_texts: int, url: str) -> FloatArray:
        try:
            body: Any = response.json()
            items = sorted(body["data"], key=lambda item: int(item["index"]))
            vectors = np.asarray(
                [item["embedding"] for item in items], dtype=np.float32
            )
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise UpstreamError(
                f"{self.spec}: POST {url} returned a body that is not an embeddings "
                f"response ({{'data': [{{'index', 'embedding'}}]}}): "
                f"{response.text[:200]!r}"
            ) from exc
        if vectors.ndim != 2 or vectors.shape[0] != n_texts:
            raise UpstreamError(
                f"{self.spec}: expected {n_texts} vectors, got array of shape "
                f"{vectors.shape}"
            )
        if not np.all(np.isfinite(vectors)):
            raise UpstreamError(f"{self.spec}: the endpoint returned non-finite values")
        return vectors
