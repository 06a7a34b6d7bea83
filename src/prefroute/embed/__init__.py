"""Embedders: the protocol, backends, and `get_embedder(spec)`.

Specs: "hashing[:DIM]", "minilm-dq8" (the default: all-MiniLM-L6-v2 with int8 dense
layers), "minilm" (the exact fp32 model), "minilm-q8", "minilm-int8",
"minilm-static" (MiniLM distilled into a token table: no network at run time),
"openai:<model>@<base_url>"; further backends register in `_BACKENDS` (imported lazily).
A spec names one exact model variant: caches key vectors on it, so a spec never
changes meaning.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from prefroute.embed.base import Embedder
from prefroute.errors import ConfigError

__all__ = ["DEFAULT_EMBEDDER", "Embedder", "available_embedders", "get_embedder"]

# backend name -> "module:factory"; factory(arg: str | None) -> Embedder, where arg is
# the part of the spec after the first ":".
_BACKENDS: dict[str, str] = {
    "hashing": "prefroute.embed._factories:hashing",
    "minilm": "prefroute.embed._factories:minilm",
    "minilm-dq8": "prefroute.embed._factories:minilm_dq8",
    "minilm-int8": "prefroute.embed._factories:minilm_int8",
    "minilm-q8": "prefroute.embed._factories:minilm_q8",
    "minilm-static": "prefroute.embed._factories:minilm_static",
    "openai": "prefroute.embed._factories:openai",
}

#: Spec of the default embedder: all-MiniLM-L6-v2 via ONNX Runtime with dynamically
#: quantised int8 dense layers (~2x less CPU than fp32 "minilm", cosine >= 0.997 to it).
DEFAULT_EMBEDDER = "minilm-dq8"


def available_embedders() -> list[str]:
    """Backend names accepted by `get_embedder`."""
    return sorted(_BACKENDS)


def get_embedder(spec: str) -> Embedder:
    """Build an embedder from its spec string (the inverse of `Embedder.spec`).

    Args:
        spec: "backend" or "backend:argument", e.g. "hashing:256".

    Returns:
        The embedder.

    Raises:
        ConfigError: Unknown backend or bad argument.
    """
    backend, _, arg = spec.partition(":")
    try:
        target = _BACKENDS[backend]
    except KeyError:
        raise ConfigError(
            f"unknown embedder {spec!r}; backends: {', '.join(available_embedders())}"
        ) from None
    module_name, _, attr = target.partition(":")
    factory: Callable[[str | None], Any] = getattr(
        importlib.import_module(module_name), attr
    )
    embedder: Embedder = factory(arg or None)
    return embedder
