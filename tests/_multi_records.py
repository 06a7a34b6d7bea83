"""Synthetic golden records for N-model tests: three models, two kinds of prompt.

`cheap` is right on chat, `mid` on math (and on half the chat), `dear` on nearly all:
a router that recognises the prompt kind can route chat to cheap and math to mid.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from prefroute.types import GoldenRecord

CHAT = "hello there friend number 3, how are you today"
MATH = "integrate the polynomial x^3 times exp of x carefully"


def three_model_records(
    n: int = 20, *, costs: Mapping[str, float] | None = None
) -> list[GoldenRecord]:
    """`n` chat and `n` math prompts (interleaved), seeded, optionally with costs.

    Args:
        n: Prompts of each kind.
        costs: Per-query cost of each model attached to every record, or None.

    Returns:
        2n records with tasks "chat" and "math".
    """
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        out.append(
            GoldenRecord(
                f"hello there friend number {i}, how are you today",
                {"cheap": 1.0, "mid": float(rng.random() < 0.5), "dear": 1.0},
                task="chat",
                costs=costs,
            )
        )
        out.append(
            GoldenRecord(
                f"integrate the polynomial x^{i} times exp of x carefully",
                {"cheap": 0.0, "mid": 1.0, "dear": float(rng.random() < 0.9)},
                task="math",
                costs=costs,
            )
        )
    return out
