"""Typed records shared across the package: battles, golden labels, benchmark sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "WINNERS",
    "Battle",
    "BenchmarkSet",
    "FloatArray",
    "GoldenRecord",
    "ModelPair",
    "Winner",
]

FloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
Winner: TypeAlias = Literal["a", "b", "tie", "tie_bothbad"]
WINNERS: tuple[Winner, ...] = ("a", "b", "tie", "tie_bothbad")


@dataclass(frozen=True, slots=True)
class Battle:
    """One pairwise comparison of two models' answers to a prompt.

    Attributes:
        prompt: The user prompt (first/last user turn as chosen by the loader).
        model_a: Name of the first model.
        model_b: Name of the second model.
        winner: "a", "b", "tie" or "tie_bothbad".
        source: Where the battle came from (e.g. "alpaca_eval", "routerbench").
        weight: Sample weight for training.
        p_a: Soft label: probability/credit that A beats B, in [0, 1]. None means
            derive it from `winner` (a=1, b=0, ties=0.5).
    """

    prompt: str
    model_a: str
    model_b: str
    winner: Winner
    source: str = ""
    weight: float = 1.0
    p_a: float | None = None

    @property
    def credit_a(self) -> float:
        """Credit of model A in [0, 1] (soft label if present, else from winner)."""
        if self.p_a is not None:
            return self.p_a
        return {"a": 1.0, "b": 0.0}.get(self.winner, 0.5)


@dataclass(frozen=True, slots=True)
class GoldenRecord:
    """Per-model answer quality on one prompt (benchmark "golden labels").

    Attributes:
        prompt: The prompt text.
        scores: Model name -> quality in [0, 1] (1 = correct).
        source: Source file or dataset name (e.g. "routerbench/mbpp_train").
        task: Task/benchmark name when known.
        costs: Model name -> cost in USD of answering this prompt, when known.
    """

    prompt: str
    scores: Mapping[str, float]
    source: str = ""
    task: str = ""
    costs: Mapping[str, float] | None = None


@dataclass(frozen=True, slots=True)
class ModelPair:
    """A strong (expensive) and a weak (cheap) model."""

    strong: str
    weak: str


@dataclass(frozen=True)
class BenchmarkSet:
    """An evaluation set with both models' per-prompt quality already computed.

    Attributes:
        name: Benchmark name ("mmlu", "mt-bench", "gsm8k").
        prompts: Prompts to route, shape (n,).
        strong_quality: Quality of the strong model per prompt, shape (n,).
        weak_quality: Quality of the weak model per prompt, shape (n,).
        pair: The model pair the qualities belong to.
        ids: Optional identifiers per prompt (question id, subject, ...).
    """

    name: str
    prompts: Sequence[str]
    strong_quality: FloatArray
    weak_quality: FloatArray
    pair: ModelPair
    ids: Sequence[str] = field(default_factory=list)

    def __len__(self) -> int:
        """Number of prompts."""
        return len(self.prompts)
