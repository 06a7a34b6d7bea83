"""The random router: a baseline whose strong-call share tracks the threshold."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from prefroute.routers.base import Router
from prefroute.types import FloatArray

__all__ = ["RandomRouter"]


class RandomRouter(Router):
    """Scores each prompt uniformly at random in [0, 1).

    The score is a hash of (seed, prompt), so it is reproducible: the same prompt
    and seed always get the same score, and different seeds are independent.
    """

    name = "random"
    needs_fit = False

    def __init__(self, *, seed: int = 0) -> None:
        """Create the router.

        Args:
            seed: Seed mixed into every prompt's hash.
        """
        self.seed = seed

    def score(self, prompts: Sequence[str]) -> FloatArray:
        """Uniform pseudo-random scores, one per prompt, shape (n,)."""
        out = np.empty(len(prompts), dtype=np.float64)
        salt = str(self.seed).encode()
        for i, prompt in enumerate(prompts):
            digest = hashlib.blake2b(
                prompt.encode("utf-8", "surrogatepass"), digest_size=8, key=salt
            )
            out[i] = int.from_bytes(digest.digest(), "little") / 2.0**64
        return out
