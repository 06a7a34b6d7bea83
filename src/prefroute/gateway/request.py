"""Parsing a chat request: the ``model`` string, the text to score, token estimates.

Model strings:
    ``router-<name>-<threshold>``: router ``<name>`` with cost threshold in [0, 1]
    (as in the RouteLLM server, e.g. ``router-mf-0.116``); a score >= threshold goes
    to the strong model.
    ``router-<name>@<share>``: the threshold calibrated so that a fraction
    ``<share>`` of the calibration prompts goes strong (e.g. ``router-mf@0.3``).
    ``router-<name>@<USD>`` / ``router-<name>-<lambda>`` for an N-model router when
    priced `models` are configured (mean USD per request budget, or lambda).
    The strong or weak (or a priced) upstream model id itself: sent there unrouted.

A request's USD is estimated from the input tokens of all its messages (whatever
text is scored) and of its tool definitions and, with ``max_tokens``, at most that
many output tokens.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from prefroute.gateway.config import RouteOn
from prefroute.gateway.errors import InvalidRequestError

__all__ = [
    "MODEL_PREFIX",
    "ChatRequest",
    "InvalidRequestError",
    "ModelSpec",
    "conversation_input_tokens",
    "extract_prompt",
    "message_turns",
    "output_token_cap",
    "parse_model",
    "parse_n_model",
    "parse_unit",
    "prompt_of",
    "tool_input_tokens",
]

MODEL_PREFIX = "router-"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``model`` string.

    Attributes:
        router: Router name, or None for a direct call to `direct`.
        threshold: Explicit cost threshold, or None.
        strong_share: Target share of strong calls (calibrated threshold), or None.
        direct: "strong" or "weak" when the string named an upstream model itself.
        budget: N-model routing: mean USD per request (``router-<name>@<USD>``).
        knob: N-model routing: lambda (``router-<name>-<lambda>``).
        model: A priced model id named directly (sent there, not routed).
    """

    router: str | None
    threshold: float | None = None
    strong_share: float | None = None
    direct: Literal["strong", "weak"] | None = None
    budget: float | None = None
    knob: float | None = None
    model: str | None = None


@dataclass(frozen=True)
class ChatRequest:
    """One chat request as the gateway routes it: parsed once, read by every step.

    Attributes:
        spec: The parsed ``model`` string.
        turns: (role, text) of every message (`message_turns`).
        prompt: The routed text (`prompt_of` with the config's `route_on`).
        fields: The request's other fields (body or client keyword arguments):
            ``max_tokens`` / ``max_completion_tokens`` and ``tools`` /
            ``functions`` price N-model choices.
        started: `time.perf_counter()` when routing began.
    """

    spec: ModelSpec
    turns: list[tuple[str, str]]
    prompt: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)


def parse_n_model(model: str, name: str, value: str, at: bool) -> ModelSpec:
    """Parse an N-model string: ``router-<name>@<USD>`` or ``router-<name>-<lam>``.

    Args:
        model: The whole string (for messages).
        name: The router name in it.
        value: The text after the router name.
        at: True for ``@<USD>`` (a budget), False for ``-<lambda>``.

    Returns:
        The spec, with `budget` or `knob` set.

    Raises:
        InvalidRequestError: `value` is not a finite number >= 0.
    """
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        what = "budget (mean USD per request)" if at else "lambda"
        raise InvalidRequestError(
            f"{what} in model {model!r} must be a finite number >= 0, got {value!r} "
            f"(expected e.g. 'router-{name}@0.004' or 'router-{name}-50')",
            param="model",
            code="invalid_budget" if at else "invalid_lambda",
        )
    if at:
        return ModelSpec(router=name, budget=number)
    return ModelSpec(router=name, knob=number)


