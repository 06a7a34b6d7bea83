"""Model-name aliases across data sources.

Sources spell the same model differently: RouteLLM's eval files say
``mistralai/Mixtral-8x7B-Instruct-v0.1``, RouterBench ``mistralai/mixtral-8x7b-chat``,
AlpacaEval ``Mixtral-8x7B-Instruct-v0.1_concise`` and RouteProfile
``mixtral-8x7b-instruct-v0.1``. `canonical_model_name` maps known spellings to the
name used by the evaluation benchmarks so the paper's pair is recognised everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MODEL_ALIASES", "canonical_model_name", "canonicalize_keys"]

_MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
_GPT4_TURBO = "gpt-4-1106-preview"

#: Lower-cased alias -> canonical name (the RouteLLM eval files' spelling).
MODEL_ALIASES: Mapping[str, str] = {
    # the paper's weak model
    "mistralai/mixtral-8x7b-instruct-v0.1": _MIXTRAL,
    "mixtral-8x7b-instruct-v0.1": _MIXTRAL,
    "mixtral-8x7b-instruct-v0.1_concise": _MIXTRAL,
    "mistralai/mixtral-8x7b-chat": _MIXTRAL,
    "mixtral-8x7b-chat": _MIXTRAL,
    "mixtral-8x7b": _MIXTRAL,
    # the paper's strong model
    "gpt-4-1106-preview": _GPT4_TURBO,
    "gpt4_1106_preview": _GPT4_TURBO,
    "gpt-4-turbo-1106": _GPT4_TURBO,
    "openai/gpt-4-1106-preview": _GPT4_TURBO,
    # other models present in both RouterBench and AlpacaEval
    "claude-2": "claude-v2",
    "claude-v2": "claude-v2",
    "meta/llama-2-70b-chat": "llama-2-70b-chat-hf",
    "llama-2-70b-chat-hf": "llama-2-70b-chat-hf",
}


def canonical_model_name(name: str) -> str:
    """Canonical spelling of a model name (unknown names come back unchanged).

    Args:
        name: A model name as written in some data source.

    Returns:
        The canonical name, e.g. ``"mistralai/Mixtral-8x7B-Instruct-v0.1"`` for
        ``"mistralai/mixtral-8x7b-chat"``.
    """
    return MODEL_ALIASES.get(name.strip().lower(), name)


def canonicalize_keys(values: Mapping[str, float]) -> dict[str, float]:
    """Rename a model -> value mapping's keys with `canonical_model_name`.

    When two keys map to the same canonical name the first one wins.

    Args:
        values: Mapping keyed by source model names.

    Returns:
        A new dict keyed by canonical names.
    """
    out: dict[str, float] = {}
    for key, value in values.items():
        out.setdefault(canonical_model_name(key), value)
    return out
