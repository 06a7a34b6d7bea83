"""Exploration: a share of routed requests goes to a model the policy did not pick.

A log of only the policy's own choices says nothing about what the other models
would have done on the same traffic; off-policy evaluation and adaptation need
some requests sent elsewhere, with the probability of that choice logged. With
share e and m candidate models, the policy's pick keeps probability 1 - e and
each other candidate gets e / (m - 1) (pair routers: m = 2, so e for the other
model).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from prefroute.errors import ConfigError

__all__ = ["ExplorationChoice", "Explorer"]


@dataclass(frozen=True, slots=True)
class ExplorationChoice:
    """Where one request goes after exploration.

    Attributes:
        model: The model to call.
        is_exploration: Whether `model` differs from the policy's pick.
        propensity: P(this choice | the request), in (0, 1].
    """

    model: str
    is_exploration: bool
    propensity: float


class Explorer:
    """Draws, per routed request, whether to send it to another candidate.

    Safe to share between threads and event loops (draws are serialised).
    """

    def __init__(self, share: float, *, seed: int | None = None) -> None:
        """Set the exploration share.

        Args:
            share: Probability of sending a routed request to a model other than
                the policy's pick, in [0, 1).
            seed: Seed of the draws (None: fresh entropy).

        Raises:
            ConfigError: If `share` is not in [0, 1).
        """
        if not (math.isfinite(share) and 0.0 <= share < 1.0):
            raise ConfigError(f"explore share must be in [0, 1), got {share!r}")
        import numpy as np

        self.share = share
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def choose(self, policy_model: str, candidates: Sequence[str]) -> ExplorationChoice:
        """The model for one request.

        Args:
            policy_model: The policy's pick.
            candidates: Every model the policy chose among (the pick included).

        Returns:
            The choice and its propensity (1.0 when nothing else could be picked).
        """
        others = [m for m in dict.fromkeys(candidates) if m != policy_model]
        if not others or self.share == 0.0:
            return ExplorationChoice(policy_model, False, 1.0)
        with self._lock:
            draw = float(self._rng.random())
            pick = int(self._rng.integers(len(others)))
        if draw < self.share:
            return ExplorationChoice(others[pick], True, self.share / len(others))
        return ExplorationChoice(policy_model, False, 1.0 - self.share)
