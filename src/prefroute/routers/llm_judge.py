"""The causal-LLM router (RouteLLM section 4.1, "causal LLM classifier"), served by
any OpenAI-compatible chat endpoint instead of a fine-tuned local model.

The judge LLM is asked to rate from 1 to 5 how well a weaker model could answer the
prompt. When the endpoint returns token log-probabilities, the grade distribution
is read from the `top_logprobs` of the first grade token (renormalised over the
tokens "1".."5"); otherwise the grade is parsed from the text (a one-hot
distribution). The score, P(strong needed), is a function of that distribution
chosen by `score_rule`:

- "p_low" (default): P(grade <= 2), the probability that the weak model's answer
  gets a low grade;
- "expected": (5 - E[grade]) / 4, a smoother score that ranks prompts more finely
  (thresholds then sweep the strong share more evenly);
- "p_not_high": P(grade <= 3), i.e. 1 - P(grade in {4, 5}), RouteLLM's causal-LLM rule.

An answer with no grade is "invalid": it scores 1.0 (routes strong) and is counted in
`n_invalid_`; `scoring_report()` sums these up in one line for the command line.
Grade distributions are kept in a JSONL cache keyed by a hash of
(judge prompt version, model, prompt), so evaluation can run from the cache
(`cache_only=True`) and re-runs never re-query the endpoint.

The router has nothing to learn (`needs_fit = False`, `fit` returns self); it needs
an endpoint (`base_url`, `model`) or a cache to score.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from prefroute._unicode import utf8_safe
from prefroute.config import env_value
from prefroute.errors import ConfigError, DataError, UpstreamError
from prefroute.routers.base import Router
from prefroute.types import FloatArray

if TYPE_CHECKING:
    import httpx

__all__ = [
    "JUDGE_PROMPT_VERSION",
    "LLMJudgeRouter",
    "cache_key",
    "grade_from_text",
    "grade_probs_from_logprobs",
    "score_from_probs",
]

logger = logging.getLogger(__name__)

JUDGE_PROMPT_VERSION = "v1"
GRADES = (1, 2, 3, 4, 5)
ScoreRule = Literal["expected", "p_low", "p_not_high"]
_SCORE_RULES = ("expected", "p_low", "p_not_high")

_SYSTEM_PROMPT = (
    "You predict how well AI assistants will answer user prompts. Consider a small, "
    "fast, much less capable assistant (roughly a 7-billion-parameter open model). "
    "Predict the score an expert evaluator would give to its answer to the prompt "
    "below, judging helpfulness, correctness, depth and detail, on a scale from 1 "
    "to 5: 1 = it will almost certainly fail or answer poorly (the prompt needs a "
    "frontier model); 2 = likely poor; 3 = mediocre; 4 = good; 5 = as good as the "
    "best models. Reply with the single digit only."
)
_USER_TEMPLATE = "[Prompt]\n{prompt}\n[End of prompt]\n\nPredicted score (1-5):"
_GRADE_RE = re.compile(r"(?<![\d.])([1-5])(?!\.?\d)")
_RETRY_AFTER_CAP_S = 30.0


def cache_key(prompt: str, model: str | None) -> str:
    """Key of a prompt in the score cache.

    Args:
        prompt: The prompt text.
        model: The judge model name (None counts as "").

    Returns:
        Hex SHA-256 of (judge prompt version, model, prompt).
    """
    payload = f"{JUDGE_PROMPT_VERSION}\n{model or ''}\n{prompt}".encode(
        "utf-8", "surrogatepass"
    )
    return hashlib.sha256(payload).hexdigest()


def _grade_of_token(token: Any) -> int | None:
    if not isinstance(token, str):
        return None
    stripped = token.strip()
    return int(stripped) if stripped in {"1", "2", "3", "4", "5"} else None


def grade_probs_from_logprobs(logprobs: Any) -> np.ndarray | None:
    """Grade distribution from a chat completion's `choices[0].logprobs`.

    The grade position is the first generated token that is a grade digit (or,
    failing that, the first position whose alternatives include one). Probabilities
    of tokens meaning the same grade (" 4", "4") are summed, then renormalised over
    the grades.

    Args:
        logprobs: The `logprobs` object (`{"content": [{"token", "logprob",
            "top_logprobs": [{"token", "logprob"}, ...]}, ...]}`).

    Returns:
        Probabilities of grades 1..5, shape (5,), or None when no grade token is there.
    """
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    if not isinstance(content, list):
        return None
    positions = [p for p in content if isinstance(p, Mapping)]
    chosen = [p for p in positions if _grade_of_token(p.get("token")) is not None]
    chosen += positions
    for position in chosen:
        mass = np.zeros(len(GRADES), dtype=np.float64)
        alternatives = list(position.get("top_logprobs") or [])
        seen = {a.get("token") for a in alternatives if isinstance(a, Mapping)}
        if position.get("token") not in seen:
            alternatives.append(
                {"token": position.get("token"), "logprob": position.get("logprob")}
            )
        for alt in alternatives:
            if not isinstance(alt, Mapping):
                continue
            grade = _grade_of_token(alt.get("token"))
            logprob = alt.get("logprob")
            if (
                grade is None
                or not isinstance(logprob, int | float)
                or math.isnan(logprob)
            ):
                continue
            mass[grade - 1] += math.exp(min(float(logprob), 0.0))
        total = float(mass.sum())
        if total > 0.0:
            return mass / total
    return None


def grade_from_text(text: Any) -> int | None:
    """The first standalone grade digit 1..5 in the answer text.

    Args:
        text: The assistant message content.

    Returns:
        The grade, or None when the text holds no grade.
    """
    if not isinstance(text, str):
        return None
    match = _GRADE_RE.search(text)
    return int(match.group(1)) if match else None


def score_from_probs(probs: np.ndarray, rule: ScoreRule = "p_low") -> float:
    """P(strong needed) from a grade distribution.

    Args:
        probs: Probabilities of grades 1..5, shape (5,).
        rule: "p_low" (P(grade <= 2), the default), "expected"
            ((5 - E[grade]) / 4) or "p_not_high" (P(grade <= 3)).

    Returns:
        The score in [0, 1].

    Raises:
        ConfigError: Unknown rule.
    """
    p = np.asarray(probs, dtype=np.float64)
    if rule == "expected":
        value = (5.0 - float(np.dot(p, np.arange(1, 6)))) / 4.0
    elif rule == "p_low":
        value = float(p[0] + p[1])
    elif rule == "p_not_high":
        value = float(p[0] + p[1] + p[2])
    else:
        raise ConfigError(f"score_rule must be one of {_SCORE_RULES}, got {rule!r}")
    return min(1.0, max(0.0, value))


def _retry_delay(
    response: httpx.Response | None, attempt: int, backoff: float
) -> float:
    delay = backoff * (2.0**attempt)
    if response is not None:
        header = response.headers.get("retry-after")
        with contextlib.suppress(ValueError):
            delay = max(delay, min(float(header or ""), _RETRY_AFTER_CAP_S))
    return delay


def _post_json(
    client: httpx.Client,
    url: str,
    body: dict[str, Any],
    *,
    max_retries: int,
    backoff: float,
) -> dict[str, Any]:
    """POST with retries on connection errors, timeouts, 429 and 5xx."""
    import httpx

    last = ""
    for attempt in range(max_retries + 1):
        response: httpx.Response | None = None
        try:
            response = client.post(url, json=body)
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            status = response.status_code
            if status == 200:
                try:
                    parsed = response.json()
                except ValueError:
                    last = "HTTP 200 with a body that is not JSON"
                else:
                    if isinstance(parsed, dict):
                        return parsed
                    kind = type(parsed).__name__
                    last = f"HTTP 200 with JSON {kind}, expected an object"
            elif status == 429 or status >= 500:
                last = f"HTTP {status}: {response.text[:200]}"
            else:
                raise UpstreamError(
                    f"{url} answered HTTP {status} (not retried): {response.text[:300]}"
                )
        if attempt < max_retries:
            time.sleep(_retry_delay(response, attempt, backoff))
    raise UpstreamError(
        f"{url} failed after {max_retries + 1} attempts; last error: {last}"
    )


class LLMJudgeRouter(Router):
    """Asks an LLM to grade (1-5) how well a weak model could answer each prompt.

    Attributes:
        n_scored_: Prompts scored, cumulative over `score` calls.
        n_invalid_: Number of prompts scored whose judge answer had no grade
            (they score 1.0, i.e. strong), cumulative over `score` calls.
        n_requests_: Number of prompts sent to the endpoint (cache misses).
        n_cache_hits_: Number of prompts answered from the cache.
        n_cache_misses_: Prompts missing from the cache in cache-only mode with
            `on_cache_miss="strong"` (they score 1.0).
    """

    name: ClassVar[str] = "llm_judge"
    needs_fit: ClassVar[bool] = False

    def __init__(
        self,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key_env: str | None = None,
        timeout: float = 30.0,
        max_concurrency: int = 8,
        max_retries: int = 3,
        backoff: float = 0.5,
        temperature: float = 0.0,
        max_tokens: int = 3,
        use_logprobs: bool = True,
        score_rule: ScoreRule = "p_low",
        max_prompt_chars: int = 8000,
        cache_path: str | None = None,
        cache_only: bool = False,
        on_cache_miss: Literal["error", "strong"] = "error",
    ) -> None:
        """Store the settings; no I/O happens until `score`.

        Args:
            base_url: OpenAI-compatible base URL, e.g. "http://127.0.0.1:8000/v1".
            model: Judge model name sent in requests.
            api_key_env: Name of the environment variable holding the API key
                (None: send no Authorization header). The key is never saved.
            timeout: Seconds per HTTP request.
            max_concurrency: Requests in flight at once.
            max_retries: Retries after connection errors, timeouts, 429 and 5xx.
            backoff: First retry delay in seconds (doubles each retry).
            temperature: Sampling temperature (0 for reproducible grades).
            max_tokens: Completion tokens allowed (the answer is one digit).
            use_logprobs: Ask for `logprobs`/`top_logprobs` (5) to read the grade
                distribution; the text is parsed when none come back.
            score_rule: "p_low" (P(grade <= 2)), "expected" or "p_not_high" (see
                the module docstring).
            max_prompt_chars: Prompts are cut to this many characters in requests.
            cache_path: JSONL file of judgements (created on first write); None
                keeps the cache in memory only.
            cache_only: Never call the endpoint; score only from the cache.
            on_cache_miss: In cache-only mode, "error" raises on a prompt missing from
                the cache, "strong" scores it 1.0 and counts it in `n_cache_misses_`.
        """
        self.base_url = base_url
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.use_logprobs = use_logprobs
        self.score_rule = score_rule
        self.max_prompt_chars = max_prompt_chars
        self.cache_path = cache_path
        self.cache_only = cache_only
        self.on_cache_miss = on_cache_miss
        self.n_scored_ = 0
        self.n_invalid_ = 0
        self.n_requests_ = 0
        self.n_cache_hits_ = 0
        self.n_cache_misses_ = 0
        self._cache: dict[str, dict[str, Any]] | None = None

    # -- settings -----------------------------------------------------------------

    def _check_settings(self) -> None:
        if self.score_rule not in _SCORE_RULES:
            raise ConfigError(
                f"score_rule must be one of {_SCORE_RULES}, got {self.score_rule!r}"
            )
        if self.on_cache_miss not in ("error", "strong"):
            raise ConfigError(
                f"on_cache_miss must be 'error' or 'strong', got {self.on_cache_miss!r}"
            )
        if self.max_concurrency < 1:
            raise ConfigError(
                f"max_concurrency must be >= 1, got {self.max_concurrency!r}"
            )
        if self.base_url is not None and not self.base_url.startswith(
            ("http://", "https://")
        ):
            raise ConfigError(
                f"base_url must be an http(s):// URL, got {self.base_url!r}"
            )
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries!r}")

    def _headers(self) -> dict[str, str]:
        if self.api_key_env is None:
            return {}
        key = env_value(self.api_key_env)
        if key is None:
            raise ConfigError(
                f"api_key_env={self.api_key_env!r} names an environment variable "
                "that is unset or empty; export the judge API key there or pass "
                "api_key_env=None for an endpoint without keys"
            )
        return {"Authorization": f"Bearer {key}"}

    # -- cache --------------------------------------------------------------------

    def _cache_table(self) -> dict[str, dict[str, Any]]:
        if self._cache is None:
            self._cache = self._read_cache()
        return self._cache

    def _read_cache(self) -> dict[str, dict[str, Any]]:
        table: dict[str, dict[str, Any]] = {}
        if self.cache_path is None:
            return table
        path = Path(self.cache_path).expanduser()
        if not path.is_file():
            if self.cache_only and self.on_cache_miss == "error":
                raise DataError(
                    f"score cache {str(path)!r} does not exist (cache_only=True); "
                    "create it by scoring once against an endpoint"
                )
            return table
        with path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    # A line cut by an interrupted write: ignore it, it is re-queried.
                    logger.warning(
                        "%s:%d: skipping a line that is not JSON", path, lineno
                    )
                    continue
                if not isinstance(record, dict) or not isinstance(
                    record.get("key"), str
                ):
                    raise DataError(
                        f"{path}:{lineno}: expected an object with a string 'key', "
                        f"got {line[:80]!r}"
                    )
                table[record["key"]] = record
        return table

    def _append_cache(self, records: Sequence[dict[str, Any]]) -> None:
        table = self._cache_table()
        for record in records:
            table[record["key"]] = record
        if self.cache_path is None or not records:
            return
        path = Path(self.cache_path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()

    def _score_of(self, record: Mapping[str, Any]) -> tuple[float, bool]:
        """(score, is_invalid) of a cache record."""
        probs = record.get("probs")
        if isinstance(probs, list) and len(probs) == len(GRADES):
            return score_from_probs(
                np.asarray(probs, dtype=np.float64), self.score_rule
            ), False
        value = record.get("score")
        if isinstance(value, int | float) and 0.0 <= value <= 1.0:
            return float(value), False
        return 1.0, True

    # -- requests -----------------------------------------------------------------

    def _request_body(self, prompt: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": _SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": _USER_TEMPLATE.format(
                        prompt=utf8_safe(prompt[: self.max_prompt_chars])
                    ),
                },
            ],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.use_logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = 5
        return body

    def _judge_one(self, client: httpx.Client, url: str, prompt: str) -> dict[str, Any]:
        response = _post_json(
            client,
            url,
            self._request_body(prompt),
            max_retries=self.max_retries,
            backoff=self.backoff,
        )
        record: dict[str, Any] = {
            "key": cache_key(prompt, self.model),
            "model": self.model,
        }
        choices = response.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else {}
        if not isinstance(choice, Mapping):
            choice = {}
        probs = grade_probs_from_logprobs(choice.get("logprobs"))
        if probs is not None:
            record.update(probs=[round(float(p), 8) for p in probs], source="logprobs")
            return record
        message = choice.get("message")
        text = message.get("content") if isinstance(message, Mapping) else None
        grade = grade_from_text(text)
        if grade is not None:
            onehot = [0.0] * len(GRADES)
            onehot[grade - 1] = 1.0
            record.update(probs=onehot, source="text")
        else:
            logger.debug("judge answer without a grade: %r", text)
            record.update(probs=None, source="invalid")
        return record

    def _query(self, prompts: Sequence[str]) -> None:
        """Judge `prompts` (unique, not cached) concurrently and cache the results."""
        if not self.base_url or not self.model:
            raise ConfigError(
                "llm_judge needs base_url and model to query an endpoint "
                f"(got base_url={self.base_url!r}, model={self.model!r}); "
                "or set cache_only=True with a cache_path"
            )
        import httpx

        url = self.base_url.rstrip("/") + "/chat/completions"
        records: list[dict[str, Any]] = []
        first_error: UpstreamError | None = None
        with (
            httpx.Client(timeout=self.timeout, headers=self._headers()) as client,
            ThreadPoolExecutor(
                max_workers=min(self.max_concurrency, len(prompts))
            ) as pool,
        ):
            futures: list[Future[dict[str, Any]]] = [
                pool.submit(self._judge_one, client, url, p) for p in prompts
            ]
            for future in as_completed(futures):
                try:
                    records.append(future.result())
                except UpstreamError as exc:
                    if first_error is None:
                        first_error = exc
                        for other in futures:
                            other.cancel()
        self.n_requests_ += len(records)
        # Keep what succeeded so a re-run after an outage does not pay twice.
        self._append_cache(records)
        if first_error is not None:
            raise first_error

    # -- Router API ---------------------------------------------------------------

    def score(self, prompts: Sequence[str]) -> FloatArray:
        """P(strong needed) per prompt from the judge's grade distribution.

        Args:
            prompts: Prompts to score.

        Returns:
            Scores, shape (len(prompts),), in [0, 1]; invalid judge answers give 1.0.

        Raises:
            ConfigError: Bad settings, no endpoint, or the API key variable is unset.
            DataError: cache_only with on_cache_miss="error" and a prompt not cached.
            UpstreamError: The endpoint kept failing after retries.
        """
        self._check_settings()
        keys = [cache_key(p, self.model) for p in prompts]
        table = self._cache_table()
        missing: dict[str, str] = {}
        for key, prompt in zip(keys, prompts, strict=True):
            if key not in table:
                missing.setdefault(key, prompt)
        if missing and self.cache_only:
            if self.on_cache_miss == "error":
                raise DataError(
                    f"{len(missing)} of {len(set(keys))} distinct prompts are not in "
                    f"the score cache {self.cache_path!r} (cache_only=True, model="
                    f"{self.model!r}); score them once against the endpoint, or pass "
                    "on_cache_miss='strong' to route them to the strong model"
                )
        elif missing:
            self._query(list(missing.values()))
        out = np.empty(len(prompts), dtype=np.float64)
        for i, key in enumerate(keys):
            record = table.get(key)
            if record is None:
                out[i] = 1.0
                self.n_cache_misses_ += 1
                continue
            if key not in missing:
                self.n_cache_hits_ += 1
            out[i], is_invalid = self._score_of(record)
            self.n_invalid_ += int(is_invalid)
        self.n_scored_ += len(prompts)
        return out

    def scoring_report(self) -> str | None:
        """One line on the prompts routed strong for want of a judgement, if any.

        The command line prints it after scoring (`prefroute score`, `eval`), so that
        a judge answering garbage is not mistaken for prompts that need the strong
        model.

        Returns:
            E.g. "llm_judge: 2 of 2 judgements invalid (routed strong)", or None when
            every prompt scored so far had a valid judgement.
        """
        parts = []
        if self.n_invalid_:
            parts.append(f"{self.n_invalid_} of {self.n_scored_} judgements invalid")
        if self.n_cache_misses_:
            parts.append(
                f"{self.n_cache_misses_} of {self.n_scored_} prompts not in the "
                f"score cache {self.cache_path!r}"
            )
        if not parts:
            return None
        return f"{self.name}: {', '.join(parts)} (routed strong)"
