"""Similarity-weighted (SW) ranking router (RouteLLM, Ong et al. 2024, section 4.1).

For a query q, every training battle i is weighted by how similar its prompt is:
``w_i = gamma ** (1 + S(q, q_i) / max_j S(q, q_j))`` (gamma = 10 in the paper), and a
weighted Bradley-Terry model is solved for the strong vs the weak tier. With the two
tier-players that the score needs, the weighted BT maximum-likelihood estimate has
a closed form, ``P(strong wins) = sum_i w_i c_i / sum_i w_i`` (ties as half a win), so
instead of refitting over all battles per query (the paper's 2.9 requests/s) scoring
is a matrix product with the stored prompt embeddings (in blocks of 256 prompts, to
bound memory): battles on the same prompt share a similarity, so they are pooled per
prompt at fit time. Optionally only the
``top_k`` most similar prompts vote, and ``prior`` pseudo-battles at the global win
rate keep sparse neighbourhoods from extreme scores.

Battles become strong/weak labels through tiers: ratings over all models, grouped
into ``n_tiers`` tiers; a battle between two tiers ``min_tier_gap`` apart counts with
the higher tier as "strong" (``tier_mode="any"``), or only battles between the
strong model's tier (or above) and the weak model's tier (or below)
(``tier_mode="pair"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np

from prefroute.embed.base import Embedder
from prefroute.errors import ArtifactError, ConfigError
from prefroute.routers._prefs import (
    check_tier_mode,
    resolve_embedder,
    router_tier_labels,
)
from prefroute.routers.base import Router, load_arrays, save_arrays
from prefroute.types import Battle, FloatArray

__all__ = ["SWRankingRouter"]

_Q = 127.0  # int8 quantisation scale of stored unit embeddings
_QQ = 256.0  # integer grid of the query embeddings at scoring time
# Prompts scored per block: the similarities are a (block x training prompts) float64
# matrix plus temporaries of that shape, ~64 kB per prompt with 8,000 training prompts,
# so all 14k MMLU prompts at once would need over 1 GB.
_SCORE_CHUNK = 256


class SWRankingRouter(Router):
    """Similarity-weighted Bradley-Terry between the strong and the weak tier."""

    name = "sw_ranking"

    def __init__(
        self,
        *,
        embedder: Embedder | str | None = None,
        gamma: float = 10.0,
        top_k: int | None = None,
        prior: float = 1.0,
        max_prompts: int | None = 8000,
        n_tiers: int = 10,
        min_tier_gap: int = 1,
        tier_mode: str = "any",
        label_norm: str = "none",
        strong_model: str | None = None,
        weak_model: str | None = None,
        seed: int = 0,
    ) -> None:
        """Create the router.

        Args:
            embedder: Prompt embedder (object or spec); None = package default.
            gamma: Base of the similarity weight (> 1; the paper uses 10).
            top_k: Only the k most similar training prompts vote (None = all).
            prior: Pseudo-battles at the global strong win rate (>= 0).
            max_prompts: Keep at most this many training prompts (those with the
                most battle weight; keeps the saved router small). None = all.
            n_tiers: Tiers to group models into.
            min_tier_gap: Minimum tier difference for a strong/weak label.
            tier_mode: "any" (any two tiers) or "pair" (the pair's tiers).
            label_norm: "none", or "source": replace each prompt's strong credit
                by its percentile rank within its source.
            strong_model: Strong model (used by tier_mode="pair").
            weak_model: Weak model (used by tier_mode="pair").
            seed: Tie-break seed for choosing prompts.
        """
        self.embedder = embedder
        self.gamma = gamma
        self.top_k = top_k
        self.prior = prior
        self.max_prompts = max_prompts
        self.n_tiers = n_tiers
        self.min_tier_gap = min_tier_gap
        self.tier_mode = tier_mode
        self.label_norm = label_norm
        self.strong_model = strong_model
        self.weak_model = weak_model
        self.seed = seed
        self.embeddings_: np.ndarray | None = None
        self.strong_mass_: FloatArray | None = None
        self.total_mass_: FloatArray | None = None
        self.base_rate_: float | None = None
        self._embedder: Embedder | None = None
        self._emb_t: np.ndarray | None = None

    def _validate(self) -> None:
        if not self.gamma > 1.0:
            raise ConfigError(f"gamma must be > 1, got {self.gamma!r}")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1 or None, got {self.top_k!r}")
        if self.prior < 0:
            raise ConfigError(f"prior must be >= 0, got {self.prior!r}")
        check_tier_mode(self.tier_mode)

    def _get_embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = resolve_embedder(self.embedder)
        return self._embedder

    def fit(self, battles: Sequence[Battle]) -> Self:
        """Pool strong/weak labelled battles per prompt and store prompt embeddings.

        Args:
            battles: Battles among any models.

        Returns:
            self.

        Raises:
            DataError: No battle between two tiers.
        """
        self._validate()
        labels = router_tier_labels(self, battles)
        total = labels.total
        strong = labels.strong_win + 0.5 * labels.tie
        order = np.arange(len(total))
        if self.max_prompts is not None and len(total) > self.max_prompts:
            rng = np.random.default_rng(self.seed)
            jitter = rng.random(len(total)) * 1e-9
            order = np.sort(
                np.argsort(-(total + jitter), kind="stable")[: self.max_prompts]
            )
        prompts = [labels.prompts[i] for i in order]
        emb = np.asarray(self._get_embedder().embed(prompts), dtype=np.float32)
        self.embeddings_ = np.clip(np.round(emb * _Q), -127, 127).astype(np.int8)
        self._emb_t = None
        # float32 precision, as saved, so a loaded router scores identically.
        self.strong_mass_ = strong[order].astype(np.float32).astype(np.float64)
        self.total_mass_ = total[order].astype(np.float32).astype(np.float64)
        self.base_rate_ = float(
            self.strong_mass_.sum() / max(self.total_mass_.sum(), 1e-12)
        )
        return self

    def score(self, prompts: Sequence[str]) -> FloatArray:
        """Weighted strong-tier win probability per prompt, shape (n,)."""
        self._check_fitted("embeddings_", "strong_mass_", "total_mass_", "base_rate_")
        assert self.embeddings_ is not None
        if len(prompts) == 0:
            return np.zeros(0)
        q = np.asarray(self._get_embedder().embed(list(prompts)), dtype=np.float32)
        if self._emb_t is None or self._emb_t.shape[1] != len(self.embeddings_):
            # Dequantised once: converting per call would cost more than the product.
            self._emb_t = np.ascontiguousarray(self.embeddings_.T, dtype=np.float32)
        # The query is put on an integer grid too, so every product and partial sum
        # below is an integer under 2**24 (384 * 127 * 256): float32 GEMM is then
        # exact in any summation order, and a prompt's score never depends on the
        # BLAS kernel its block size selects (they round differently on some CPUs).
        q = np.round(q * np.float32(_QQ))
        out: FloatArray = np.empty(len(q), dtype=np.float64)
        for start in range(0, len(q), _SCORE_CHUNK):
            stop = min(start + _SCORE_CHUNK, len(q))
            out[start:stop] = self._score_block(q[start:stop])
        return out

    def _score_block(self, q: np.ndarray) -> FloatArray:
        """Scores of a block of query embeddings, shape (len(q),); rows independent."""
        assert self._emb_t is not None and self.base_rate_ is not None
        assert self.strong_mass_ is not None and self.total_mass_ is not None
        sims = (q @ self._emb_t).astype(np.float64) / (_Q * _QQ)
        n_train = sims.shape[1]
        if self.top_k is not None and self.top_k < n_train:
            idx = np.argpartition(-sims, self.top_k - 1, axis=1)[:, : self.top_k]
            sims = np.take_along_axis(sims, idx, axis=1)
            strong = self.strong_mass_[idx]
            total = self.total_mass_[idx]
        else:
            strong = np.broadcast_to(self.strong_mass_, sims.shape)
            total = np.broadcast_to(self.total_mass_, sims.shape)
        max_sim = sims.max(axis=1, keepdims=True)
        max_sim = np.where(np.abs(max_sim) < 1e-12, 1e-12, max_sim)
        # Subtracting the largest exponent keeps the ratio and avoids overflow.
        log_w = np.log(self.gamma) * (sims / max_sim)
        w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        num = (w * strong).sum(axis=1)
        den = (w * total).sum(axis=1)
        p = (num + self.prior * self.base_rate_) / (den + self.prior)
        out: FloatArray = np.clip(p, 0.0, 1.0)
        return out

    def _save_state(self, directory: Path) -> None:
        self._check_fitted("embeddings_")
        assert self.embeddings_ is not None
        save_arrays(
            directory,
            embeddings=self.embeddings_,
            strong_mass=np.asarray(self.strong_mass_, dtype=np.float32),
            total_mass=np.asarray(self.total_mass_, dtype=np.float32),
            base_rate=np.array([self.base_rate_]),
        )

    def _load_state(self, directory: Path) -> None:
        arrays = load_arrays(directory)
        try:
            self.embeddings_ = arrays["embeddings"].astype(np.int8)
            self._emb_t = None
            self.strong_mass_ = arrays["strong_mass"].astype(np.float64)
            self.total_mass_ = arrays["total_mass"].astype(np.float64)
            self.base_rate_ = float(arrays["base_rate"][0])
        except KeyError as exc:
            raise ArtifactError(f"{str(directory)!r} lacks array {exc}") from exc
