"""`scoring_text`: a long routed text is scored on its start and end, with its whole
length, and scores as the whole text does."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from prefroute.gateway.request import ScoringText, scoring_text
from prefroute.routers.registry import load_router


def test_short_prompts_are_scored_whole() -> None:
    prompt = "x" * 100
    assert scoring_text(prompt, 100) is prompt
    assert scoring_text("y" * 10_000, 0) == "y" * 10_000


def test_cut_keeps_the_start_the_end_and_the_length() -> None:
    prompt = "START " + "middle " * 10_000 + " END"
    cut = scoring_text(prompt, 3000)
    assert isinstance(cut, ScoringText)
    assert len(cut) == len(prompt)
    assert len(str(cut)) == 3001  # 2000 + "\n" + 1000
    assert cut.startswith("START ")
    assert cut.endswith(" END")
    assert cut[-384:] == prompt[-384:]  # what the N-model router embeds
    assert pickle.loads(pickle.dumps(cut)) == cut
    assert len(pickle.loads(pickle.dumps(cut))) == len(prompt)


def _long_prompts() -> list[str]:
    rng = random.Random(0)
    words = [
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "for",
        "on",
        "that",
        "with",
        "prove",
        "code",
        "python",
        "error",
        "data",
    ]
    prose = " ".join(rng.choice(words) for _ in range(12_000))
    code = "Why does this fail?\n" + "x = compute(x) + 1\n" * 4_000 + "Please fix."
    return [prose, code]


@pytest.mark.parametrize("name", ["mf", "default"])
def test_cut_prompts_score_as_the_whole_prompts(name: str) -> None:
    # mf: embedding + log length; default: embedding heads + a length vote
    router = load_router(name)
    prompts = _long_prompts()
    assert all(len(p) > 40_000 for p in prompts)
    whole = np.asarray(router.score(prompts))
    cut = np.asarray(router.score([scoring_text(p, 24_576) for p in prompts]))
    np.testing.assert_allclose(cut, whole, rtol=0, atol=1e-9)
