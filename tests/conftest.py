"""Shared fixtures: seeded tiny battles, prompts, a fake embedder, the data dir."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from prefroute.embed.hashing import HashingEmbedder
from prefroute.types import Battle

TEST_DATA = Path(__file__).parent / "data"

_HARD = [
    "Prove that there are infinitely many primes and formalise the proof in Lean.",
    "Write a Python function that parses a CSV file with quoted fields and escapes.",
    "Solve the integral of x^2 * exp(-x) from 0 to infinity step by step.",
    "Explain the CAP theorem and design a distributed key-value store around it.",
    "Debug this C++ segfault in a multithreaded lock-free queue implementation.",
    "Derive the backpropagation equations for a two-layer neural network.",
]
_EASY = [
    "Say hello to my friend Anna.",
    "What is the capital of France?",
    "Give me a synonym for happy.",
    "Tell me a short joke about cats.",
    "Translate 'good morning' into Spanish.",
    "What colour is the sky on a clear day?",
]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data directory; tests needing it skip only when it is absent."""
    value = os.environ.get("PREFROUTE_DATA_DIR")
    path = (
        Path(value)
        if value
        else Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture()
def fake_embedder() -> HashingEmbedder:
    """A deterministic model-free embedder."""
    return HashingEmbedder(dim=64)


@pytest.fixture()
def prompts() -> list[str]:
    """A mix of hard and easy prompts."""
    return _HARD + _EASY


@pytest.fixture()
def tiny_battles() -> list[Battle]:
    """Seeded battles: strong wins hard prompts, ties/loses easy ones, plus others."""
    rng = np.random.default_rng(0)
    battles: list[Battle] = []
    for _ in range(4):
        for p in _HARD:
            winner = "a" if rng.random() < 0.85 else "tie"
            battles.append(
                Battle(p, "strong-model", "weak-model", winner, source="test")
            )
            battles.append(Battle(p, "mid-model", "weak-model", "a", source="test"))
        for p in _EASY:
            winner = "b" if rng.random() < 0.5 else "tie"
            battles.append(
                Battle(p, "strong-model", "weak-model", winner, source="test")
            )
            battles.append(Battle(p, "strong-model", "mid-model", "tie", source="test"))
    return battles
