"""Typed configuration of the gateway: the upstream endpoints (a strong/weak pair and
priced models), the routers, and how requests are routed. Shared by the in-process
`Controller` and the server (`ServeConfig` extends `RoutingConfig`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

__all__ = ["EndpointConfig", "PricedEndpoint", "RouteOn", "RoutingConfig"]

RouteOn = Literal["last_user", "all_user", "conversation"]


class EndpointConfig(BaseModel):
    """One OpenAI-compatible upstream (OpenAI, vLLM, Ollama, llama.cpp server, ...).

    Attributes:
        model: Model id sent upstream (e.g. "gpt-4o", "llama3.1:8b").
        base_url: Base URL including the API prefix (e.g. "http://127.0.0.1:11434/v1").
        api_key_env: Name of the environment variable holding the API key; None
            sends no Authorization header (local servers).
        api_key: The key itself (takes precedence; prefer `api_key_env`).
        timeout: Seconds to wait for the upstream (connect, and between bytes).
        max_retries: Retries on connection errors (not on HTTP errors or timeouts).
        provider: "openai" (any OpenAI-compatible HTTP API) or "litellm" (needs the
            optional `litellm` package; `model` is then a LiteLLM model string).
        headers: Extra HTTP headers sent upstream.
        http_client: The server's HTTP client for this upstream: "fast" (a lean
            HTTP/1.1 client, ~50x less CPU per call than httpx; httpx is still used
            when an HTTP proxy from the environment applies) or "httpx".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    base_url: str = ""
    api_key_env: str | None = None
    api_key: SecretStr | None = None
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    provider: Literal["openai", "litellm"] = "openai"
    headers: dict[str, str] = Field(default_factory=dict)
    http_client: Literal["fast", "httpx"] = "fast"

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def resolved_api_key(self) -> SecretStr | None:
        """The key: `api_key`, else the variable named by `api_key_env`, else None."""
        if self.api_key is not None:
            return self.api_key
        if self.api_key_env:
            from prefroute.config import env_value

            value = env_value(self.api_key_env)
            return SecretStr(value) if value is not None else None
        return None


class PricedEndpoint(EndpointConfig):
    """An endpoint with a price, for N-model (``router-<multi>@<USD budget>``) routing.

    Attributes:
        price: Keys of `prefroute.routers.policy.ModelPrice` (per_query,
            input_per_mtok, output_per_mtok, expected_output_tokens), in USD.
        router_name: The router's name for this model (default: `model`).
    """

    price: dict[str, float] = Field(default_factory=dict)
    router_name: str | None = None

    @field_validator("price")
    @classmethod
    def _check_price(cls, value: dict[str, float]) -> dict[str, float]:
        from prefroute.routers.policy import ModelPrice

        ModelPrice.from_mapping(value)  # ConfigError (a ValueError?) on bad keys
        return value

    @property
    def routed_name(self) -> str:
        """The model's name in the router."""
        return self.router_name or self.model


