"""Factories turning spec arguments into embedders (see `get_embedder`)."""

from __future__ import annotations

from prefroute.embed.base import Embedder
from prefroute.errors import ConfigError


def hashing(arg: str | None) -> Embedder:
    """`hashing[:DIM]`."""
    from prefroute.embed.hashing import HashingEmbedder

    try:
        return HashingEmbedder(dim=int(arg) if arg else 256)
    except ValueError as exc:
        raise ConfigError(f"hashing embedder wants an integer dim, got {arg!r}") from exc