def parse_unit(text: str, what: str, model: str) -> float:
    """A number in [0, 1] from a model string (a threshold or a strong share).

    Args:
        text: The number's text.
        what: What it is, for the message and the error code ("threshold").
        model: The whole model string, for the message.

    Returns:
        The number.

    Raises:
        InvalidRequestError: Not a number in [0, 1].
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidRequestError(
            f"{what} in model {model!r} must be a number in [0, 1], got {text!r} "
            f"(expected e.g. 'router-mf-0.116' or 'router-mf@0.3')",
            param="model",
            code=f"invalid_{what.replace(' ', '_')}",
        )
    return value


def parse_model(
    model: Any, *, strong_model: str | None = None, weak_model: str | None = None
) -> ModelSpec:
    """Parse a request's ``model`` field.

    Args:
        model: The field's value.
        strong_model: Upstream id of the strong model (accepted for direct calls).
        weak_model: Upstream id of the weak model (accepted for direct calls).

    Returns:
        The parsed spec.

    Raises:
        InvalidRequestError: Not a string, or not of the forms above, or a
            threshold/share that is not a number in [0, 1].
    """
    if not isinstance(model, str) or not model:
        raise InvalidRequestError(
            f"'model' must be a non-empty string such as 'router-mf-0.116' or "
            f"'router-mf@0.3', got {model!r}",
            param="model",
            code="invalid_model",
        )
    if not model.startswith(MODEL_PREFIX):
        if model == strong_model:
            return ModelSpec(router=None, direct="strong")
        if model == weak_model:
            return ModelSpec(router=None, direct="weak")
        raise InvalidRequestError(
            f"model {model!r} is not a router model; expected "
            "'router-<router>-<threshold>' (e.g. 'router-mf-0.116') or "
            "'router-<router>@<strong share>' (e.g. 'router-mf@0.3')",
            param="model",
            code="invalid_model",
        )
    rest = model[len(MODEL_PREFIX) :]
    if "@" in rest:
        name, _, share = rest.rpartition("@")
        if not name:
            raise InvalidRequestError(
                f"model {model!r} names no router before '@'; expected "
                "'router-<router>@<strong share>' (e.g. 'router-mf@0.3')",
                param="model",
                code="invalid_model",
            )
        return ModelSpec(
            router=name, strong_share=parse_unit(share, "strong share", model)
        )
    name, sep, threshold = rest.rpartition("-")
    if name.endswith("-"):  # a negative threshold: "router-mf--0.1"
        name, threshold = name[:-1], f"-{threshold}"
    if not sep or not name:
        raise InvalidRequestError(
            f"model {model!r} has no threshold; expected 'router-<router>-<threshold>' "
            "(e.g. 'router-mf-0.116') or 'router-<router>@<strong share>'",
            param="model",
            code="invalid_model",
        )
    return ModelSpec(router=name, threshold=parse_unit(threshold, "threshold", model))


def _content_text(content: Any, index: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    raise InvalidRequestError(
        f"messages[{index}].content must be a string or a list of content parts, "
        f"got {type(content).__name__}",
        param=f"messages[{index}].content",
        code="invalid_messages",
    )


def extract_prompt(messages: Any, route_on: RouteOn = "last_user") -> str:
    """The text a router scores, taken from an OpenAI ``messages`` list.

    Args:
        messages: The request's messages.
        route_on: "last_user": the last user turn (as the paper); "all_user": every
            user turn, newline-joined; "conversation": every turn as "role: text".
            Without any user turn, the last message's text is used.

    Returns:
        The prompt.

    Raises:
        InvalidRequestError: `messages` is missing, empty, or has malformed items.
    """
    return prompt_of(message_turns(messages), route_on)


def message_turns(messages: Any) -> list[tuple[str, str]]:
    """(role, text) of every message of an OpenAI ``messages`` list.

    Args:
        messages: The request's messages.

    Returns:
        One (role, text) per message; content parts are newline-joined.

    Raises:
        InvalidRequestError: `messages` is missing, empty, or has malformed items.
    """
    if not isinstance(messages, list) or not messages:
        got = "an empty list" if isinstance(messages, list) else type(messages).__name__
        raise InvalidRequestError(
            "'messages' must be a non-empty list of {'role', 'content'} objects, "
            f"got {got}",
            param="messages",
            code="invalid_messages",
        )
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequestError(
                f"messages[{i}] must be an object with a string 'role', "
                f"got {message!r:.80}",
                param=f"messages[{i}]",
                code="invalid_messages",
            )
        turns.append((message["role"], _content_text(message.get("content"), i)))
    return turns


def prompt_of(turns: list[tuple[str, str]], route_on: RouteOn) -> str:
    """The text a router scores, from (role, text) turns (see `extract_prompt`).

    Args:
        turns: From `message_turns`.
        route_on: Which turns.

    Returns:
        The prompt.
    """
    users = [text for role, text in turns if role == "user"]
    if route_on == "conversation":
        return "\n".join(f"{role}: {text}" for role, text in turns)
    if not users:
        return turns[-1][1]
    if route_on == "all_user":
        return "\n".join(users)
    return users[-1]


def conversation_input_tokens(turns: list[tuple[str, str]]) -> float:
    """Estimated input tokens of a whole conversation (every message's text).

    Args:
        turns: From `message_turns`.

    Returns:
        Characters / 4 (`prefroute.routers.policy.estimate_input_tokens`).
    """
    from prefroute.routers.policy import estimate_input_tokens

    return float(estimate_input_tokens(["\n".join(text for _, text in turns)])[0])


def tool_input_tokens(body: Mapping[str, Any]) -> float:
    """Estimated input tokens of a request's tool / function definitions.

    Providers bill the ``tools`` (and legacy ``functions``) schemas as prompt
    tokens, so an N-model choice prices them like the messages.

    Args:
        body: The request body (or the keyword arguments of a client call).

    Returns:
        Characters of their compact JSON / 4, 0 without them.
    """
    chars = 0
    for key in ("tools", "functions"):
        value = body.get(key)
        if value:
            try:
                chars += len(json.dumps(value, separators=(",", ":"), default=str))
            except (TypeError, ValueError, RecursionError):
                continue
    return chars / 4.0


def output_token_cap(body: Mapping[str, Any]) -> float | None:
    """The output-token cap a chat request sets, for pricing N-model choices.

    Args:
        body: The request body (or the keyword arguments of a client call).

    Returns:
        The smaller of ``max_tokens`` and ``max_completion_tokens`` among those
        given as positive numbers, else None (values the upstream will reject, such
        as strings or negatives, are ignored here).
    """
    caps = [
        float(value)
        for value in (body.get("max_tokens"), body.get("max_completion_tokens"))
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    ]
    return min(caps) if caps else None