class RoutingConfig(BaseModel):
    """How requests are routed between the strong and the weak endpoint.

    Attributes:
        strong: The strong (expensive) model endpoint.
        weak: The weak (cheap) model endpoint.
        routers: Router name (as used in model strings) -> what `load_router` gets
            (shipped checkpoint name, router name, or folder path). A list of names
            means each name maps to itself.
        route_on: Which text is scored: the last user turn (default, as in the
            paper's server), all user turns joined, or the whole conversation.
        fallback: When the chosen upstream fails (connection error, timeout, 5xx,
            garbage), try the other model once.
        batch_window_ms: How long an idle scorer waits to collect concurrent
            prompts into one batch (0: none; prompts arriving while a batch is being
            scored are always scored together next).
        max_batch: Largest batch the scorer builds.
        score_cache_size: Prompt scores remembered per router (LRU; 0 = off).
        calibration_file: JSON written by `prefroute calibrate --out` (thresholds for
            `router-<name>@<share>` model strings).
        calibration_prompts: Prompt file to calibrate every router on at start, or
            "default" for the default prompt set of the data directory: the
            thresholds of `router-<name>@<share>` for routers without a calibration
            from `calibration_file`, and, with `models`, the calibration prompts of
            every N-model router, on which ``router-<name>@<USD>`` budgets are
            met (by default they are met on the router's training prompts; give a
            sample of your own traffic so the mean cost per request meets them).
        data_dir: Data directory for the default prompt set.
        models: Priced endpoints for N-model routers (``router-<name>@<USD>``
            picks among them; empty: strong/weak only). When `models` is given,
            `strong` and `weak` may be left out: they default to the most and the
            least expensive model of the list.
        budgets: Mean USD per request budgets to calibrate at start for every
            N-model router (``router-<name>@<budget>`` then needs no calibration on
            its first request; other budgets are calibrated on first use), listed
            in ``/v1/models``.
        budget_cache_size: Budgets not in `budgets` whose calibration is kept
            (per server, all N-model routers together; least recently used
            evicted, then calibrated again on their next request).
        log: Request log: a SQLite file path (or ``sqlite:///`` URL), or a
            ``postgresql://`` URL; one record per routed request, written off
            the request path (None: no log, and feedback is refused).
        log_prompts: Store each routed prompt's text in the log (default: only
            its sha256).
        log_max_rows: Retention: keep at most this many requests (the newest).
        log_max_age_days: Retention: delete requests older than this.
        log_queue_size: Records that may wait for the log writer; beyond it
            records are dropped (and counted), never delaying a request.
        explore: Share of routed requests sent to a model the policy did not
            pick (pair: the other model; N models: one of the others, uniformly),
            with the propensity logged, for off-policy evaluation and adaptation.
        explore_seed: Seed of the exploration draws (None: fresh entropy).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strong: EndpointConfig
    weak: EndpointConfig
    routers: dict[str, str] = Field(default_factory=lambda: {"random": "random"})
    route_on: RouteOn = "last_user"
    fallback: bool = True
    batch_window_ms: float = Field(default=0.0, ge=0, le=1000)
    max_batch: int = Field(default=64, ge=1, le=4096)
    score_cache_size: int = Field(default=4096, ge=0)
    calibration_file: Path | None = None
    calibration_prompts: str | None = None
    data_dir: Path | None = None
    models: list[PricedEndpoint] = Field(default_factory=list)
    budgets: list[float] = Field(default_factory=list)
    budget_cache_size: int = Field(default=64, ge=1, le=100_000)
    log: str | None = None
    log_prompts: bool = False
    log_max_rows: int | None = Field(default=None, ge=1)
    log_max_age_days: float | None = Field(default=None, gt=0)
    log_queue_size: int = Field(default=10_000, ge=1, le=10_000_000)
    explore: float = Field(default=0.0, ge=0.0, lt=1.0)
    explore_seed: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _pair_from_models(cls, data: Any) -> Any:
        """Default strong/weak to the dearest/cheapest priced model."""
        if not isinstance(data, dict) or not data.get("models"):
            return data
        if data.get("strong") is not None and data.get("weak") is not None:
            return data
        from prefroute.routers.policy import ModelPrice

        entries = []
        for item in data["models"]:
            raw = item.model_dump() if isinstance(item, BaseModel) else item
            if not isinstance(raw, dict):
                return data  # let field validation report it
            try:
                usd = float(ModelPrice.from_mapping(raw.get("price") or {}).cost(0.0))
            except ValueError:
                return data
            endpoint = {
                k: v for k, v in raw.items() if k not in ("price", "router_name")
            }
            entries.append((usd, endpoint))
        if not entries:
            return data
        ranked = sorted(entries, key=lambda e: e[0])
        out = dict(data)
        if out.get("strong") is None:
            out["strong"] = ranked[-1][1]
        if out.get("weak") is None:
            out["weak"] = ranked[0][1]
        return out

    @field_validator("budgets")
    @classmethod
    def _check_budgets(cls, value: list[float]) -> list[float]:
        import math

        bad = [b for b in value if not (math.isfinite(b) and b >= 0)]
        if bad:
            raise ValueError(f"budgets must be finite USD amounts >= 0, got {bad}")
        return value

    @field_validator("routers", mode="before")
    @classmethod
    def _routers_from_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            out: dict[str, str] = {}
            for item in value:
                name, sep, target = str(item).partition("=")
                out[name.strip()] = target.strip() if sep else name.strip()
            return out
        return value

    @field_validator("routers")
    @classmethod
    def _check_routers(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("at least one router is needed, got none")
        for name in value:
            if not name or "@" in name or any(c.isspace() for c in name):
                raise ValueError(
                    "router names must be non-empty without '@' or spaces, "
                    f"got {name!r}"
                )
        return value

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: list[PricedEndpoint]) -> list[PricedEndpoint]:
        ids = [m.model for m in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"model ids in 'models' must be unique, got {ids}")
        return value
