"""A request log's prompts embedded once, locally or on a batch engine.

`prefroute adapt` and `prefroute eval --log` embed the same logged prompts many
times over: the starting router scores them, the heads on top embed them, the
held-out check and the outcome model do it again. `embed_log_prompts` embeds
them up front instead, in one `embed` call per embedder (so every engine is
handed the same texts in the same call and gives the same vectors: on
`--engine ray` the call is one Ray job, see `prefroute.engine.embed`), and hands
back the routers scoring from those vectors in memory. Texts a router embeds
later that were not in the log (none, in these commands) are embedded as usual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefroute.embed.base import Embedder
from prefroute.engine import BatchEngine
from prefroute.routers.base import Router, embedder_spec
from prefroute.train.pipeline import MemoEmbedder

__all__ = ["embed_log_prompts"]


def _compute(own: Any, spec: str, engine: BatchEngine | None) -> Embedder:
    """What computes a router's vectors: its own embedder here, or the same spec
    on the engine (behind the same on-disk cache, when the router has one)."""
    from prefroute.embed import get_embedder
    from prefroute.embed.cache import CachedEmbedder

    if engine is None:
        return own if not isinstance(own, str) else get_embedder(spec)
    from prefroute.engine.embed import EngineEmbedder

    inner: Embedder = EngineEmbedder(spec, engine)
    if isinstance(own, CachedEmbedder):
        inner = CachedEmbedder(inner, own.directory, use_disk=own.use_disk)
    return inner


def embed_log_prompts(
    routers: Mapping[str, Router],
    prompts: Sequence[str],
    *,
    engine: BatchEngine | None = None,
) -> dict[str, Router]:
    """The routers, each scoring `prompts` from vectors embedded here once.

    Routers with the same embedder spec share one set of vectors; a router
    without an embedder of its own is returned as it is.

    Args:
        routers: Name -> router (loaded, e.g. with the on-disk embedding cache).
        prompts: Every prompt the routers will see (the log's, labelled or not).
        engine: Where the embedding runs (None: here, with each router's own
            embedder object; an engine: its `embed_batches`, e.g. Ray actors).

    Returns:
        Name -> the router scoring with the shared vectors (a new object; the
        saved form is unchanged: a router saves its embedder's spec).
    """
    memos: dict[str, MemoEmbedder] = {}
    texts: dict[str, dict[str, None]] = {}
    specs: dict[str, str] = {}
    for name, router in routers.items():
        spec = embedder_spec(router)
        if spec is None:
            continue
        specs[name] = spec
        if spec not in memos:
            own = router.hyperparameters()["embedder"]
            memos[spec] = MemoEmbedder(_compute(own, spec, engine))
            texts[spec] = {}
        view = getattr(router, "embedding_text", None)
        texts[spec].update(dict.fromkeys(map(view, prompts) if view else prompts))
    for spec, memo in memos.items():
        memo.embed(list(texts[spec]))  # one call: one job on the engine
    return {
        name: router.with_embedder(memos[specs[name]]) if name in specs else router
        for name, router in routers.items()
    }
